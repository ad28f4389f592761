"""Set-up shared by the Nomis harvester tests (tests/test_nomis_*.py).

``NomisCase`` holds one dataset's fixture answer and harvester: it reads the fixture with the
csv module (never through sendbench), cuts it into pages, parses a saved copy, and registers the
mocked Nomis answers (the LA list, the probe and each page, matched on their exact query
strings). ``refresh_from`` runs a refresh with ``--from`` a folder, as the CLI would.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import sqlite_utils
from conftest import FIXTURES, LAS_URL, REGIONS_URL, fixture_bytes, fixture_resolver
from responses import matchers

from sendbench.catalogue import load_catalogue
from sendbench.harvesters.base import HarvestContext
from sendbench.http import HttpClient
from sendbench.refresh import refresh_one

NOMIS = "https://www.nomisweb.co.uk/api/v01/dataset"
GEOGRAPHY = "2092957699,2092957699TYPE480,2092957699TYPE423"  # England, regions, upper-tier LAs


@dataclass
class NomisCase:
    module: ModuleType  # the harvester module, e.g. sendbench.harvesters.nomis.population
    dataset_id: str  # e.g. nomis_population
    nomis_id: str  # e.g. NM_2002_1

    @property
    def folder(self) -> Path:
        return FIXTURES / "nomis" / self.module.__name__.rsplit(".", 1)[-1]

    @property
    def data(self) -> Path:
        return self.folder / f"{self.nomis_id}.data.csv"

    @property
    def api(self) -> str:
        return f"{NOMIS}/{self.nomis_id}.data.csv"

    def rows(self) -> list[dict]:
        return list(csv.DictReader(io.StringIO(self.data.read_text(encoding="utf-8"))))

    def pages(self, size: int) -> list[bytes]:
        """The fixture answer cut into Nomis pages of ``size`` rows, each with the header."""
        header, *rows = self.data.read_text(encoding="utf-8").splitlines(keepends=True)
        return [(header + "".join(rows[i : i + size])).encode() for i in range(0, len(rows), size)]

    def harvester(self):
        catalogue = load_catalogue()
        return self.module.Harvester(catalogue.dataset(self.dataset_id), catalogue)

    def parse_text(self, tmp_path: Path, text: str, resolver=None):
        """Parse ``text`` saved as a local Nomis answer, as ``--from`` would find it."""
        path = tmp_path / f"{self.nomis_id}_saved.csv"
        path.write_text(text, encoding="utf-8")
        h = self.harvester()
        release = h.find_local(tmp_path)
        with HttpClient(tmp_path / "raw", offline=True) as http:
            files = {f.key: http.import_local(f.path, dataset=h.id) for f in release.files}
        return h.parse(files, release, HarvestContext(resolver=resolver or fixture_resolver()))

    def saved_folder(self, tmp_path: Path, filename: str) -> Path:
        """A ``--from`` folder with the fixture answer saved as ``filename`` and the LA list."""
        folder = tmp_path / "saved"
        folder.mkdir()
        shutil.copy(self.data, folder / filename)
        shutil.copytree(FIXTURES / "dfe" / "las", folder / "las")
        return folder


def add_las(rsps) -> None:
    rsps.get(LAS_URL, body=fixture_bytes("dfe", "las", "las.csv"), content_type="text/plain")
    rsps.get(REGIONS_URL, body=fixture_bytes("dfe", "las", "regions.csv"),
             content_type="text/plain")  # fmt: skip


def add_answer(rsps, case: NomisCase, query: dict, probe: tuple[str, bytes], select: str,
               bodies: list[bytes], size: int) -> None:  # fmt: skip
    """The probe (``probe`` = its select and body) and each page of ``query``."""
    probe_query = {**query, "select": probe[0], "RecordLimit": "1"}
    rsps.get(case.api, body=probe[1], content_type="text/csv",
             match=[matchers.query_param_matcher(probe_query)])  # fmt: skip
    for number, body in enumerate(bodies):
        page_query = {**query, "select": select, "RecordOffset": str(number * size)}
        kind = "text/html" if body.lstrip().startswith(b"<") else "text/csv"
        rsps.get(case.api, body=body, content_type=kind,
                 match=[matchers.query_param_matcher(page_query)])  # fmt: skip


def refresh_from(tmp_path: Path, dataset_id: str, folder: Path):
    """The result of refreshing ``dataset_id`` alone from ``folder``, as an optional dataset."""
    catalogue = load_catalogue()
    db = sqlite_utils.Database(tmp_path / "sendbench.db")
    with HttpClient(tmp_path / "raw", offline=True) as http:
        return refresh_one(db, catalogue, catalogue.dataset(dataset_id), http, from_dir=folder,
                           run_id="t", say=lambda *_: None, required=False)  # fmt: skip
