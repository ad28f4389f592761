"""The LA list harvester: its files found locally and over HTTP, parsed into the areas tables."""

from __future__ import annotations

from conftest import FIXTURES, LAS_URL, REGIONS_URL, SHARED_DATA, needs_shared_data

from sendbench.catalogue import load_catalogue
from sendbench.harvesters.base import HarvestContext
from sendbench.harvesters.dfe.las import Harvester
from sendbench.http import HttpClient


def harvester() -> Harvester:
    catalogue = load_catalogue()
    return Harvester(catalogue.dataset("dfe_areas"), catalogue)


def test_release_urls_come_from_the_catalogue():
    release = harvester().find_release(http=None)
    assert [(f.key, f.url, f.expect) for f in release.files] == [
        ("las", LAS_URL, "csv"),
        ("regions", REGIONS_URL, "csv"),
    ]


def test_local_files_found_and_parsed(tmp_path):
    h = harvester()
    release = h.find_local(FIXTURES / "dfe" / "las")
    with HttpClient(tmp_path, offline=True) as http:
        files = {f.key: http.import_local(f.path, dataset=h.id) for f in release.files}
    parsed = h.parse(files, release, HarvestContext())
    areas = parsed.tables["areas"].set_index("area_code")
    assert areas.loc["E06000051", "dfe_code"] == "893"
    assert areas.loc["E10000023", "current_code"] == "E06000065"
    assert set(parsed.tables["area_combinations"]["member_code"]) >= {"E06000061", "E06000062"}
    fixture_rows = (FIXTURES / "dfe" / "las" / "las.csv").read_text().count("\n") - 1
    assert len(parsed.raw_tables["raw_dfe_areas_las"]) == fixture_rows


@needs_shared_data
def test_shared_data_copies_are_found_by_their_names():
    release = harvester().find_local(SHARED_DATA)
    assert sorted(f.filename for f in release.files) == ["dfe_qa_las.csv", "dfe_qa_regions.csv"]
