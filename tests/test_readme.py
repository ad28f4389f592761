"""The README's table of sources is the catalogue's: adding a dataset without it fails here."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from sendbench.catalogue import load_catalogue, sources_table
from sendbench.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"<!-- sources:start -->\n(.*?)<!-- sources:end -->", re.S)


def test_readme_sources_table_matches_the_catalogue():
    match = BLOCK.search(README.read_text(encoding="utf-8"))
    assert match, "README.md lost its <!-- sources:start --> … <!-- sources:end --> block"
    expected = sources_table(load_catalogue())
    assert match.group(1) == expected, (
        "README.md's table of sources is out of date: replace the block with the output of "
        "`sendbench catalogue --markdown`"
    )


def test_sources_table_has_one_row_per_dataset_with_its_counts():
    catalogue = load_catalogue()
    rows = sources_table(catalogue).splitlines()[2:]
    assert [re.match(r"\| `([a-z0-9_]+)`", r).group(1) for r in rows] == [
        d.id for d in catalogue.datasets
    ]
    for row, dataset in zip(rows, catalogue.datasets, strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        indicators = [i for i in catalogue.indicators if i.dataset == dataset.id]
        assert int(cells[4]) == len(indicators)
        assert int(cells[5]) == len({o for i in indicators for o in i.outcomes})
        assert dataset.landing_page in cells[1]


def test_catalogue_command_lists_outcomes_and_markdown():
    runner = CliRunner()
    listing = runner.invoke(main, ["catalogue", "--dataset", "dfe_ehcp"])
    assert listing.exit_code == 0, listing.output
    timeliness = load_catalogue().indicator("ehcp_20_week_timeliness_pct")
    line = next(li for li in listing.output.splitlines() if timeliness.id in li)
    assert timeliness.unit in line and timeliness.polarity in line
    assert all(outcome in line for outcome in timeliness.outcomes)
    markdown = runner.invoke(main, ["catalogue", "--markdown"])
    assert markdown.output == sources_table(load_catalogue())
