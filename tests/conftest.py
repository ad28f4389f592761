"""Shared test helpers: fixture paths, the real data folder, publishers mocked with responses."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from pathlib import Path

import pytest
import sqlite_utils

from sendbench.catalogue import load_catalogue
from sendbench.http import HttpClient
from sendbench.refresh import refresh

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EHCP_ZIP = SHARED_DATA / "dfe" / "ehcp" / "education-health-and-care-plans_2025.zip"

CONTENT_API = "https://content.explore-education-statistics.service.gov.uk/api"
RELEASE_ID = "2e60aacd-d46c-416a-af4d-9d2269506ff6"
LATEST_URL = f"{CONTENT_API}/publications/education-health-and-care-plans/releases/latest"
ZIP_URL = f"{CONTENT_API}/releases/{RELEASE_ID}/files"
QA = "https://raw.githubusercontent.com/dfe-analytical-services/dfe-published-data-qa/main/data"
LAS_URL = f"{QA}/las.csv"
REGIONS_URL = f"{QA}/regions.csv"

needs_shared_data = pytest.mark.skipif(
    not EHCP_ZIP.exists(), reason=f"the real published files are not at {SHARED_DATA}"
)


def fixture_bytes(*parts: str) -> bytes:
    return FIXTURES.joinpath(*parts).read_bytes()


def ehcp_fixture_rows(file: str) -> list[dict]:
    """The rows of one EHC plans fixture CSV, read with the csv module (not sendbench)."""
    text = (FIXTURES / "dfe" / "ehcp" / "data" / file).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def ehcp_zip(replace: dict[str, bytes] | None = None) -> bytes:
    """The EHC plans fixture laid out as the EES 'Download all data' zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((FIXTURES / "dfe" / "ehcp" / "data").glob("*.csv")):
            data = (replace or {}).get(path.name, path.read_bytes())
            zf.writestr(f"data/{path.name}", data)
        zf.writestr("data-guidance/data-guidance.txt", "Education, health and care plans\n")
    return buffer.getvalue()


def add_publishers(rsps, *, zip_body: bytes | None = None, las_body: bytes | None = None) -> None:
    """Register the LA list, the EES latest-release JSON and the release zip."""
    rsps.get(
        LAS_URL,
        body=las_body or fixture_bytes("dfe", "las", "las.csv"),
        headers={"ETag": '"las-1"'},
        content_type="text/plain",
    )
    rsps.get(
        REGIONS_URL,
        body=fixture_bytes("dfe", "las", "regions.csv"),
        headers={"ETag": '"regions-1"'},
        content_type="text/plain",
    )
    rsps.get(
        LATEST_URL,
        body=fixture_bytes("dfe", "ehcp", "latest_release.json"),
        content_type="application/json",
    )
    rsps.get(
        ZIP_URL,
        body=zip_body if zip_body is not None else ehcp_zip(),
        content_type="application/octet-stream",
        headers={
            "Last-Modified": "Thu, 26 Jun 2025 09:30:00 GMT",
            "Content-Disposition": f'attachment; filename="{EHCP_ZIP.name}"',
        },
    )


def run_refresh(tmp_path: Path, datasets=(), from_dir: Path | None = None):
    """Refresh into tmp_path/db.sqlite with a client that never really sleeps."""
    db = sqlite_utils.Database(tmp_path / "sendbench.db")
    http = HttpClient(tmp_path / "raw", sleep=lambda seconds: None, offline=from_dir is not None)
    with http:
        results = refresh(db, load_catalogue(), http, dataset_ids=list(datasets), from_dir=from_dir)
    return db, {r.dataset_id: r for r in results}


def snapshot(db: sqlite_utils.Database, dataset_id: str) -> str:
    """A digest of everything a dataset owns: its observations and its raw tables."""
    digest = hashlib.sha256()
    rows = db.execute(
        "select * from observations where dataset_id = ? "
        "order by indicator_id, area_code, period, breakdown",
        [dataset_id],
    )
    for row in rows:
        digest.update(repr(row).encode())
    for table in sorted(t for t in db.table_names() if t.startswith(f"raw_{dataset_id}_")):
        digest.update(table.encode())
        for row in db.execute(f"select * from [{table}] order by rowid"):
            digest.update(repr(row).encode())
    return digest.hexdigest()
