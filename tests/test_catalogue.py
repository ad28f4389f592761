"""Tests for sendbench.catalogue: loading, every validation message, immutability, table records.

Small catalogues are written to ``tmp_path``; the harvester check is replaced by a set of names so
the unit tests do not depend on which harvester modules exist. ``test_shipped_catalogue_is_valid``
loads the real catalogue.yaml with the real harvester check.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from sendbench.catalogue import (
    Catalogue,
    Dataset,
    Indicator,
    Outcome,
    default_catalogue_path,
    harvester_module_exists,
    load_catalogue,
)
from sendbench.errors import CatalogueError

# The logic model (docs/DOMAIN.md, seed 003): outcome id -> (level, theme).
LOGIC_MODEL: dict[str, tuple[str, str | None]] = {
    "confident_dreams_goals": ("integration", None),
    "progress_in_education": ("integration", None),
    "information_when_needed": ("integration", None),
    "family_resilience": ("integration", None),
    "right_support_right_time": ("integration", None),
    "families_heard": ("integration", None),
    "jobs_for_cyp": ("integration", None),
    "professionals_information": ("integration", None),
    "integrated_care_efficiency": ("integration", None),
    "do_well_in_learning": ("impact", "learning_and_employment"),
    "more_in_mainstream": ("impact", "learning_and_employment"),
    "paid_employment": ("impact", "learning_and_employment"),
    "happy_with_friends": ("impact", "friends_relationships_community"),
    "included_in_community": ("impact", "friends_relationships_community"),
    "confident_navigating_system": ("impact", "good_health"),
    "safe_from_harm": ("impact", "good_health"),
    "access_health_services": ("impact", "good_health"),
    "skills_for_adulthood": ("impact", "independent_living"),
}

HARVESTERS = {"dfe.ehcp", "dfe.areas"}

VALID_YAML = """\
outcomes:
  - id: right_support_right_time
    title: "CYP and families receive the right support at the right time and place"
    level: integration
    theme: null
  - id: more_in_mainstream
    title: More children and young people with SEND in mainstream settings
    level: impact
    theme: learning_and_employment
    description: Impact of integration, learning and employment.
datasets:
  - id: dfe_areas
    title: Local authority codes
    publisher: Department for Education
    landing_page: https://get-information-schools.service.gov.uk/
    licence: Open Government Licence v3.0
    harvester: dfe.areas
    cadence: ad hoc
    release: {method: static_file}
    files: ["dfe_qa_las.csv"]
  - id: dfe_ehcp
    title: Education, health and care plans
    publisher: Department for Education
    landing_page: https://explore-education-statistics.service.gov.uk/find-statistics/education-health-and-care-plans
    licence: Open Government Licence v3.0
    harvester: dfe.ehcp
    cadence: annual
    release: {method: ees_content_api, publication_slug: education-health-and-care-plans}
    files: ["education-health-and-care-plans_*.zip"]
    notes: SEN2 return, January census date.
    depends_on: [dfe_areas]
indicators:
  - id: ehcp_caseload
    title: EHC plans
    definition: Number of children and young people with an EHC plan maintained by the LA.
    dataset: dfe_ehcp
    file: caseload.csv
    column: ehcplans
    filter: {breakdown_topic: All EHC plans, phase: [Primary, Secondary]}
    unit: count
    polarity: none
    outcomes: [right_support_right_time]
  - id: ehcp_in_mainstream
    title: EHC plans in mainstream schools
    definition: Percentage of EHC plans whose placement is a mainstream school.
    dataset: dfe_ehcp
    file: caseload.csv
    column: mainstream_pct
    unit: percent
    polarity: higher_is_better
    outcomes: [more_in_mainstream, right_support_right_time]
    numerator: mainstream
    denominator: ehcplans
"""


def write_catalogue(tmp_path: Path, data: dict[str, Any] | str) -> Path:
    """Write a catalogue (a mapping, or YAML text as is) and return its path."""
    path = tmp_path / "catalogue.yaml"
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, data: dict[str, Any] | str) -> Catalogue:
    return load_catalogue(write_catalogue(tmp_path, data), harvester_exists=HARVESTERS.__contains__)


def problems_in(tmp_path: Path, data: dict[str, Any] | str) -> str:
    """The message of the CatalogueError that loading ``data`` raises."""
    with pytest.raises(CatalogueError) as caught:
        load(tmp_path, data)
    return str(caught.value)


def valid() -> dict[str, Any]:
    return yaml.safe_load(VALID_YAML)


def entry(data: dict[str, Any], section: str, entry_id: str) -> dict[str, Any]:
    return next(item for item in data[section] if item["id"] == entry_id)


def test_valid_catalogue_loads_with_types_and_defaults(tmp_path):
    catalogue = load(tmp_path, VALID_YAML)

    assert [o.id for o in catalogue.outcomes] == ["right_support_right_time", "more_in_mainstream"]
    assert [d.id for d in catalogue.datasets] == ["dfe_areas", "dfe_ehcp"]
    assert isinstance(catalogue.outcomes, tuple) and isinstance(catalogue.outcomes[0], Outcome)
    assert catalogue.outcome("right_support_right_time").theme is None
    assert catalogue.outcome("more_in_mainstream").theme == "learning_and_employment"

    ehcp = catalogue.dataset("dfe_ehcp")
    assert isinstance(ehcp, Dataset)
    assert ehcp.files == ("education-health-and-care-plans_*.zip",)
    assert ehcp.depends_on == ("dfe_areas",)
    assert dict(ehcp.release) == {
        "method": "ees_content_api",
        "publication_slug": "education-health-and-care-plans",
    }
    assert ehcp.description is None
    assert catalogue.dataset("dfe_areas").depends_on == ()

    caseload = catalogue.indicator("ehcp_caseload")
    assert isinstance(caseload, Indicator)
    assert dict(caseload.filter) == {
        "breakdown_topic": "All EHC plans",
        "phase": ("Primary", "Secondary"),
    }
    assert caseload.outcomes == ("right_support_right_time",)
    assert (caseload.numerator, caseload.denominator, caseload.notes) == (None, None, None)
    mainstream = catalogue.indicator("ehcp_in_mainstream")
    assert dict(mainstream.filter) == {}
    assert (mainstream.numerator, mainstream.denominator) == ("mainstream", "ehcplans")


def test_entries_are_immutable(tmp_path):
    catalogue = load(tmp_path, VALID_YAML)
    ehcp = catalogue.dataset("dfe_ehcp")
    caseload = catalogue.indicator("ehcp_caseload")

    with pytest.raises(dataclasses.FrozenInstanceError):
        ehcp.harvester = "dfe.other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        catalogue.indicators = ()
    with pytest.raises(TypeError):
        ehcp.release["method"] = "scrape"
    with pytest.raises(TypeError):
        caseload.filter["breakdown_topic"] = "Other"
    assert isinstance(ehcp.files, tuple)
    assert isinstance(caseload.filter["phase"], tuple)


def test_lookup_helpers(tmp_path):
    catalogue = load(tmp_path, VALID_YAML)

    assert [i.id for i in catalogue.indicators_for("dfe_ehcp")] == [
        "ehcp_caseload",
        "ehcp_in_mainstream",
    ]
    assert catalogue.indicators_for("dfe_areas") == ()
    with pytest.raises(CatalogueError, match=r"unknown dataset 'dfe_ehpc'.*'dfe_ehcp'") as caught:
        catalogue.dataset("dfe_ehpc")
    assert isinstance(caught.value, KeyError)
    with pytest.raises(KeyError, match="unknown indicator 'ehcp_caseloads'.*'ehcp_caseload'"):
        catalogue.indicator("ehcp_caseloads")
    with pytest.raises(CatalogueError, match="unknown outcome 'nothing_like_it' in"):
        catalogue.outcome("nothing_like_it")
    with pytest.raises(CatalogueError, match="unknown dataset 'nope'"):
        catalogue.indicators_for("nope")


def _set(section: str, entry_id: str, key: str, value: Any):
    def change(data: dict[str, Any]) -> None:
        entry(data, section, entry_id)[key] = value

    return change


def _drop(section: str, entry_id: str, key: str):
    def change(data: dict[str, Any]) -> None:
        del entry(data, section, entry_id)[key]

    return change


def _duplicate_caseload(data: dict[str, Any]) -> None:
    data["indicators"].append(dict(entry(data, "indicators", "ehcp_caseload")))


def _extra_top_level(data: dict[str, Any]) -> None:
    data["metadata"] = {"version": 1}


def _no_datasets(data: dict[str, Any]) -> None:
    del data["datasets"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            _set("indicators", "ehcp_caseload", "colour", "red"),
            "indicator 'ehcp_caseload': unknown key 'colour' (allowed: id, title, definition, "
            "dataset, file, column, unit, polarity, outcomes, filter, numerator, denominator, "
            "notes, withdrawn)",
            id="unknown-key-indicator",
        ),
        pytest.param(
            _set("datasets", "dfe_ehcp", "url", "https://example.org"),
            "dataset 'dfe_ehcp': unknown key 'url' (allowed: id, title, publisher,",
            id="unknown-key-dataset",
        ),
        pytest.param(
            _set("outcomes", "more_in_mainstream", "themes", "x"),
            "outcome 'more_in_mainstream': unknown key 'themes' (allowed: id, title, level, theme,",
            id="unknown-key-outcome",
        ),
        pytest.param(
            _set("datasets", "dfe_ehcp", "harvester", "dfe.ehcp_v2"),
            "dataset 'dfe_ehcp': unknown harvester 'dfe.ehcp_v2' "
            "(no module sendbench.harvesters.dfe.ehcp_v2)",
            id="unknown-harvester",
        ),
        pytest.param(
            _set("indicators", "ehcp_caseload", "polarity", "up"),
            "indicator 'ehcp_caseload': bad polarity 'up' "
            "(allowed: higher_is_better, lower_is_better, none)",
            id="bad-polarity",
        ),
        pytest.param(
            _set("indicators", "ehcp_caseload", "outcomes", ["right_support_right_tme"]),
            "indicator 'ehcp_caseload': unknown outcome 'right_support_right_tme' "
            "(did you mean 'right_support_right_time'?)",
            id="unknown-outcome",
        ),
        pytest.param(
            _set("indicators", "ehcp_caseload", "dataset", "dfe_ehpc"),
            "indicator 'ehcp_caseload': unknown dataset 'dfe_ehpc' (did you mean 'dfe_ehcp'?)",
            id="unknown-dataset",
        ),
        pytest.param(
            _duplicate_caseload,
            "indicator 'ehcp_caseload': duplicate id",
            id="duplicate-id",
        ),
        pytest.param(
            _extra_top_level,
            "top level: unknown key 'metadata' (allowed: outcomes, datasets, indicators)",
            id="top-level-unknown-key",
        ),
        pytest.param(
            _no_datasets,
            "top level: 'datasets' must be a list of dataset entries",
            id="top-level-missing-section",
        ),
        pytest.param(
            _drop("datasets", "dfe_ehcp", "licence"),
            "dataset 'dfe_ehcp': missing required key 'licence'",
            id="missing-key",
        ),
        pytest.param(
            _set("indicators", "ehcp_caseload", "id", "EHCP-caseload"),
            "indicator 'EHCP-caseload': id must match ^[a-z][a-z0-9_]*$",
            id="bad-id",
        ),
        pytest.param(
            _set("datasets", "dfe_ehcp", "release", {"publication_slug": "x"}),
            "dataset 'dfe_ehcp': 'release' must have a 'method'",
            id="release-without-method",
        ),
        pytest.param(
            _set("datasets", "dfe_ehcp", "files", []),
            "dataset 'dfe_ehcp': 'files' must list at least one",
            id="empty-files",
        ),
        pytest.param(
            _set("datasets", "dfe_ehcp", "depends_on", ["dfe_area"]),
            "dataset 'dfe_ehcp': depends_on: unknown dataset 'dfe_area' "
            "(did you mean 'dfe_areas'?)",
            id="unknown-dependency",
        ),
        pytest.param(
            _set("indicators", "ehcp_caseload", "unit", "people"),
            "indicator 'ehcp_caseload': unknown unit 'people' (allowed: count, percent,",
            id="unknown-unit",
        ),
        pytest.param(
            _set("indicators", "ehcp_caseload", "outcomes", []),
            "indicator 'ehcp_caseload': 'outcomes' must name at least one outcome",
            id="empty-outcomes",
        ),
        pytest.param(
            _drop("indicators", "ehcp_in_mainstream", "denominator"),
            "indicator 'ehcp_in_mainstream': give both 'numerator' and 'denominator', or neither",
            id="numerator-without-denominator",
        ),
        pytest.param(
            _set("indicators", "ehcp_caseload", "filter", {"phase": {"nested": 1}}),
            "indicator 'ehcp_caseload': filter on 'phase' must be a value",
            id="bad-filter",
        ),
        pytest.param(
            _set("outcomes", "right_support_right_time", "level", "outcome"),
            "outcome 'right_support_right_time': unknown level 'outcome' "
            "(allowed: integration, impact)",
            id="bad-level",
        ),
        pytest.param(
            _set("outcomes", "more_in_mainstream", "theme", None),
            "outcome 'more_in_mainstream': an impact outcome needs a theme",
            id="impact-without-theme",
        ),
        pytest.param(
            _set("outcomes", "right_support_right_time", "theme", "good_health"),
            "outcome 'right_support_right_time': an integration outcome has no theme",
            id="integration-with-theme",
        ),
        pytest.param(
            _set("outcomes", "more_in_mainstream", "theme", "learning"),
            "outcome 'more_in_mainstream': unknown theme 'learning' "
            "(allowed: learning_and_employment,",
            id="unknown-theme",
        ),
        pytest.param(
            _set("indicators", "ehcp_in_mainstream", "withdrawn", {"release": 2025}),
            "indicator 'ehcp_in_mainstream': withdrawn: 'release' must be a non-empty string",
            id="withdrawn-release-not-text",
        ),
        pytest.param(
            _set("indicators", "ehcp_in_mainstream", "withdrawn", {"release": "2025", "why": "x"}),
            "indicator 'ehcp_in_mainstream': withdrawn: unknown key 'why' (allowed: release, note)",
            id="withdrawn-unknown-key",
        ),
        pytest.param(
            _set("indicators", "ehcp_in_mainstream", "withdrawn", "2025"),
            "indicator 'ehcp_in_mainstream': 'withdrawn' must be a mapping",
            id="withdrawn-not-a-mapping",
        ),
        pytest.param(
            _set("datasets", "dfe_ehcp", "files", "education.zip"),
            "dataset 'dfe_ehcp': 'files' must be a list of non-empty strings",
            id="files-not-a-list",
        ),
    ],
)
def test_validation_message_names_entry_and_problem(tmp_path, change, expected):
    data = valid()
    change(data)
    message = problems_in(tmp_path, data)
    assert expected in message
    assert str(tmp_path / "catalogue.yaml") in message


def test_every_problem_is_reported_at_once(tmp_path):
    data = valid()
    entry(data, "indicators", "ehcp_caseload")["polarity"] = "up"
    entry(data, "datasets", "dfe_areas")["harvester"] = "dfe.nowhere"
    message = problems_in(tmp_path, data)
    assert "has 2 problem(s)" in message
    assert "indicator 'ehcp_caseload': bad polarity 'up'" in message
    assert "dataset 'dfe_areas': unknown harvester 'dfe.nowhere'" in message


def test_entry_that_is_not_a_mapping_is_named_by_position(tmp_path):
    data = valid()
    data["indicators"].append("ehcp_new")
    assert "indicator #3: must be a mapping, not str" in problems_in(tmp_path, data)


def test_bad_yaml_names_the_file(tmp_path):
    message = problems_in(tmp_path, "outcomes: [\n  - id: x\ndatasets: {")
    assert f"{tmp_path / 'catalogue.yaml'} is not valid YAML" in message
    assert "line" in message


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(CatalogueError, match="cannot read the catalogue .*absent.yaml"):
        load_catalogue(tmp_path / "absent.yaml", harvester_exists=HARVESTERS.__contains__)


def test_default_harvester_check_looks_for_a_module(tmp_path):
    path = write_catalogue(tmp_path, VALID_YAML.replace("dfe.areas", "no_such_publisher.areas"))
    with pytest.raises(CatalogueError, match="unknown harvester 'no_such_publisher.areas'"):
        load_catalogue(path)


def test_harvester_module_exists(monkeypatch):
    name = "sendbench.harvesters.fake_publisher"
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
    monkeypatch.setitem(sys.modules, name, module)
    assert harvester_module_exists("fake_publisher") is True
    assert harvester_module_exists("no_such_publisher.ehcp") is False
    assert harvester_module_exists("") is False


def test_default_catalogue_path(monkeypatch, tmp_path):
    monkeypatch.setenv("SENDBENCH_CATALOGUE", str(tmp_path / "other.yaml"))
    assert default_catalogue_path() == tmp_path / "other.yaml"
    write_catalogue(tmp_path, VALID_YAML).rename(tmp_path / "other.yaml")
    assert len(load_catalogue(harvester_exists=HARVESTERS.__contains__).indicators) == 2

    monkeypatch.delenv("SENDBENCH_CATALOGUE")
    shipped = Path(__file__).resolve().parents[1] / "sendbench" / "catalogue_files"
    assert default_catalogue_path() == shipped


def test_to_records_are_flat_and_round_trip(tmp_path):
    catalogue = load(tmp_path, VALID_YAML)
    outcomes, datasets, indicators = catalogue.to_records()

    for row in outcomes + datasets + indicators:
        assert all(value is None or isinstance(value, str) for value in row.values())
    assert outcomes[0] == {
        "id": "right_support_right_time",
        "title": "CYP and families receive the right support at the right time and place",
        "level": "integration",
        "theme": None,
        "description": None,
    }
    ehcp = datasets[1]
    assert json.loads(ehcp["release"]) == {
        "method": "ees_content_api",
        "publication_slug": "education-health-and-care-plans",
    }
    assert json.loads(ehcp["files"]) == ["education-health-and-care-plans_*.zip"]
    assert json.loads(ehcp["depends_on"]) == ["dfe_areas"]
    assert json.loads(datasets[0]["depends_on"]) == []
    caseload, mainstream = indicators
    assert json.loads(caseload["filter"]) == {
        "breakdown_topic": "All EHC plans",
        "phase": ["Primary", "Secondary"],
    }
    assert json.loads(mainstream["outcomes"]) == ["more_in_mainstream", "right_support_right_time"]

    json_columns = {"release", "files", "depends_on", "filter", "outcomes"}
    rebuilt = {
        section: [
            {key: json.loads(value) if key in json_columns else value for key, value in row.items()}
            for row in rows
        ]
        for section, rows in zip(
            ("outcomes", "datasets", "indicators"), (outcomes, datasets, indicators), strict=True
        )
    }
    assert load(tmp_path, rebuilt) == catalogue


def test_shipped_catalogue_is_valid(monkeypatch):
    """The real catalogue.yaml, with the real harvester check, carries the whole logic model."""
    monkeypatch.delenv("SENDBENCH_CATALOGUE", raising=False)
    catalogue = load_catalogue()

    assert {o.id: (o.level, o.theme) for o in catalogue.outcomes} == LOGIC_MODEL
    outcome_ids = {o.id for o in catalogue.outcomes}
    dataset_ids = {d.id for d in catalogue.datasets}
    for indicator in catalogue.indicators:
        assert indicator.outcomes, indicator.id
        assert set(indicator.outcomes) <= outcome_ids, indicator.id
        assert indicator.dataset in dataset_ids, indicator.id


def test_catalogue_folder_merges_one_file_per_dataset(tmp_path):
    data = yaml.safe_load(VALID_YAML)
    folder = tmp_path / "catalogue"
    folder.mkdir()
    (folder / "outcomes.yaml").write_text(yaml.safe_dump({"outcomes": data["outcomes"]}))
    for dataset in data["datasets"]:
        own = [i for i in data["indicators"] if i["dataset"] == dataset["id"]]
        entry = {"datasets": [dataset], "indicators": own}
        (folder / f"{dataset['id']}.yaml").write_text(yaml.safe_dump(entry, sort_keys=False))
    (folder / "README.md").write_text("not YAML, not read")
    merged = load_catalogue(folder, harvester_exists=HARVESTERS.__contains__)
    single = load(tmp_path, VALID_YAML)
    assert merged == single


def test_catalogue_folder_problems_name_the_file_or_entry(tmp_path):
    data = yaml.safe_load(VALID_YAML)
    folder = tmp_path / "catalogue"
    folder.mkdir()
    (folder / "a.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (folder / "b.yaml").write_text(yaml.safe_dump({"indicators": data["indicators"][:1]}))
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(folder, harvester_exists=HARVESTERS.__contains__)
    assert f"indicator {data['indicators'][0]['id']!r} is in both a.yaml and b.yaml" in str(
        caught.value
    )
    (folder / "b.yaml").write_text("indicators: {not: a list}\n")
    with pytest.raises(CatalogueError, match=r"b\.yaml: 'indicators' must be a list"):
        load_catalogue(folder, harvester_exists=HARVESTERS.__contains__)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CatalogueError, match="has no \\*.yaml files"):
        load_catalogue(empty)


def test_a_withdrawn_series_is_kept_in_the_catalogue_and_its_table(tmp_path):
    data = valid()
    note = "DfE replaced it with a measure by enrolments"
    entry(data, "indicators", "ehcp_in_mainstream")["withdrawn"] = {
        "release": "2025",
        "note": note,
    }
    catalogue = load(tmp_path, data)
    assert dict(catalogue.indicator("ehcp_in_mainstream").withdrawn) == {
        "release": "2025", "note": note,
    }  # fmt: skip
    assert catalogue.indicator("ehcp_caseload").withdrawn is None
    rows = {row["id"]: row for row in catalogue.to_records()[2]}
    assert json.loads(rows["ehcp_in_mainstream"]["withdrawn"]) == {"release": "2025", "note": note}
    assert rows["ehcp_caseload"]["withdrawn"] is None
