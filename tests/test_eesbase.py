"""The shared EES harvester on a small made-up publication: layouts, renames, series, flags.

The dataset modules' own tests run it on real published layouts; these tests pin the generic
behaviour every one of them relies on, with files written here so each case is visible.
"""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import ees_zip, fixture_resolver

from sendbench.catalogue import Catalogue, Dataset, Indicator
from sendbench.errors import HarvestError, LayoutError
from sendbench.harvesters.base import HarvestContext, MissingLocalFiles, Release
from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout
from sendbench.http import HttpClient

GEO = "time_period,time_identifier,geographic_level,country_code,country_name,region_code,"
GEO += "region_name,new_la_code,old_la_code,la_name"
NEW = f"{GEO},sen_status,version,pupils,excluded,excl_rate\r\n"
OLD = f"{GEO},sen_provision,num_pupils,excl_rate\r\n"


def england(period, *rest):
    return f"{period},Academic year,National,E92000001,England,,,,,," + ",".join(rest) + "\r\n"


def la(period, code, dfe, name, *rest):
    return (
        f"{period},Academic year,Local authority,E92000001,England,E12000003,Yorkshire and The "
        f"Humber,{code},{dfe},{name}," + ",".join(rest) + "\r\n"
    )


class Toy(EesHarvester):
    data_files = (
        DataFile(
            key="excl",
            patterns=("toy_excl_la_*.csv",),
            series=True,
            layouts=(
                Layout.of("2024", "sen_status version pupils excluded excl_rate"),
                Layout.of(
                    "2019",
                    "sen_provision num_pupils excl_rate",
                    renames={"sen_provision": "sen_status", "num_pupils": "pupils"},
                ),
            ),
        ),
    )


def toy() -> Toy:
    dataset = Dataset(
        id="toy",
        title="Toy exclusions",
        publisher="DfE",
        landing_page="https://example.invalid/toy",
        licence="OGL",
        harvester="dfe.toy",
        cadence="annual",
        release={"method": "ees_content_api", "publication_slug": "toy"},
        files=("toy_*.zip",),
    )
    rate = Indicator(
        id="toy_excl_rate_ehcp",
        title="Exclusion rate, EHC plan",
        definition="d",
        dataset="toy",
        file="excl",
        column="excl_rate",
        unit="percent",
        polarity="lower_is_better",
        outcomes=("safe_from_harm",),
        filter={"sen_status": "EHC plan"},
        denominator="pupils",
    )
    return Toy(dataset, Catalogue(outcomes=(), datasets=(dataset,), indicators=(rate,)))


def parse(tmp_path, files: dict[str, bytes]):
    harvester = toy()
    with HttpClient(tmp_path / "raw", offline=True) as http:
        raws = {}
        for name, data in files.items():
            path = tmp_path / name
            path.write_bytes(data)
            key = "release" if name.endswith(".zip") else f"excl@{name}"
            raws[key] = http.import_local(path, dataset="toy")
    release = Release(label="2024", files=[])
    return harvester.parse(raws, release, HarvestContext(resolver=fixture_resolver()))


def obs(parsed) -> dict[tuple[str, str], tuple]:
    frame = parsed.observations
    return {  # a missing flag is NULL in the database, whether pandas holds None or NaN
        (r.area_code, r.period): (
            r.value,
            r.denominator,
            r.status,
            None if pd.isna(r.flag) else r.flag,
            r.source_area_code,
        )
        for r in frame.itertuples()
    }


def test_old_layout_is_renamed_and_later_file_wins(tmp_path):
    old = (
        OLD
        + england("201819", "EHC plan", "1000", "0.5")
        + la("201819", "E10000023", "815", "North Yorkshire", "EHC plan", "90", "c")
    )
    old += la("202223", "E10000023", "815", "North Yorkshire", "EHC plan", "95", "0.2")
    new = NEW + england("202223", "EHC plan", "Revised", "1200", "9", "0.75")
    new += la(
        "202223", "E06000065", "815", "North Yorkshire", "EHC plan", "Final", "99", "1", "1.01"
    )
    new += england("202223", "SEN support", "Revised", "9000", "9", "0.1")
    parsed = parse(
        tmp_path, {"toy_excl_la_2019.csv": old.encode(), "toy_excl_la_2023.csv": new.encode()}
    )
    got = obs(parsed)
    assert got[("E92000001", "2018/19")] == (0.5, 1000.0, None, None, "E92000001")
    # The county's symbol is kept as a symbol, filed under the current code.
    value, denominator, status, flag, source = got[("E06000065", "2018/19")]
    assert (status, source, denominator) == ("c", "E10000023", 90.0) and value != value
    # 2022/23 comes in both files; the later file's value and flag are kept, and that is noted.
    assert got[("E06000065", "2022/23")] == (1.01, 99.0, None, "final", "E06000065")
    assert got[("E92000001", "2022/23")] == (0.75, 1200.0, None, "revised", "E92000001")
    assert len(parsed.observations) == 4
    assert any("given again by a later file" in note for note in parsed.notes)
    assert set(parsed.raw_tables) == {"raw_toy_toy_excl_la_2019", "raw_toy_toy_excl_la_2023"}
    assert list(parsed.raw_tables["raw_toy_toy_excl_la_2019"]["sen_status"]) == ["EHC plan"] * 3


def test_unknown_layout_lists_missing_and_unexpected_columns(tmp_path):
    bad = f"{GEO},sen_status,version,pupils,exclusion_rate\r\n"
    bad += england("202223", "EHC plan", "Final", "10", "1.0")
    with pytest.raises(LayoutError) as caught:
        parse(tmp_path, {"toy_excl_la_2023.csv": bad.encode()})
    message = str(caught.value)
    assert "toy" in message and "toy_excl_la_2023.csv" in message
    assert "excl_rate" in message and "exclusion_rate" in message


def test_zip_members_found_by_pattern_and_unknown_files_kept_raw(tmp_path):
    new = NEW + england("202324", "EHC plan", "Provisional", "1300", "10", "0.8")
    archive = ees_zip(
        {
            "data/toy_excl_la_2024.csv": new.encode(),
            "data/something_else.csv": b"a,b\r\n1,2\r\n",
            "supporting-files/toy_excl_la_2024.csv": b"not,this\r\n",
        }
    )
    parsed = parse(tmp_path, {"toy_2024.zip": archive})
    assert obs(parsed)[("E92000001", "2023/24")][3] == "provisional"
    assert "raw_toy_something_else" in parsed.raw_tables
    assert any("something_else.csv" in note for note in parsed.notes)


def test_release_without_the_file_is_refused(tmp_path):
    archive = ees_zip({"data/other.csv": b"a\r\n1\r\n"})
    with pytest.raises(HarvestError, match="the release has no file for excl"):
        parse(tmp_path, {"toy_2024.zip": archive})


def test_find_local_prefers_the_zip_else_every_file_of_a_series(tmp_path):
    harvester = toy()
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "TOY_EXCL_LA_2019.csv").write_text(OLD)
    (tmp_path / "toy_excl_la_2023.csv").write_text(NEW)
    release = harvester.find_local(tmp_path)
    assert [f.filename for f in release.files] == ["TOY_EXCL_LA_2019.csv", "toy_excl_la_2023.csv"]
    assert [f.key for f in release.files] == [
        "excl@TOY_EXCL_LA_2019.csv",
        "excl@toy_excl_la_2023.csv",
    ]
    assert release.label == "2023"
    (tmp_path / "toy_2024.zip").write_bytes(ees_zip({"data/toy_excl_la_2024.csv": b""}))
    release = harvester.find_local(tmp_path)
    assert [(f.key, f.filename) for f in release.files] == [("release", "toy_2024.zip")]


def test_find_local_without_files_is_missing_not_failed(tmp_path):
    with pytest.raises(MissingLocalFiles, match="toy_excl_la_"):
        toy().find_local(tmp_path)


def test_big_unknown_files_stay_in_the_zip(tmp_path, monkeypatch):
    monkeypatch.setattr("sendbench.harvesters.dfe.eesbase.UNKNOWN_RAW_LIMIT", 10)
    new = NEW + england("202324", "EHC plan", "Final", "1300", "10", "0.8")
    archive = ees_zip(
        {"data/toy_excl_la_2024.csv": new.encode(), "data/school_level.csv": b"a,b\r\n1,22\r\n"}
    )
    parsed = parse(tmp_path, {"toy_2024.zip": archive})
    assert "raw_toy_school_level" not in parsed.raw_tables
    assert any("school_level.csv" in n and "downloaded zip only" in n for n in parsed.notes)
    assert "raw_toy_toy_excl_la_2024" in parsed.raw_tables  # a known file is read whatever its size
