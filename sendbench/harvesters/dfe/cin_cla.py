"""DfE: children in need and children looked after by LA, with rates per 10,000 children.

- Publisher: Department for Education. Two EES publications, read together as the social care
  context the SEND outcomes frameworks put beside SEND:
  "Characteristics of children in need" (CIN census; landing page
  https://explore-education-statistics.service.gov.uk/find-statistics/characteristics-of-children-in-need)
  and "Children looked after in England including adoptions" (SSDA903 return;
  https://explore-education-statistics.service.gov.uk/find-statistics/children-looked-after-in-england-including-adoptions).
- Cadence: both annual, for the year ending 31 March (CIN in October or November, CLA in
  November).
- Latest release: the EES content API (``ees.latest_release``) for each publication; both
  "Download all data" zips are fetched (keys ``release@cin`` and ``release@cla``) and their
  data files read by name. The release label is the later of the two slugs.
- Local files (``--from DIR``): the two release zips by their published names, else the data
  files as saved in ../shared/data/dfe/children-in-need (from DfE's
  dfe-analytical-services/CSC_outcomes_and_enablers ``data-raw/``):
  ``b1_children_in_need_2013_to_2025.csv`` and ``cla_number_and_rate_per_10k_children.csv``.

Files read (``DATA_FILES``; the zips' other data files are kept raw):
- ``b1_children_in_need_<years>.csv``: one row per year (2013 onwards) and area, ``category`` =
  ``Children in Need``; counts of episodes and children at any point in the year, starting,
  ending, at 31 March, and awaiting assessment. The 2013-2025 file has no rate column; older
  editions (2013-2023, as read by DfE's CSC dashboard, ``read_cin_rate_data`` in
  CSC_outcomes_and_enablers ``R/read_data.R``) carried ``At31_episodes_rate``.
- ``cla_number_and_rate_per_10k_children.csv``: 2021 onwards, one row per year, area and
  ``population_type`` (looked after on 31 March, starting, ceasing), with ``children_count``,
  ``rate_per_10000`` and ``population_estimate`` (the ONS mid-year estimate of children under 18
  that DfE divides by).

The CIN rate per 10,000 is derived here, as DfE's own CSC dashboard derives it for the 2013-2025
file (``At31_episodes`` / ONS mid-year population × 10,000, population of the previous mid-year;
``tests/test_automation.R`` there): the denominator is the CLA file's ``population_estimate`` for
the same year and area, the same estimate DfE uses for the CLA rate. Years before the CLA file
(2013-2020) have the count but no rate. A suppressed count gives a suppressed rate.

Quirks: LA names with commas are quoted (``"Herefordshire, County of"``); Inner London LAs carry
region code ``E13000001``. Cumbria and Northamptonshire keep rows after their abolition with
``x`` population and ``z`` counts (kept under their own codes). Symbols: ``c`` suppressed, ``x``
not available, ``u`` low data quality (Hampshire 2024), ``z`` not applicable. The CLA file has a
BOM, the CIN file does not.
"""

from __future__ import annotations

from pathlib import Path

from sendbench.errors import HarvestError
from sendbench.harvesters.base import FileRef, HarvestContext, Parsed, Release
from sendbench.harvesters.dfe import ees
from sendbench.harvesters.dfe.eesbase import (
    SERIES_SEPARATOR,
    DataFile,
    EesHarvester,
    Layout,
    matching_files,
)
from sendbench.harvesters.dfe.eesfiles import add_derived
from sendbench.http import HttpClient, RawFile

_CIN = """
    category Anypoint_episodes Anypoint_child Started_episodes Started_child Ended_episodes
    Ended_child At31_episodes awaiting_assessment
"""
DATA_FILES = (
    DataFile(
        key="cin_la",
        patterns=("b1_children_in_need_*.csv",),
        layouts=(
            Layout.of("2013-2023 (with rate)", f"{_CIN} At31_episodes_rate"),
            Layout.of("2013-2025", _CIN),
        ),
    ),
    DataFile(
        key="cla_la",
        patterns=("cla_number_and_rate_per_10k_children*.csv",),
        layouts=(
            Layout.of(
                "2021-2025", "population_type population_estimate children_count rate_per_10000"
            ),
        ),
    ),
)
# Indicators computed from two others: id -> (numerator indicator, denominator indicator, scale).
DERIVED = {"cin_rate_per_10000": ("cin_count_31_march", "child_population_0_17", 10_000)}
RELEASE_KEY = "release"


class Harvester(EesHarvester):
    """Children in need and looked after: counts, DfE's CLA rates and the derived CIN rate."""

    data_files = DATA_FILES
    require_observations = True

    def indicators(self):
        """The indicators read from a column; derived ones are computed after (``DERIVED``)."""
        return [ind for ind in super().indicators() if ind.id not in DERIVED]

    def derived_indicators(self):
        return [ind for ind in super().indicators() if ind.id in DERIVED]

    def find_release(self, http: HttpClient) -> Release:
        slugs = self.dataset.release["publication_slugs"]
        refs, labels, published = [], [], []
        for short, slug in slugs.items():
            release = ees.latest_release(http, slug, dataset=self.id)
            ref = release.files[0]
            refs.append(FileRef(f"{RELEASE_KEY}{SERIES_SEPARATOR}{short}", ref.filename,
                                url=ref.url, expect=ref.expect))  # fmt: skip
            labels.append(release.label)
            published += [release.published] if release.published else []
        return Release(label=max(labels), files=refs, published=max(published, default=None),
                       url=self.dataset.landing_page)  # fmt: skip

    def find_local(self, directory: Path) -> Release:
        """Both release zips if present; else the data files (each publication either way)."""
        directory = Path(directory)
        zips = [
            p for pattern in self.dataset.files for p in matching_files(directory, [pattern])[-1:]
        ]
        if directory.is_dir() and len(zips) == len(self.dataset.files):
            refs = [
                FileRef(f"{RELEASE_KEY}{SERIES_SEPARATOR}{i}", p.name, path=p)
                for i, p in enumerate(zips)
            ]
            return Release(label=self.local_release_label(refs), files=refs)
        return super().find_local(directory)

    def _read_all(self, files: dict[str, RawFile], parsed: Parsed):
        zips = {k: v for k, v in files.items() if k.split(SERIES_SEPARATOR)[0] == RELEASE_KEY}
        if not zips or RELEASE_KEY in files:
            return super()._read_all(files, parsed)
        tables = [t for raw in zips.values() for t in self._read_zip(raw, parsed)]
        read = {t.datafile.key for t in tables}
        missing = [d.key for d in self.data_files if d.required and d.key not in read]
        if missing:
            names = ", ".join(t.name for t in tables) or "none"
            source = next(iter(zips.values())).source
            message = f"the releases have no file for {', '.join(missing)} (they have {names})"
            raise HarvestError(self.id, message, source)
        return tables

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        parsed = super().parse(files, release, context)
        add_derived(parsed, DERIVED, {ind.id for ind in self.derived_indicators()})
        return parsed
