"""The `sendbench` command line without the real data: help on every command and option (as
sqlite-utils' documentation test does), the catalogue listing, and the messages a user meets when
the database, a dataset name or the files given with --from are missing."""

from __future__ import annotations

import json
import re

import click
import pytest
from click.testing import CliRunner

from sendbench.cli import main

# The logic model's 18 outcomes, as worded in ../shared/docs/DOMAIN.md (seed 003).
INTEGRATION_OUTCOMES = [
    "feel confident and develop my own dreams and goals",
    "make progress with my studies and get the fullest education possible",
    "I receive information when I need it",
    "my family works better and we are more resilient",
    "receive the right support at the right time and place",
    "families are heard, involved and consulted",
    "jobs are created that CYP can apply for",
    "professionals access the right information at the right time",
    "integrated models of care improve efficiency",
]
IMPACT_OUTCOMES = [
    "do well at all levels of learning",
    "in mainstream settings",
    "more young people with SEND in paid employment",
    "happy and have friends",
    "included and active in the community",
    "confident in navigating the system",
    "safe from harm",
    "can access the services they need to stay healthy",
    "skills for life into adulthood",
]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


COMMANDS = sorted(main.commands)


def test_the_group_has_commands():
    assert {"refresh", "status", "catalogue", "serve"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_and_option_has_help(name):
    command = main.commands[name]
    assert (command.help or "").strip(), f"`sendbench {name}` has no help text"
    for param in command.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"`sendbench {name}` option {param.opts} has no help"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_renders_every_option(name):
    result = invoke(name, "--help")
    assert result.exit_code == 0, result.output
    for param in main.commands[name].params:
        if isinstance(param, click.Option):
            assert param.opts[0] in result.output


def test_group_options_have_help():
    for param in main.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"`sendbench` option {param.opts} has no help"


def test_catalogue_lists_ehcp_caseload():
    result = invoke("catalogue")
    assert result.exit_code == 0, result.output
    assert re.search(r"^\s+ehcp_caseload\s", result.output, re.MULTILINE), result.output
    assert "dfe_ehcp" in result.output


def test_catalogue_json_has_the_18_outcomes_and_the_caseload_indicator():
    result = invoke("catalogue", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    outcomes = data["outcomes"]
    assert len(outcomes) == 18
    by_level = {"integration": INTEGRATION_OUTCOMES, "impact": IMPACT_OUTCOMES}
    for level, phrases in by_level.items():
        titles = [o["title"].lower() for o in outcomes if o["level"] == level]
        assert len(titles) == len(phrases) == 9
        for phrase in phrases:
            matches = [t for t in titles if phrase.lower() in t]
            assert len(matches) == 1, f"{level} outcome {phrase!r}: {matches}"
    caseload = [i for i in data["indicators"] if i["id"] == "ehcp_caseload"]
    assert len(caseload) == 1
    assert (caseload[0]["dataset"], caseload[0]["file"], caseload[0]["column"]) == (
        "dfe_ehcp",
        "caseload.csv",
        "ehcplans",
    )


def test_status_without_a_database_says_to_refresh(tmp_path):
    missing = tmp_path / "nothing.db"
    result = invoke("status", "--db", str(missing))
    assert result.exit_code != 0
    assert str(missing) in result.output
    assert "sendbench refresh" in result.output
    assert not missing.exists()


def test_refresh_of_an_unknown_dataset_names_it(tmp_path):
    result = invoke("refresh", "no_such_dataset", "--db", str(tmp_path / "x.db"))
    assert result.exit_code != 0
    assert "no_such_dataset" in result.output
    assert "unknown dataset" in result.output.lower()


def test_refresh_from_an_empty_folder_says_which_file_it_looked_for(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("refresh", "dfe_ehcp", "--from", str(empty), "--db", str(tmp_path / "x.db"))
    assert result.exit_code == 1, result.output
    assert re.search(r"^dfe_ehcp\s+failed", result.output, re.MULTILINE), result.output
    assert "no file named education-health-and-care-plans_*.zip" in result.output
    assert str(empty) in result.output


def test_progress_bars_only_on_a_terminal_and_never_under_ci(monkeypatch):
    import sys

    from sendbench import cli

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("CI", "true")
    assert cli.download_bars() is None  # CI: plain lines
    monkeypatch.delenv("CI")
    bar = cli.download_bars()(DATASET_FOR_BARS, "release.zip", 2048)
    try:
        bar.update(1024)
        assert bar.n == 1024 and bar.total == 2048
    finally:
        bar.close()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert cli.download_bars() is None  # a pipe or a log file: plain lines


DATASET_FOR_BARS = "dfe_ehcp"


def test_quiet_prints_the_summary_and_no_steps(tmp_path):
    import shutil

    from conftest import FIXTURES, ehcp_zip

    folder = tmp_path / "from"
    folder.mkdir()
    for name in ("las.csv", "regions.csv"):
        shutil.copy(FIXTURES / "dfe" / "las" / name, folder / name)
    (folder / "education-health-and-care-plans_2025.zip").write_bytes(ehcp_zip())
    args = ["refresh", "dfe_areas", "dfe_ehcp", "--from", str(folder)]
    loud = invoke(*args, "--db", str(tmp_path / "loud.db"))
    quiet = invoke(*args, "--db", str(tmp_path / "quiet.db"), "--quiet")
    assert loud.exit_code == quiet.exit_code == 0, quiet.output
    assert "dfe_ehcp: parsing release" in loud.output
    assert "parsing release" not in quiet.output and "reading " not in quiet.output
    assert re.search(r"^dfe_ehcp\s+loaded", quiet.output, re.MULTILINE), quiet.output
