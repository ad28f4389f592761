"""The memory a table may use, and a stream read within it."""

from __future__ import annotations

import io

import pytest

from sendbench import csvread
from sendbench.errors import BadFileError


def test_the_budget_is_the_setting_or_the_lesser_of_350_mb_and_a_sixth_of_free_memory(
    monkeypatch,
):
    monkeypatch.setenv(csvread.BUDGET_VARIABLE, "1200")
    assert csvread.table_budget() == 1_200_000_000
    monkeypatch.delenv(csvread.BUDGET_VARIABLE)
    monkeypatch.setattr(csvread, "_free_memory", lambda: 24_000_000_000)
    assert csvread.table_budget() == 350_000_000
    monkeypatch.setattr(csvread, "_free_memory", lambda: 1_200_000_000)
    assert csvread.table_budget() == 200_000_000  # a small machine: a sixth of what is free


def test_a_table_read_in_chunks_is_the_whole_table_or_refused_past_the_budget(monkeypatch):
    monkeypatch.setattr(csvread, "CHUNK_ROWS", 1_000)
    text = "a,b\n" + "".join(f"{i},x{i}\n" for i in range(5_500))
    frame = csvread.read_chunked(io.StringIO(text), dataset="d", file="f.csv", source="s",
                                 dtype=str, keep_default_na=False)  # fmt: skip
    assert frame.shape == (5_500, 2)
    assert list(frame["b"][[0, 5_499]]) == ["x0", "x5499"]
    with pytest.raises(BadFileError, match=r"f\.csv is too large to read: its first 2,000 rows"):
        csvread.read_chunked(io.StringIO(text), dataset="d", file="f.csv", source="s",
                             budget=int(frame.memory_usage(deep=True, index=False).sum() / 4),
                             dtype=str, keep_default_na=False)  # fmt: skip


def test_a_windows_1252_byte_far_into_a_streamed_file_is_read_as_windows_1252():
    from sendbench.harvesters.dfe.ees import read_ees_csv

    data = ("la_name,value\r\n" + "Hartlepool,1\r\n" * 250_000 + "Caf\xe9 Town,2\r\n").encode(
        "cp1252"
    )
    frame, _ = read_ees_csv(lambda: io.BytesIO(data), dataset="d", file="f.csv")
    assert frame.shape == (250_001, 2)
    assert frame.iloc[-1].tolist() == ["Café Town", "2"]
    assert frame.iloc[0].tolist() == ["Hartlepool", "1"]
