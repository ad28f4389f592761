"""DfE: alternative provision (AP) by LA: the AP census and school-arranged AP, by SEN status.

- Publisher: Department for Education. Publication: "Schools, pupils and their characteristics"
  (the January school census and the AP census), whose releases carry the AP files.
- Landing page: https://explore-education-statistics.service.gov.uk/find-statistics/school-pupils-and-their-characteristics
- Cadence: annual (June), for the January census of the academic year.
- Latest release: the EES content API; the four data files below are fetched one by one from
  the release's ``downloadFiles`` (``eesfiles.release_data_files``: the release zip is hundreds
  of megabytes of school-level files), else the whole zip.
- Local files (``--from DIR``): as saved in ../shared/data/dfe/alternative-provision (DfE's
  dfe-analytical-services/SEND-AP-Inclusion-Dashboard ``data/ap/``): ``spc_ap_setting.csv``,
  ``spc_school_ap_characteristics.csv``, ``spc_school_ap_placement.csv`` and
  ``ap_placements_ap_census.csv.gz``.

Files read (``DATA_FILES``), EES tidy CSVs with a BOM:
- ``ap_placements_ap_census``: pupils in LA-funded AP placements (the AP census), 2017/18 to
  2022/23, by ``gender``, ``age``, ``ethnicity_minor`` and ``fsm`` (each with ``Total``).
  Despite its ``.csv.gz`` name the saved file is a zip holding one csv; gzip and plain csv are
  read too (told apart by their first bytes).
- ``spc_school_ap_characteristics``: pupils in school-arranged AP in January 2023 (first
  collected in the 2023 school census), by ``characteristic_grouping`` / ``pupil_characteristic``
  (``SEN on entry``: ``EHC plan``, ``SEN Support``, ``No SEN``; age, sex, FSM, ethnicity) and
  ``setting_type``. The ``Total`` grouping repeats every characteristic (``Total`` / ``EHC plan``
  equals ``SEN on entry`` / ``EHC plan``): indicators read the ``SEN on entry`` rows.
- ``spc_school_ap_placement``: the same pupils by placement reason.
- ``spc_ap_setting``: school-arranged AP placements by setting type (one on one tuition,
  unregistered provider…); the total and the unregistered placements are indicators, the other
  setting types stay in the raw table.

Derived here (``DERIVED``): the share of school-arranged AP pupils with an EHC plan and on SEN
support, and the share of placements in unregistered provision, each with its numerator and
denominator. Counts are not suppressed in these files.
"""

from __future__ import annotations

import gzip
import io
import zipfile

from sendbench.csvread import as_bytes
from sendbench.errors import BadFileError
from sendbench.harvesters.base import HarvestContext, Parsed, Release
from sendbench.harvesters.dfe import ees
from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout
from sendbench.harvesters.dfe.eesfiles import add_derived, release_data_files
from sendbench.http import HttpClient, RawFile

_SPC = "characteristic_grouping pupil_characteristic setting_type pupils"
DATA_FILES = (
    DataFile(
        key="ap_census",
        patterns=("ap_placements_ap_census.csv", "ap_placements_ap_census.csv.gz"),
        layouts=(Layout.of("2017/18-2022/23", "gender age ethnicity_minor fsm number_of_pupils"),),
        breakdown_pairs=(),
    ),
    DataFile(
        key="school_ap_characteristics",
        patterns=("spc_school_ap_characteristics.csv",),
        layouts=(Layout.of("2022/23", _SPC),),
        breakdown_pairs=(),
    ),
    DataFile(
        key="school_ap_placement",
        patterns=("spc_school_ap_placement.csv",),
        layouts=(Layout.of("2022/23", _SPC),),
        breakdown_pairs=(),
    ),
    DataFile(
        key="ap_setting",
        patterns=("spc_ap_setting.csv",),
        layouts=(Layout.of("2022/23", "setting_type placements"),),
        breakdown_pairs=(),
    ),
)
DERIVED = {
    "school_ap_ehcp_pct": ("school_ap_ehcp_pupils", "school_ap_pupils", 100.0),
    "school_ap_sen_support_pct": ("school_ap_sen_support_pupils", "school_ap_pupils", 100.0),
    "ap_unregistered_placements_pct": ("ap_unregistered_placements", "ap_placements", 100.0),
}


class Harvester(EesHarvester):
    """Alternative provision: AP census pupils, school-arranged AP pupils and placements."""

    data_files = DATA_FILES
    require_observations = True

    def indicators(self):
        return [ind for ind in super().indicators() if ind.id not in DERIVED]

    def find_release(self, http: HttpClient) -> Release:
        slug = self.dataset.release["publication_slug"]
        return release_data_files(http, slug, self.data_files, dataset=self.id)

    def read_table(self, datafile: DataFile, name: str, data: bytes, source: str):
        """An EES csv, unpacked first when it is a zip or gzip (``ap_placements_ap_census``)."""
        return ees.read_ees_csv(
            unpack(as_bytes(data), dataset=self.id, file=name, source=source),
            dataset=self.id,
            file=name,
            source=source,
        )

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        parsed = super().parse(files, release, context)
        wanted = {i.id for i in self.catalogue.indicators_for(self.id)}
        add_derived(parsed, DERIVED, wanted)
        return parsed


def unpack(data: bytes, *, dataset: str, file: str, source: str | None) -> bytes:
    """The csv inside a one-file zip or a gzip; other bytes unchanged."""
    try:
        if data[:2] == b"\x1f\x8b":
            return gzip.decompress(data)
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
                if len(members) != 1:
                    raise BadFileError(
                        dataset, f"{file} is a zip with {len(members)} csv files, not one", source
                    )
                return archive.read(members[0])
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise BadFileError(dataset, f"{file} cannot be unpacked: {exc}", source) from exc
    return data
