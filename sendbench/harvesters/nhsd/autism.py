"""NHS Digital: Autism Statistics (waits for an autism assessment), by sub-ICB location.

- Publisher: NHS Digital (now NHS England). Publication: "Autism Statistics", from the Mental
  Health Services Data Set (MHSDS): referrals for a suspected autism assessment, how long they
  have been open, first appointments and diagnoses.
- Landing page: https://digital.nhs.uk/data-and-information/publications/statistical/autism-statistics
  (editions are sub-pages such as ``…/autism-statistics/july-2021-to-june-2022``, the names a
  public analysis repository, gabrieltld/psy6422-modproj, cites).
- Cadence: quarterly.
- Latest release: found as for MHSDS (``nhsd.mhsds``, the same site): the first edition link on
  the landing page, then on the edition page the link to files.digital.nhs.uk whose name says
  ``AutismStats`` and ``subICB`` (csv or zip), else any ``AutismStats`` csv/zip. The live pages
  were not fetched while writing this (no network); the fixtures imitate the MHSDS pages'
  structure.
- Local files (``--from DIR``): ``AutismStats*.csv.gz``, ``.csv`` or ``.zip``
  (``../shared/data/nhsd/autism/AutismStatsDec22_subICB.csv.gz``, as the DfE SEND and AP
  dashboard repository commits it). The release is labelled by the edition in the name
  (``Dec22`` → ``2022-12``).

Layout: the MHSDS long layout with ``METRIC``, ``METRIC_DESCRIPTION`` and ``METRIC_VALUE`` for
``MEASURE_ID``, ``MEASURE_NAME`` and ``MEASURE_VALUE``; they are renamed and the file is read by
the MHSDS code (geographies, periods, symbols, flags). A file with other columns fails with the
missing and unexpected ones listed.

Quirks (the December 2022 file: 163,699 rows, 52 metrics, July to September 2022):
- One geography, ``CCG or Sub ICB Location - GP Practice or Residence`` (sub-ICB locations,
  ``sub_icb:00L``, as MHSDS files them), plus the same ``; Age Group`` (kept raw only). No
  England, region or ICB rows.
- ``STATUS`` is ``Latest Available Data`` (no flag). ``*`` is suppression, as in MHSDS.
- One row has the period 01/07/2022 to 01/07/2022 (a one-day period; kept as published, labelled
  ``2022-07 to 2022-07``).
- The children's measures are the ``0 to 17`` ones (ASD11a, ASD16b, ASD16c, ASD18c, ASD19c,
  ASD21a); the all-ages and adult measures stay in the raw table.
- NHS geography only: no LA figures (the sub-ICB to LA mapping is a separate piece of work).
"""

from __future__ import annotations

import re

import pandas as pd

from sendbench.harvesters.base import FileRef
from sendbench.harvesters.nhsd import mhsds
from sendbench.http import RawFile

RENAMED = {"METRIC": "MEASURE_ID", "METRIC_DESCRIPTION": "MEASURE_NAME",
           "METRIC_VALUE": "MEASURE_VALUE"}  # fmt: skip
# As published: a file that differs fails naming the columns it has, not sendbench's names.
LAYOUTS = {
    "autism-long-11": [
        {v: k for k, v in RENAMED.items()}.get(c, c) for c in mhsds.LAYOUTS["long-11"]
    ],
}
SUB_ICB_FILE = re.compile(r"autism\s*stats.*sub[\s_-]*icb", re.IGNORECASE)
ANY_FILE = re.compile(r"autism\s*stats", re.IGNORECASE)
_EDITION = re.compile(r"AutismStats[_\s-]*([A-Za-z]{3})[a-z]*[_\s-]*(\d{2}|\d{4})(?!\d)", re.I)


class Harvester(mhsds.Harvester):
    """Autism statistics: the MHSDS reader with the publication's own column names."""

    layouts = LAYOUTS
    edition_files = (SUB_ICB_FILE, ANY_FILE)
    what = "AutismStats csv/zip"

    def read(self, raw: RawFile) -> tuple[pd.DataFrame, str]:
        frame = mhsds.read_file(raw, self.id)
        layout = mhsds.match_layout(frame.columns, self.id, raw, self.layouts)
        return frame.rename(columns=lambda c: RENAMED.get(c.strip(), c.strip())), layout

    def local_release_label(self, refs: list[FileRef]) -> str:
        return edition_label(refs[0].filename) or "local"


def edition_label(name: str) -> str | None:
    """``AutismStatsDec22_subICB.csv.gz`` → ``2022-12``: the edition named in the file."""
    found = _EDITION.search(name)
    if not found or found.group(1).lower() not in mhsds.MONTHS:
        return None
    year = found.group(2)
    year = f"20{year}" if len(year) == 2 else year
    return f"{year}-{mhsds.MONTHS.index(found.group(1).lower()) + 1:02d}"
