"""Which release is newer: the order of a dataset's releases, from the publisher's own labels.

Observations accumulate across releases (``sendbench.db.load``): for each indicator, area,
period and breakdown the value of the newest release that gives a figure wins, whatever order
the releases were loaded in. "Newest" is decided here, from what the publisher says of the
release, never from when sendbench loaded it:

1. the time the release's label names: ``2025`` and the EES slugs ``2024-25`` / ``202425`` (an
   academic or financial year is published after it ends: its later year), ``2022-11`` (a month:
   MHSDS, Fingertips request dates), ``dfe-2025-05`` (a neighbour vintage), ``2014-2024`` (a
   table's span: its last year);
2. then the publication date the publisher gives (EES ``published``, GOV.UK
   ``public_updated_at``), for two releases naming the same time;
3. a label naming no time (``local``) sorts before every dated one: such a load still adds what
   nothing else holds, but never overwrites a release whose time is known.

Two loads with the same label are the same release: the later load replaces what it covers (a
re-publication or a re-read of the same files).
"""

from __future__ import annotations

import re

UNDATED = (0, 0, 0)

_MONTH = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?:-(\d{2}))?(?!\d)")
_PAIR = re.compile(r"(?<!\d)(\d{4})[-/_]?(\d{2})(?!\d)")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def release_time(label: str | None) -> tuple[int, int, int]:
    """``(year, month, day)`` the label names (month/day 0 when it names a year), else UNDATED."""
    text = str(label or "")
    found: list[tuple[int, int, int]] = []
    for match in _PAIR.finditer(text):
        first, second = int(match.group(1)), int(match.group(2))
        if second == (first + 1) % 100:  # 2024-25, 202425, 2024/25: a year ending in the later one
            found.append((first + 1, 0, 0))
    if not found:
        for match in _MONTH.finditer(text):
            month = int(match.group(2))
            if 1 <= month <= 12:
                found.append((int(match.group(1)), month, int(match.group(3) or 0)))
    if not found:
        found = [(int(y), 0, 0) for y in _YEAR.findall(text) if 1990 <= int(y) <= 2100]
    return max(found) if found else UNDATED


def order_key(label: str | None, published: str | None = None) -> str:
    """A text key that sorts releases oldest first: the label's time, then the publication date."""
    year, month, day = release_time(label)
    return f"{year:04d}-{month:02d}-{day:02d}|{(published or '')[:19]}"


def is_dated(label: str | None) -> bool:
    """Whether the label names a time (otherwise the release sorts before every dated one)."""
    return release_time(label) != UNDATED


def slug(label: str) -> str:
    """The label as a table-name suffix: ``2024/25`` → ``2024_25``."""
    return re.sub(r"[^a-z0-9]+", "_", str(label).lower()).strip("_") or "release"
