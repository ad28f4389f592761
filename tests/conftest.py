"""Shared test helpers: fixture paths, the real data folder, publishers mocked with responses."""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import sqlite_utils

from sendbench.areas import AreaResolver, build_areas
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


def run_refresh(tmp_path: Path, datasets=("dfe_areas", "dfe_ehcp"), from_dir: Path | None = None):
    """Refresh into tmp_path/db.sqlite with a client that never really sleeps.

    ``datasets=()`` refreshes every catalogue dataset.
    """
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


def fixture_resolver() -> AreaResolver:
    """The areas built from the LA list fixture (tests/fixtures/dfe/las), as a refresh has them."""

    def read(name):
        return pd.read_csv(FIXTURES / "dfe" / "las" / name, dtype=str, keep_default_na=False)

    areas, _, combinations = build_areas(read("las.csv"), read("regions.csv"))
    return AreaResolver(areas, combinations)


def ees_zip(members: dict[str, bytes]) -> bytes:
    """An EES "Download all data" zip: ``members`` maps paths (``data/x.csv``) to bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def ees_latest_release(slug: str, release_id: str, label: str, published: str) -> dict:
    """The EES content API's latest-release JSON, trimmed to the fields sendbench reads.

    Shape: ``GET /api/publications/{slug}/releases/latest`` (see tests/fixtures/dfe/ehcp/
    latest_release.json for a fuller copy and sendbench/harvesters/dfe/ees.py for the source).
    """
    return {
        "id": release_id,
        "title": label,
        "slug": label,
        "published": published,
        "latestRelease": True,
        "publication": {"slug": slug},
        "downloadFiles": [],
    }


def add_ees_release(
    rsps, slug: str, release_id: str, label: str, zip_body: bytes, published="2025-06-26T09:30:00"
) -> tuple[str, str]:
    """Register an EES publication's latest release and its zip; return (latest URL, zip URL)."""
    latest = f"{CONTENT_API}/publications/{slug}/releases/latest"
    zip_url = f"{CONTENT_API}/releases/{release_id}/files"
    rsps.get(latest, json=ees_latest_release(slug, release_id, label, published))
    rsps.get(zip_url, body=zip_body, content_type="application/octet-stream")
    return latest, zip_url
