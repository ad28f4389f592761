"""A zip that unpacks to 1.9 GB (under the 2 GB zip cap) must not drive a refresh past 1 GB of
memory: the member is decoded and parsed as a stream and refused once the table would need more
than a table may use (sendbench.csvread)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile

from conftest import FIXTURES

from sendbench.csvread import BUDGET_VARIABLE, DEFAULT_BUDGET_MB

MEMBER_BYTES = 1_900_000_000
REFRESH = """
import json, sys
from pathlib import Path
import sqlite_utils
from sendbench.catalogue import load_catalogue
from sendbench.http import HttpClient
from sendbench.refresh import refresh
folder, db_path = Path(sys.argv[1]), Path(sys.argv[2])
db = sqlite_utils.Database(db_path)
with HttpClient(db_path.parent / "raw", offline=True) as http:
    results = refresh(db, load_catalogue(), http, dataset_ids=["dfe_areas", "dfe_ehcp"],
                      from_dir=folder)
# VmHWM: this process's own peak resident memory (ru_maxrss would carry over the pytest
# process's from before the exec)
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
peak = int(hwm.split()[1]) * 1024
print(json.dumps({"peak": peak, "results": {r.dataset_id: [r.status, r.error] for r in results}}))
"""


def bomb_zip(path, header: bytes) -> None:
    """The EHC plans release with data/caseload.csv replaced by MEMBER_BYTES of rows of zeros
    (the real header, then "0,0,…" lines as wide as it)."""
    width = header.count(b",") + 1
    line = b",".join([b"0"] * width) + b"\r\n"
    block = line * (1_000_000 // len(line))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for member in sorted((FIXTURES / "dfe" / "ehcp" / "data").glob("*.csv")):
            if member.name != "caseload.csv":
                zf.write(member, f"data/{member.name}")
        with zf.open("data/caseload.csv", "w", force_zip64=True) as out:
            out.write(header)
            written = len(header)
            while written + len(block) <= MEMBER_BYTES:
                out.write(block)
                written += len(block)


def test_a_zip_bomb_under_the_cap_is_refused_within_1_gb(tmp_path, monkeypatch):
    monkeypatch.delenv(BUDGET_VARIABLE, raising=False)
    folder = tmp_path / "from"
    folder.mkdir()
    for name in ("las.csv", "regions.csv"):
        shutil.copy(FIXTURES / "dfe" / "las" / name, folder / name)
    header = (FIXTURES / "dfe" / "ehcp" / "data" / "caseload.csv").read_bytes().split(b"\n")[0]
    zip_path = folder / "education-health-and-care-plans_2025.zip"
    bomb_zip(zip_path, header + b"\n")
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.getinfo("data/caseload.csv").file_size > 1_800_000_000
    assert zip_path.stat().st_size < 50_000_000
    run = subprocess.run([sys.executable, "-c", REFRESH, str(folder), str(tmp_path / "db.sqlite")],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    answer = json.loads(run.stdout.strip().splitlines()[-1])
    status, error = answer["results"]["dfe_ehcp"]
    assert status == "failed"
    assert "caseload.csv is too large to read" in error
    assert f"more than the {DEFAULT_BUDGET_MB} MB a table may use" in error
    assert BUDGET_VARIABLE in error
    assert answer["results"]["dfe_areas"][0] == "loaded"
    assert answer["peak"] < 1_000_000_000, f"peak {answer['peak'] / 1e6:.0f} MB: {answer}"
