"""DfE: the local authority and region lists that build the ``areas`` table.

- Publisher: Department for Education, in its published-data QA tool (the lists EES checks every
  statistics file against): https://github.com/dfe-analytical-services/dfe-published-data-qa
- Files: ``data/las.csv`` (ONS code, name, start/end dates, region, DfE 3-digit code, status) and
  ``data/regions.csv``; fetched from the repository's raw file URLs in the catalogue.
- Cadence: changes when LA codes change (reorganisations, boundary changes).
- Local files: ``las.csv`` / ``regions.csv``, or the ``dfe_qa_`` copies in ../shared/data/lookups.

Quirks: rows that join two LAs (``E06000061 / E06000062``) and quoted names with commas; the
successor links for mergers and splits are not in the file (see ``sendbench.areas``).
"""

from __future__ import annotations

import pandas as pd

from sendbench.areas import build_areas
from sendbench.harvesters.base import BaseHarvester, FileRef, HarvestContext, Parsed, Release
from sendbench.harvesters.dfe.ees import read_ees_csv
from sendbench.http import HttpClient, RawFile


class Harvester(BaseHarvester):
    """Areas: England, the nine regions and every LA code DfE has used since 2009."""

    local_files = {
        "las": ("las.csv", "dfe_qa_las.csv"),
        "regions": ("regions.csv", "dfe_qa_regions.csv"),
    }

    def find_release(self, http: HttpClient) -> Release:
        urls = self.dataset.release["urls"]
        refs = [
            FileRef(key=key, filename=f"{key}.csv", url=urls[key], expect="csv")
            for key in self.local_files
        ]
        return Release(label="current", files=refs, url=self.dataset.landing_page)

    def local_release_label(self, refs: list[FileRef]) -> str:
        return "current"

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        las = _read(files["las"], self.id)
        regions = _read(files["regions"], self.id)
        areas, links, combinations = build_areas(
            las, regions, dataset=self.id, source=files["las"].source
        )
        parsed = Parsed(
            raw_tables={f"raw_{self.id}_las": las, f"raw_{self.id}_regions": regions},
            tables={"areas": areas, "area_links": links, "area_combinations": combinations},
            # Only the area types this list gives are replaced: NHS geographies (sub-ICB, ICB)
            # loaded by other datasets stay.
            replace_by={"areas": "area_type"},
        )
        parsed.notes.append(
            f"{int((areas['area_type'] == 'la').sum())} LA codes, "
            f"{int((areas['area_type'] == 'region').sum())} regions, {len(links)} successor links"
        )
        return parsed


def _read(raw: RawFile, dataset: str) -> pd.DataFrame:
    frame, _ = read_ees_csv(
        raw.path.read_bytes(), dataset=dataset, file=raw.filename, source=raw.source
    )
    return frame
