"""Tests for sendbench.http: retries, the raw store, conditional fetches and safe zip reading.

All HTTP is mocked with ``responses``; an unregistered request fails the test.
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import json
import logging
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import responses

from sendbench import __version__
from sendbench.errors import BadFileError, FetchError
from sendbench.http import USER_AGENT, HttpClient, open_zip, sha256_file

URL = "https://example.org/files/sen2_2024.zip"
DATASET = "sen2"
HTML = b"<!DOCTYPE html>\n<html><body>Page moved</body></html>"


def make_zip(members: dict[str, bytes]) -> bytes:
    """A real zip file with the given members, built in memory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


ZIP_V1 = make_zip({"data/sen2.csv": b"la_code,value\nE09000001,12\n"})
ZIP_V2 = make_zip({"data/sen2.csv": b"la_code,value\nE09000001,13\n"})


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(tmp_path: Path, sleeps: list[float]):
    with HttpClient(tmp_path / "raw", sleep=sleeps.append) as http:
        yield http


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- requests: headers, timeouts, retries -------------------------------------------------


def test_user_agent_timeout_and_verification_on_every_request(mocked, client):
    mocked.get("https://example.org/api", json={"ok": True})
    assert client.get_json("https://example.org/api", dataset=DATASET) == {"ok": True}
    request = mocked.calls[0].request
    assert request.headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith(f"sendbench/{__version__} ")
    assert request.req_kwargs["timeout"] == (10, 120)
    assert request.req_kwargs["verify"]  # True, or the CA bundle named by REQUESTS_CA_BUNDLE


def test_verification_stays_on_with_a_session_that_turned_it_off(mocked, tmp_path):
    session = requests.Session()
    session.verify = False
    mocked.get("https://example.org/api", body="ok")
    with HttpClient(tmp_path, session=session) as http:
        assert http.get_text("https://example.org/api", dataset=DATASET) == "ok"
    verify = mocked.calls[0].request.req_kwargs["verify"]
    assert verify is True or Path(verify).exists()


def test_custom_timeout_and_params_are_passed(mocked, tmp_path):
    mocked.get("https://example.org/api?area=E92000001", json=[1, 2])
    with HttpClient(tmp_path, timeout=(3, 30)) as http:
        got = http.get_json(
            "https://example.org/api", dataset=DATASET, params={"area": "E92000001"}
        )
    assert got == [1, 2]
    assert mocked.calls[0].request.req_kwargs["timeout"] == (3, 30)


def test_server_error_is_retried_with_backoff(mocked, client, sleeps, caplog):
    caplog.set_level(logging.WARNING, logger="sendbench.http")
    mocked.get("https://example.org/api", status=500)
    mocked.get("https://example.org/api", status=503)
    mocked.get("https://example.org/api", json={"n": 1})
    assert client.get_json("https://example.org/api", dataset=DATASET) == {"n": 1}
    assert sleeps == [1.0, 2.0]
    assert len(mocked.calls) == 3
    retries = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(retries) == 2 and "HTTP 500" in retries[0].getMessage()


def test_persistent_server_error_gives_up_after_all_attempts(mocked, tmp_path, sleeps):
    mocked.get("https://example.org/api", status=500)
    http = HttpClient(tmp_path, sleep=sleeps.append, backoff=10, max_backoff=15)
    with pytest.raises(FetchError) as info:
        http.get_text("https://example.org/api", dataset=DATASET)
    message = str(info.value)
    assert "HTTP 500 Internal Server Error" in message
    assert "after 5 attempts" in message
    assert DATASET in message and "https://example.org/api" in message
    assert sleeps == [10, 15, 15, 15]  # 10 * 2**n, capped at max_backoff
    assert len(mocked.calls) == 5


def test_429_honours_retry_after_seconds(mocked, client, sleeps):
    mocked.get("https://example.org/api", status=429, headers={"Retry-After": "7"})
    mocked.get("https://example.org/api", body="hello")
    assert client.get_text("https://example.org/api", dataset=DATASET) == "hello"
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured_and_capped(mocked, tmp_path, sleeps):
    soon = datetime.now(timezone.utc) + timedelta(seconds=30)
    late = datetime.now(timezone.utc) + timedelta(hours=2)
    for when in (soon, late):
        date = email.utils.format_datetime(when, usegmt=True)
        mocked.get("https://example.org/api", status=429, headers={"Retry-After": date})
    mocked.get("https://example.org/api", body="ok")
    http = HttpClient(tmp_path, sleep=sleeps.append, max_backoff=60)
    assert http.get_text("https://example.org/api", dataset=DATASET) == "ok"
    assert 25 <= sleeps[0] <= 30
    assert sleeps[1] == 60


def test_404_fails_at_once(mocked, client, sleeps):
    mocked.get(URL, status=404)
    with pytest.raises(FetchError) as info:
        client.fetch(URL, dataset=DATASET)
    assert "HTTP 404 Not Found" in str(info.value)
    assert info.value.dataset == DATASET
    assert info.value.source == URL
    assert URL in str(info.value) and DATASET in str(info.value)
    assert len(mocked.calls) == 1
    assert sleeps == []


def test_connection_error_gives_up_after_retries(mocked, client, sleeps):
    mocked.get(URL, body=requests.exceptions.ConnectionError("connection refused"))
    with pytest.raises(FetchError) as info:
        client.fetch(URL, dataset=DATASET)
    assert "could not connect" in str(info.value)
    assert "after 5 attempts" in str(info.value)
    assert len(mocked.calls) == 5
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_read_timeout_gives_up_after_retries(mocked, client, sleeps):
    mocked.get(URL, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(FetchError) as info:
        client.fetch(URL, dataset=DATASET)
    assert "timed out after 120s" in str(info.value)
    assert len(mocked.calls) == 5
    assert len(sleeps) == 4


def test_connect_timeout_names_the_connect_timeout(mocked, tmp_path, sleeps):
    mocked.get(URL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    http = HttpClient(tmp_path, timeout=(5, 60), max_retries=1, sleep=sleeps.append)
    with pytest.raises(FetchError, match="timed out after 5s while connecting") as info:
        http.fetch(URL, dataset=DATASET)
    assert "after 2 attempts" in str(info.value)
    assert len(mocked.calls) == 2


def test_ssl_error_is_not_retried(mocked, client, sleeps):
    mocked.get(URL, body=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(FetchError, match="certificate verification failed"):
        client.fetch(URL, dataset=DATASET)
    assert len(mocked.calls) == 1
    assert sleeps == []


class _DropsConnection(io.RawIOBase):
    """A body that yields some bytes and then fails like a dropped connection."""

    def __init__(self) -> None:
        self.sent = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.sent:
            raise ConnectionResetError("connection reset by peer")
        self.sent = True
        buffer[:4] = b"PK\x03\x04"
        return 4


def test_connection_dropped_mid_body_is_retried_without_leftovers(mocked, client, sleeps):
    mocked.get(URL, body=io.BufferedReader(_DropsConnection()))
    mocked.get(URL, body=ZIP_V1)
    raw = client.fetch(URL, dataset=DATASET, expect="zip")
    assert raw.path.read_bytes() == ZIP_V1
    assert sleeps == [1.0]
    assert files_in(raw.path.parent) == [raw.path.name, raw.path.name + ".meta.json"]


# --- JSON and text --------------------------------------------------------------------------


def test_get_json_on_an_html_page_is_a_bad_file(mocked, client):
    mocked.get("https://example.org/api", body=HTML, content_type="text/html")
    with pytest.raises(BadFileError) as info:
        client.get_json("https://example.org/api", dataset=DATASET)
    message = str(info.value)
    assert "expected JSON but got text/html (an HTML page" in message
    assert DATASET in message and "https://example.org/api" in message


def test_get_text_uses_declared_charset(mocked, client):
    body = "Área,valor\n".encode("latin-1")
    mocked.get("https://example.org/t.csv", body=body, content_type="text/csv; charset=latin-1")
    assert client.get_text("https://example.org/t.csv", dataset=DATASET) == "Área,valor\n"


# --- fetch and the raw store --------------------------------------------------------------


def test_fetch_stores_file_and_sidecar(mocked, client, tmp_path):
    mocked.get(URL, body=ZIP_V1, content_type="application/zip", headers={"ETag": '"v1"'})
    raw = client.fetch(URL, dataset=DATASET, expect="zip")
    key = hashlib.sha1(URL.encode()).hexdigest()[:12]
    assert raw.path == tmp_path / "raw" / DATASET / f"{key}-sen2_2024.zip"
    assert raw.path.read_bytes() == ZIP_V1
    assert raw.sha256 == hashlib.sha256(ZIP_V1).hexdigest()
    assert raw.bytes == len(ZIP_V1)
    assert raw.changed is True
    assert raw.filename == "sen2_2024.zip"
    assert raw.source == URL
    assert raw.etag == '"v1"'
    assert datetime.fromisoformat(raw.fetched_at).utcoffset() == timedelta(0)
    meta = json.loads((raw.path.parent / (raw.path.name + ".meta.json")).read_text())
    assert meta == {
        "url": URL,
        "sha256": hashlib.sha256(ZIP_V1).hexdigest(),
        "bytes": len(ZIP_V1),
        "fetched_at": raw.fetched_at,
        "etag": '"v1"',
        "last_modified": None,
        "filename": "sen2_2024.zip",
        "content_type": "application/zip",
    }
    # atomic write: only the file and its sidecar, no temporary files left behind
    assert files_in(raw.path.parent) == [raw.path.name, raw.path.name + ".meta.json"]


def test_conditional_refetch_304_downloads_nothing(mocked, client):
    last_modified = "Wed, 12 Jun 2024 09:30:00 GMT"
    headers = {"ETag": '"abc"', "Last-Modified": last_modified}
    mocked.get(URL, body=ZIP_V1, headers=headers)
    mocked.get(URL, status=304)
    first = client.fetch(URL, dataset=DATASET, expect="zip")
    mtime = first.path.stat().st_mtime_ns
    second = client.fetch(URL, dataset=DATASET, expect="zip")
    assert len(mocked.calls) == 2
    sent = mocked.calls[1].request.headers
    assert sent["If-None-Match"] == '"abc"'
    assert sent["If-Modified-Since"] == last_modified
    assert "If-None-Match" not in mocked.calls[0].request.headers
    assert second.changed is False
    assert second.path == first.path
    assert second.sha256 == first.sha256
    assert second.fetched_at == first.fetched_at
    assert second.path.read_bytes() == ZIP_V1
    assert second.path.stat().st_mtime_ns == mtime


def test_same_bytes_on_200_is_unchanged(mocked, client):
    mocked.get(URL, body=ZIP_V1, headers={"ETag": '"one"'})
    mocked.get(URL, body=ZIP_V1, headers={"ETag": '"two"'})
    first = client.fetch(URL, dataset=DATASET)
    second = client.fetch(URL, dataset=DATASET)
    assert first.changed is True
    assert second.changed is False
    assert second.sha256 == first.sha256
    assert second.etag == '"two"'  # the sidecar keeps the newest validator
    assert files_in(first.path.parent) == [first.path.name, first.path.name + ".meta.json"]


def test_new_bytes_replace_the_stored_copy(mocked, client):
    mocked.get(URL, body=ZIP_V1)
    mocked.get(URL, body=ZIP_V2)
    client.fetch(URL, dataset=DATASET)
    second = client.fetch(URL, dataset=DATASET)
    assert second.changed is True
    assert second.path.read_bytes() == ZIP_V2
    assert second.sha256 == hashlib.sha256(ZIP_V2).hexdigest()


def test_html_instead_of_zip_keeps_the_previous_copy(mocked, client):
    mocked.get(URL, body=ZIP_V1, content_type="application/zip")
    mocked.get(URL, body=b"\xef\xbb\xbf  " + HTML, content_type="text/html; charset=utf-8")
    good = client.fetch(URL, dataset=DATASET, expect="zip")
    with pytest.raises(BadFileError) as info:
        client.fetch(URL, dataset=DATASET, expect="zip")
    assert "expected a zip file but got text/html (an HTML page" in str(info.value)
    assert URL in str(info.value)
    assert good.path.read_bytes() == ZIP_V1
    assert files_in(good.path.parent) == [good.path.name, good.path.name + ".meta.json"]


def test_html_where_csv_expected_stores_nothing(mocked, client, tmp_path):
    mocked.get("https://example.org/a.csv", body=HTML, content_type="text/html")
    with pytest.raises(BadFileError, match="expected a CSV file"):
        client.fetch("https://example.org/a.csv", dataset=DATASET, expect="csv")
    assert files_in(tmp_path / "raw" / DATASET) == []


def test_expect_json(mocked, client):
    mocked.get("https://example.org/a.json", body=b'{"rows": []}')
    mocked.get("https://example.org/b.json", body=b'{"rows": [')
    assert client.fetch("https://example.org/a.json", dataset=DATASET, expect="json").bytes == 12
    with pytest.raises(BadFileError, match="expected JSON"):
        client.fetch("https://example.org/b.json", dataset=DATASET, expect="json")


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="SEN2 2024.csv"', "SEN2 2024.csv"),
        ("attachment; filename*=UTF-8''ehcp%20r%C3%A9sum%C3%A9.csv", "ehcp résumé.csv"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="..\\\\..\\\\evil.csv"', "evil.csv"),
        ('attachment; filename=".."', "download"),
    ],
)
def test_content_disposition_filename(mocked, client, disposition, expected):
    url = "https://example.org/download/"
    mocked.get(url, body=b"a,b\n1,2\n", headers={"Content-Disposition": disposition})
    raw = client.fetch(url, dataset=DATASET)
    assert raw.filename == expected
    assert raw.path.name.endswith("-" + expected)
    assert raw.path.parent.name == DATASET


def test_given_filename_is_the_last_resort(mocked, client):
    mocked.get("https://example.org/", body=b"x")
    assert client.fetch("https://example.org/", dataset=DATASET, filename="a.csv").filename == (
        "a.csv"
    )


def test_offline_refuses_every_network_call(mocked, tmp_path):
    http = HttpClient(tmp_path, offline=True)
    calls = [
        lambda: http.fetch(URL, dataset=DATASET),
        lambda: http.get_json(URL, dataset=DATASET),
        lambda: http.get_text(URL, dataset=DATASET),
    ]
    for call in calls:
        with pytest.raises(FetchError, match="network access is off"):
            call()
    assert len(mocked.calls) == 0


# --- import_local ---------------------------------------------------------------------------


def test_import_local_copies_into_the_raw_store(client, tmp_path):
    source = tmp_path / "downloads" / "sen2 2024.csv"
    source.parent.mkdir()
    source.write_bytes(b"la_code,value\nE09000001,12\n")
    raw = client.import_local(source, dataset=DATASET)
    assert raw.changed is True
    assert raw.source == str(source.absolute())
    assert raw.path.parent == tmp_path / "raw" / DATASET
    assert raw.path.read_bytes() == source.read_bytes()
    assert raw.sha256 == hashlib.sha256(b"la_code,value\nE09000001,12\n").hexdigest()
    assert raw.bytes == 27
    assert raw.filename == "sen2 2024.csv"
    assert raw.etag is None and raw.last_modified is None
    assert files_in(raw.path.parent) == [raw.path.name, raw.path.name + ".meta.json"]

    again = client.import_local(source, dataset=DATASET)
    assert again.changed is False
    assert again.path == raw.path

    source.write_bytes(b"la_code,value\nE09000001,13\n")
    edited = client.import_local(source, dataset=DATASET)
    assert edited.changed is True
    assert edited.path.read_bytes().endswith(b"13\n")


def test_import_local_missing_file(client, tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(BadFileError) as info:
        client.import_local(missing, dataset=DATASET)
    assert str(missing) in str(info.value)


def test_import_local_works_offline(tmp_path):
    source = tmp_path / "a.csv"
    source.write_bytes(b"x\n")
    with HttpClient(tmp_path / "raw", offline=True) as http:
        assert http.import_local(source, dataset=DATASET).bytes == 2


# --- open_zip and sha256_file ---------------------------------------------------------------


def test_open_zip_reads_members(tmp_path):
    path = tmp_path / "good.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("data/", b"")
        zf.writestr("data/a.csv", b"a\n1\n")
        zf.writestr("b.txt", b"hello")
    path.write_bytes(buf.getvalue())
    with open_zip(path, dataset=DATASET) as archive:
        assert archive.names() == ["data/a.csv", "b.txt"]
        assert archive.read("data/a.csv") == b"a\n1\n"
        assert archive.read("b.txt") == b"hello"
        with pytest.raises(BadFileError, match="no member"):
            archive.read("missing.csv")


def test_truncated_zip_is_a_bad_file(tmp_path):
    data = make_zip({"a.csv": bytes(range(256)) * 100})
    path = tmp_path / "cut.zip"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadFileError, match="not a readable zip file") as info:
        open_zip(path, dataset=DATASET)
    assert str(path) in str(info.value)


def test_corrupt_member_is_a_bad_file_on_read(tmp_path):
    payload = b"la_code,value\n" * 50
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("a.csv", payload)
    data = buf.getvalue()
    at = data.index(payload) + 10
    path = tmp_path / "crc.zip"
    path.write_bytes(data[:at] + b"X" + data[at + 1 :])
    archive = open_zip(path, dataset=DATASET)  # the central directory is intact
    with archive, pytest.raises(BadFileError, match="not a readable zip file"):
        archive.read("a.csv")


@pytest.mark.parametrize("name", ["../evil.csv", "data/../../evil.csv", "/etc/evil", "C:/x.csv"])
def test_unsafe_member_paths_are_refused(tmp_path, name):
    path = tmp_path / "evil.zip"
    path.write_bytes(make_zip({"ok.csv": b"1", name: b"2"}))
    with pytest.raises(BadFileError, match="unsafe path in zip"):
        open_zip(path, dataset=DATASET)


def test_symlink_member_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.csv")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    path = tmp_path / "link.zip"
    path.write_bytes(buf.getvalue())
    with pytest.raises(BadFileError, match="symbolic link"):
        open_zip(path, dataset=DATASET)


def test_zip_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.zip"
    path.write_bytes(make_zip({"zeros.csv": bytes(5_000_000)}))
    assert path.stat().st_size < 100_000
    with pytest.raises(BadFileError, match="zip bomb"):
        open_zip(path, dataset=DATASET, max_total_bytes=1_000_000)


def test_read_budget_counts_actual_decompressed_bytes(tmp_path):
    path = tmp_path / "twice.zip"
    path.write_bytes(make_zip({"zeros.csv": bytes(600_000)}))
    with open_zip(path, dataset=DATASET, max_total_bytes=1_000_000) as archive:
        assert len(archive.read("zeros.csv")) == 600_000
        with pytest.raises(BadFileError, match="zip bomb"):
            archive.read("zeros.csv")


def test_too_many_members_is_refused(tmp_path):
    path = tmp_path / "many.zip"
    path.write_bytes(make_zip({f"{n}.csv": b"x" for n in range(11)}))
    with pytest.raises(BadFileError, match="11 members"):
        open_zip(path, dataset=DATASET, max_members=10)


def test_missing_zip_is_a_bad_file(tmp_path):
    with pytest.raises(BadFileError):
        open_zip(tmp_path / "absent.zip", dataset=DATASET)


def test_sha256_file(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(path) == expected


# --- deadlines and size caps -----------------------------------------------------------------


class _Trickle(io.RawIOBase):
    """A body that sends one byte every ``pause`` seconds, ``total`` bytes in all (a server that
    keeps each read inside the per-read timeout but never finishes)."""

    def __init__(self, total: int, pause: float):
        self.left, self.pause = total, pause

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            return 0
        time.sleep(self.pause)
        buffer[0:1] = b"0"
        self.left -= 1
        return 1


def trickle(total: int = 10_000, pause: float = 0.02) -> io.BufferedReader:
    return io.BufferedReader(_Trickle(total, pause), buffer_size=1)


def test_a_download_that_trickles_past_its_deadline_is_abandoned_naming_the_url(mocked, tmp_path):
    url = "https://example.org/files/slow.zip"
    mocked.get(url, body=trickle())
    started = time.monotonic()
    http = HttpClient(tmp_path / "raw", deadline=0.5, sleep=lambda s: None)
    with http, pytest.raises(FetchError) as info:
        http.fetch(url, dataset=DATASET, expect="zip")
    took = time.monotonic() - started
    assert took < 5  # 10,000 bytes at 0.02 s each would take 200 s
    message = str(info.value)
    assert url in message and "did not finish within its 0.5 s deadline" in message
    assert "--download-deadline" in message
    assert len(mocked.calls) == 1  # not retried: a retry would take as long
    assert not any((tmp_path / "raw").rglob("*.part"))  # nothing half-downloaded is kept
    assert not [p for p in (tmp_path / "raw").rglob("*") if p.is_file()]


def test_a_page_that_trickles_past_its_deadline_is_abandoned(mocked, tmp_path):
    url = "https://example.org/api/slow"
    mocked.get(url, body=trickle())
    http = HttpClient(tmp_path / "raw", deadline=0.5, sleep=lambda s: None)
    with http, pytest.raises(FetchError, match="did not finish within its 0.5 s deadline"):
        http.get_text(url, dataset=DATASET)


def test_a_download_inside_its_deadline_is_kept_whole(mocked, tmp_path):
    url = "https://example.org/files/steady.csv"
    mocked.get(url, body=trickle(total=20, pause=0.01))
    with HttpClient(tmp_path / "raw", deadline=30, sleep=lambda s: None) as http:
        raw = http.fetch(url, dataset=DATASET)
    assert raw.path.read_bytes() == b"0" * 20


@pytest.mark.parametrize("declared", [True, False])
def test_an_oversized_page_or_api_answer_is_refused(mocked, tmp_path, declared):
    url = "https://example.org/api/huge"
    body = b"[" + b"0," * 600 + b"0]"
    headers = {} if declared else {"Transfer-Encoding": "chunked"}
    mocked.get(url, body=body, headers=headers, auto_calculate_content_length=declared)
    http = HttpClient(tmp_path / "raw", max_text_bytes=1_000, sleep=lambda s: None)
    with http, pytest.raises(FetchError) as info:
        http.get_json(url, dataset=DATASET)
    assert url in str(info.value) and "larger than 0.001 MB" in str(info.value)
    with HttpClient(tmp_path / "raw", max_text_bytes=10_000, sleep=lambda s: None) as http:
        assert len(http.get_json(url, dataset=DATASET)) == 601


def test_each_download_reports_its_bytes_to_a_progress_bar(mocked, tmp_path):
    body = b"x" * 3_000_000
    url = "https://example.org/files/big.csv"
    mocked.get(url, body=body, auto_calculate_content_length=True)
    bars = []

    class Bar:
        def __init__(self, dataset, name, total):
            self.args, self.seen, self.closed = (dataset, name, total), 0, False
            bars.append(self)

        def update(self, n):
            self.seen += n

        def close(self):
            self.closed = True

    with HttpClient(tmp_path / "raw", on_download=Bar) as http:
        http.fetch(url, dataset=DATASET)
        http.get_text("https://example.org/files/big.csv", dataset=DATASET)  # a page: no bar
    assert len(bars) == 1
    assert bars[0].args == (DATASET, "big.csv", len(body))
    assert bars[0].seen == len(body) and bars[0].closed
