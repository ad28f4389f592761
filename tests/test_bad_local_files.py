"""Files under a --from folder that are not what their names say: an empty file, a web page
saved under a zip's or workbook's name, a UTF-16 CSV. Each is refused naming what it is and the
file under the folder, and the dataset's last good data stays."""

from __future__ import annotations

import io
import shutil
import zipfile

import pytest
from conftest import FIXTURES, ehcp_zip, run_refresh

from sendbench.http import sniff_bytes

EHCP_NAME = "education-health-and-care-plans_2025.zip"
HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Sign in</body></html>"


def folder_with(tmp_path, name: str, body: bytes):
    folder = tmp_path / "from"
    folder.mkdir(exist_ok=True)
    for lookup in ("las.csv", "regions.csv"):
        shutil.copy(FIXTURES / "dfe" / "las" / lookup, folder / lookup)
    (folder / name).write_bytes(body)
    return folder


def count(db, dataset: str) -> int:
    return db.execute(
        "select count(*) from observations where dataset_id = ?", [dataset]
    ).fetchone()[0]


@pytest.mark.parametrize(
    ("body", "said"),
    [(b"", "is an empty file (0 bytes)"), (HTML, "is an HTML page")],
)
def test_a_zip_that_is_not_a_zip_says_what_it_is_and_which_file(tmp_path, body, said):
    db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_ehcp"],
                              from_dir=folder_with(tmp_path, EHCP_NAME, ehcp_zip()))  # fmt: skip
    held = count(db, "dfe_ehcp")
    assert held > 0
    shutil.rmtree(tmp_path / "from")
    folder = folder_with(tmp_path, EHCP_NAME, body)
    db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_ehcp"], from_dir=folder)
    result = results["dfe_ehcp"]
    assert result.status == "failed"
    assert f"{EHCP_NAME} {said}, not the published file" in result.error
    assert f"the file {folder / EHCP_NAME} is the problem" in result.error
    assert "raw store" not in result.error
    assert results["dfe_areas"].status in ("loaded", "unchanged")
    assert count(db, "dfe_ehcp") == held


def test_a_web_page_saved_as_a_workbook_says_so(tmp_path):
    name = "community_health_2023-11-01.xlsx"
    db, results = run_refresh(tmp_path, ["dfe_areas", "nhse_community_health"],
                              from_dir=folder_with(tmp_path, name, HTML))  # fmt: skip
    error = results["nhse_community_health"].error
    assert f"{name} is an HTML page, not the published file" in error


def test_a_utf16_csv_in_a_release_zip_names_the_encoding(tmp_path):
    text = (FIXTURES / "dfe" / "ehcp" / "data" / "caseload.csv").read_text(encoding="utf-8-sig")
    body = ehcp_zip(replace={"caseload.csv": text.encode("utf-16")})
    db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_ehcp"],
                              from_dir=folder_with(tmp_path, EHCP_NAME, body))  # fmt: skip
    error = results["dfe_ehcp"].error
    assert "caseload.csv is UTF-16 text (it starts with a UTF-16 byte-order mark)" in error
    assert "Error tokenizing" not in error


def test_sniffing_tells_data_from_what_is_not():
    assert sniff_bytes(b"time_period,geographic_level\r\n202425,National\r\n") is None
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a.csv", "a\n1\n")
    assert sniff_bytes(buffer.getvalue()[:4096]) is None
    assert sniff_bytes(b"\x1f\x8b\x08\x00") is None
    assert sniff_bytes("a,b\n1,2\n".encode("utf-16-le")) == "UTF-16 text (every other byte is zero)"
    assert sniff_bytes(b"  \r\n<html><body>x</body></html>") == "an HTML page"
    assert sniff_bytes((FIXTURES / "dfe" / "lait" / "bds_long_0.parquet").read_bytes()) is None
    assert sniff_bytes(b"PAR1" + b"\x00" * 4000) is None  # Parquet full of zeros is still data
    assert sniff_bytes(b"\x00\x01\x00\x00" * 100) is None  # binary, not every other byte zero
