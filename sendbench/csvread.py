"""Reading a published CSV within a memory budget, as a stream.

A CSV is read from a binary stream (a zip member, a gzip, a file, bytes): decoded as it is read,
parsed in chunks of rows, and refused as soon as the table read so far needs more memory than a
table may have (``table_budget()``: 350 MB, or a sixth of the machine's free memory when that is
less, unless ``$SENDBENCH_TABLE_MEMORY_MB`` says otherwise). So neither the file's bytes nor its
decoded text are ever held whole, and a file that unpacks to gigabytes (a zip bomb under the zip's
own size cap, or a real but enormous table) stops the dataset with a clear error instead of the
machine: a refresh stays under about 1 GB whatever its input. The largest table any published file
in ``../shared/data`` makes is about 80 MB (pandas keeps text columns as Arrow strings). ``bench``
has no script for this: ``tests/test_memory_bounded.py`` measures a refresh's peak on such a zip.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import BinaryIO

import pandas as pd

from sendbench.errors import BadFileError

CHUNK_ROWS = 100_000
DEFAULT_BUDGET_MB = 350
BUDGET_VARIABLE = "SENDBENCH_TABLE_MEMORY_MB"

Opener = Callable[[], BinaryIO]


def table_budget() -> int:
    """Bytes of memory one table may take once read: ``$SENDBENCH_TABLE_MEMORY_MB`` if set,
    else DEFAULT_BUDGET_MB or a sixth of the memory the machine has free, whichever is less
    (reading, the rows read so far and their concatenation are held together)."""
    value = os.environ.get(BUDGET_VARIABLE, "").strip()
    if value:
        return int(float(value) * 1_000_000)
    return min(DEFAULT_BUDGET_MB * 1_000_000, _free_memory() // 6)


def _free_memory() -> int:
    """Bytes of memory available to new work (``MemAvailable``), or a large number if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def read_chunked(
    text, *, dataset: str, file: str, source: str | None, budget: int | None = None, **options
) -> pd.DataFrame:
    """``pd.read_csv(text, **options)`` read CHUNK_ROWS rows at a time, refused with
    BadFileError once the rows read so far take more than ``budget`` bytes."""
    budget = table_budget() if budget is None else budget
    parts, used = [], 0
    try:
        for chunk in pd.read_csv(text, chunksize=CHUNK_ROWS, **options):
            used += int(chunk.memory_usage(deep=True, index=False).sum())
            if used > budget:
                raise BadFileError(dataset, too_large(file, used, len(parts) * CHUNK_ROWS
                                                      + len(chunk), budget), source)  # fmt: skip
            parts.append(chunk)
    except pd.errors.EmptyDataError:
        parts = []
    if not parts:
        return pd.DataFrame()
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def too_large(file: str, used: int, rows: int, budget: int) -> str:
    return (
        f"{file} is too large to read: its first {rows:,} rows already take {used / 1e6:.0f} MB, "
        f"more than the {budget / 1e6:.0f} MB a table may use; if it is a real file and the "
        f"machine has the memory, set {BUDGET_VARIABLE} higher (in MB) and refresh again"
    )


def opener_of(data: bytes | Opener) -> Opener:
    """A function that opens the data as a fresh binary stream each time it is called."""
    if callable(data):
        return data
    return lambda: io.BytesIO(data)


def as_bytes(data: bytes | Opener) -> bytes:
    """The data's bytes (for readers that need them whole: workbooks, nested archives)."""
    if callable(data):
        with data() as stream:
            return stream.read()
    return data


def head_of(data: bytes | Opener, size: int = 4096) -> bytes:
    if callable(data):
        with data() as stream:
            return stream.read(size)
    return data[:size]
