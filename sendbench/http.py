"""HTTP for sendbench: the only module that imports ``requests``.

Every request has a (connect, read) timeout, verifies certificates and sends ``USER_AGENT``.
Connection errors, timeouts, 429 and 5xx are retried with exponential backoff, honouring
``Retry-After``. ``HttpClient.fetch`` keeps each download in a raw store,
``raw_dir/<dataset>/<sha1(url)[:12]>-<filename>`` with a ``.meta.json`` sidecar, re-fetches
conditionally (ETag / Last-Modified) and writes atomically. ``open_zip`` reads zips without
extracting them and refuses unsafe paths and zip bombs.
"""

from __future__ import annotations

import email.utils
import hashlib
import io
import json
import logging
import os
import re
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

import requests
import urllib3

from sendbench import __version__
from sendbench.errors import BadFileError, FetchError

logger = logging.getLogger(__name__)

USER_AGENT = f"sendbench/{__version__} (+https://github.com/sendbench/sendbench)"
CHUNK = 1 << 20
# A download (one attempt) that has not finished in DEFAULT_DEADLINE seconds is abandoned,
# however steadily the server trickles bytes: the per-read timeout alone never ends a download
# that sends a byte a second. The largest release sendbench reads (KS4, about 300 MB) takes a
# few minutes on a slow line. `sendbench refresh --download-deadline` changes it.
DEFAULT_DEADLINE = 1800.0
# A web page or API answer (get_json, get_text) larger than this is refused: none sendbench
# reads is near it (the EES and GOV.UK answers are kilobytes, a Fingertips metadata list a few MB).
MAX_TEXT_BYTES = 50_000_000
EXPECT_KINDS = ("zip", "csv", "json")
T = TypeVar("T")


@dataclass(frozen=True)
class RawFile:
    """A file in the raw store and where and when its bytes came from."""

    path: Path
    source: str
    sha256: str
    bytes: int
    fetched_at: str
    etag: str | None
    last_modified: str | None
    changed: bool
    filename: str


class _Transient(Exception):
    """A failure worth retrying: connection error, timeout, 429 or 5xx."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class HttpClient:
    """Session, timeouts, retries and the raw store, shared by every harvester."""

    def __init__(
        self,
        raw_dir: Path,
        *,
        timeout: tuple[float, float] = (10, 120),
        max_retries: int = 4,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        offline: bool = False,
        deadline: float = DEFAULT_DEADLINE,
        max_text_bytes: int = MAX_TEXT_BYTES,
        on_download: Callable[[str, str, int | None], Any] | None = None,
    ):
        # on_download(dataset, file name, bytes expected or None) -> an object with
        # update(n) and close(), told of each file download as its bytes arrive (a progress bar)
        self.on_download = on_download
        self.raw_dir = Path(raw_dir)
        self.timeout = timeout
        self.deadline = deadline
        self.max_text_bytes = max_text_bytes
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.offline = offline
        self._sleep = sleep
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session if this client created it."""
        if self._owns_session:
            self._session.close()

    def get_json(self, url: str, *, dataset: str, params: dict | None = None) -> Any:
        """GET ``url`` and parse the body as JSON (BadFileError if it is not JSON)."""
        content, content_type = self._get_content(url, dataset, params)
        try:
            return json.loads(content.decode("utf-8-sig"))
        except ValueError as exc:
            got = _describe(content_type, content[:1024])
            raise BadFileError(dataset, f"expected JSON but got {got}", url) from exc

    def get_text(self, url: str, *, dataset: str, params: dict | None = None) -> str:
        """GET ``url`` and return the body as text (UTF-8 unless the server names a charset)."""
        content, content_type = self._get_content(url, dataset, params)
        match = re.search(r"charset=([\w.:-]+)", content_type or "", re.IGNORECASE)
        try:
            return content.decode(match.group(1) if match else "utf-8-sig", errors="replace")
        except LookupError:
            return content.decode("utf-8-sig", errors="replace")

    def fetch(
        self, url: str, *, dataset: str, filename: str | None = None, expect: str | None = None
    ) -> RawFile:
        """Download ``url`` into the raw store, conditionally if a copy is already there.

        ``expect`` ("zip", "csv" or "json") checks the body before it replaces a stored copy.
        """
        if expect is not None and expect not in EXPECT_KINDS:
            raise ValueError(f"expect must be one of {EXPECT_KINDS}, not {expect!r}")
        self._require_online(url, dataset)
        folder, key = self._folder(dataset), _key(url)
        stored = _load_stored(folder, key, url)
        headers = _conditional_headers(stored[1] if stored else None)
        got = self._with_retries(
            url, dataset, lambda: self._download(url, dataset, folder, key, headers)
        )
        if got is None:
            if stored is None:
                raise FetchError(dataset, "HTTP 304 Not Modified to an unconditional request", url)
            logger.info("%s: %s not modified", dataset, url)
            return _raw(*stored, changed=False)
        tmp, meta = got
        try:
            _check_expect(tmp, meta["content_type"], expect, dataset, url)
            name = meta["filename"] or _url_basename(url) or _safe_name(filename or "")
            meta["filename"] = name or "download"
            return _commit(folder / f"{key}-{meta['filename']}", tmp, meta, stored)
        finally:
            tmp.unlink(missing_ok=True)

    def import_local(self, path: Path, *, dataset: str) -> RawFile:
        """Copy a local file into the raw store, keyed by its absolute path."""
        source = Path(path).absolute()
        if not source.is_file():
            raise BadFileError(dataset, f"file not found: {source}", str(source))
        folder, key = self._folder(dataset), _key(str(source))
        with source.open("rb") as src:
            tmp, meta = _stream_to_temp(folder, key, iter(lambda: src.read(CHUNK), b""))
        name = _safe_name(source.name) or "file"
        meta.update(url=str(source), etag=None, last_modified=None, filename=name)
        meta["content_type"] = None
        try:
            stored = _load_stored(folder, key, str(source))
            return _commit(folder / f"{key}-{name}", tmp, meta, stored)
        finally:
            tmp.unlink(missing_ok=True)

    def _folder(self, dataset: str) -> Path:
        folder = self.raw_dir / (_safe_name(dataset) or "unknown")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _require_online(self, url: str, dataset: str) -> None:
        if self.offline:
            msg = "network access is off (reading from local files); refusing to fetch"
            raise FetchError(dataset, msg, url)

    def _get_content(self, url: str, dataset: str, params: dict | None) -> tuple[bytes, str | None]:
        self._require_online(url, dataset)

        def attempt() -> tuple[bytes, str | None]:
            with self._send(url, dataset, params=params) as resp:
                return self._read_capped(resp, url, dataset), resp.headers.get("Content-Type")

        return self._with_retries(url, dataset, attempt)

    def _with_retries(self, url: str, dataset: str, attempt: Callable[[], T]) -> T:
        attempts = self.max_retries + 1
        for number in range(attempts):
            try:
                return attempt()
            except _Transient as exc:
                if number == attempts - 1:
                    msg = f"{exc.reason}; gave up after {attempts} attempts, try again later"
                    raise FetchError(dataset, msg, url) from exc
                delay = self._delay(number, exc.retry_after)
                logger.warning("%s: %s (%s); retrying in %.1fs", dataset, url, exc.reason, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, number: int, retry_after: float | None) -> float:
        wanted = retry_after if retry_after is not None else self.backoff * 2**number
        return min(wanted, self.max_backoff)

    def _send(
        self, url: str, dataset: str, *, params: dict | None = None, headers: dict | None = None
    ) -> requests.Response:
        logger.debug("%s: GET %s %s", dataset, url, params or "")
        try:
            resp = self._session.get(
                url,
                params=params,
                headers={"User-Agent": USER_AGENT, **(headers or {})},
                timeout=self.timeout,
                verify=True,
                stream=True,
            )
        except requests.exceptions.SSLError as exc:
            msg = f"certificate verification failed ({exc}); check the system CA certificates"
            raise FetchError(dataset, msg, url) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise _Transient(f"timed out after {self.timeout[0]:g}s while connecting") from exc
        except requests.exceptions.Timeout as exc:
            raise _Transient(f"timed out after {self.timeout[1]:g}s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise _Transient("could not connect") from exc
        except requests.exceptions.RequestException as exc:
            raise FetchError(dataset, f"request failed: {exc}", url) from exc
        _check_status(resp, url, dataset)
        return resp

    def _download(
        self, url: str, dataset: str, folder: Path, key: str, headers: dict
    ) -> tuple[Path, dict] | None:
        with self._send(url, dataset, headers=headers) as resp:
            if resp.status_code == HTTPStatus.NOT_MODIFIED:
                return None
            length = resp.headers.get("Content-Length", "")
            bar = None
            if self.on_download is not None:
                name = _url_basename(url) or "download"
                bar = self.on_download(dataset, name, int(length) if length.isdigit() else None)
            try:
                tmp, meta = _stream_to_temp(folder, key, self._chunks(resp, url, dataset, bar))
            finally:
                if bar is not None:
                    bar.close()
            get = resp.headers.get
            meta.update(url=url, etag=get("ETag"), last_modified=get("Last-Modified"))
            meta["content_type"] = get("Content-Type")
            meta["filename"] = _disposition_filename(get("Content-Disposition"))
            return tmp, meta

    def _chunks(
        self, resp: requests.Response, url: str, dataset: str, bar: Any = None
    ) -> Iterator[bytes]:
        """The body as it arrives (each read returns what has come, up to CHUNK), abandoned
        with FetchError naming the URL and the deadline when it has not ended in time, however
        steadily bytes still arrive (not retried: a retry would take as long)."""
        ends = time.monotonic() + self.deadline
        read1 = getattr(resp.raw, "read1", None)
        pieces = iter(lambda: read1(CHUNK, decode_content=True), b"") if read1 else None
        try:
            for chunk in pieces or resp.iter_content(CHUNK):  # urllib3 < 2: whole chunks
                if time.monotonic() > ends:
                    raise self._too_slow(url, dataset)
                if bar is not None:
                    bar.update(len(chunk))
                yield chunk
        except _BROKEN as exc:
            raise _Transient("connection lost during download") from exc

    def _too_slow(self, url: str, dataset: str) -> FetchError:
        return FetchError(
            dataset,
            f"the download did not finish within its {self.deadline:g} s deadline (the server "
            "is sending too slowly); try again later, or allow longer with "
            "--download-deadline",
            url,
        )

    def _read_capped(self, resp: requests.Response, url: str, dataset: str) -> bytes:
        """The body of a page or API answer, refused past ``max_text_bytes``."""
        limit = self.max_text_bytes
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(dataset, _too_big(int(declared), limit), url)
        chunks, size = [], 0
        for chunk in self._chunks(resp, url, dataset):
            size += len(chunk)
            if size > limit:
                raise FetchError(dataset, _too_big(size, limit), url)
            chunks.append(chunk)
        return b"".join(chunks)


def _too_big(size: int, limit: int) -> str:
    return (
        f"the answer is larger than {limit / 1e6:g} MB (at least {size / 1e6:.1f} MB), far more "
        "than any page or API answer sendbench reads; refused"
    )


_BROKEN = (
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.Timeout,
    urllib3.exceptions.ProtocolError,  # read from the response itself (read1): not wrapped
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.DecodeError,
)


def _check_status(resp: requests.Response, url: str, dataset: str) -> None:
    status = resp.status_code
    if status < 300 or status == HTTPStatus.NOT_MODIFIED:
        return
    try:
        phrase = resp.reason or HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    reason = f"HTTP {status} {phrase}".strip()
    resp.close()
    if status == HTTPStatus.TOO_MANY_REQUESTS or status >= 500:
        raise _Transient(reason, _retry_after(resp.headers.get("Retry-After")))
    if status in (HTTPStatus.NOT_FOUND, HTTPStatus.GONE):
        hint = "the publisher may have moved the file; check the URL in the catalogue"
    else:
        hint = "the server refused the request"
    raise FetchError(dataset, f"{reason}: {hint}", url)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _key(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]


def _safe_name(name: str) -> str:
    """A safe basename: last path component, no leading dots, odd characters replaced."""
    base = re.split(r"[/\\]", name)[-1].strip().lstrip(".")
    return re.sub(r"[^\w.\- ()+]", "_", base)[:150]


def _url_basename(url: str) -> str:
    return _safe_name(PurePosixPath(unquote(urlparse(url).path)).name)


def _disposition_filename(header: str | None) -> str | None:
    if not header:
        return None
    star = re.search(r"filename\*\s*=\s*([^;]+)", header, re.IGNORECASE)
    if star:
        charset, _, rest = star.group(1).strip().strip('"').partition("'")
        value = rest.partition("'")[2]
        try:
            name = unquote(value, encoding=charset or "utf-8", errors="replace")
        except LookupError:
            name = unquote(value)
        return _safe_name(name) or None
    plain = re.search(r'filename\s*=\s*(?:"([^"]*)"|([^;]+))', header, re.IGNORECASE)
    if plain:
        return _safe_name(plain.group(1) or plain.group(2)) or None
    return None


def _stream_to_temp(folder: Path, key: str, chunks: Iterable[bytes]) -> tuple[Path, dict]:
    """Write ``chunks`` to a temporary file in ``folder``, returning it with sha256 and bytes.

    The temporary file is removed if anything fails.
    """
    fd, name = tempfile.mkstemp(prefix=f".{key}-", suffix=".part", dir=folder)
    tmp, digest, size, done = Path(name), hashlib.sha256(), 0, False
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        done = True
    finally:
        if not done:
            tmp.unlink(missing_ok=True)
    return tmp, {"sha256": digest.hexdigest(), "bytes": size}


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, name = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _raw(path: Path, meta: dict, *, changed: bool) -> RawFile:
    fields = ("sha256", "bytes", "fetched_at", "etag", "last_modified", "filename")
    return RawFile(path=path, source=meta["url"], changed=changed, **{f: meta[f] for f in fields})


def _load_stored(folder: Path, key: str, source: str) -> tuple[Path, dict] | None:
    """The stored copy for ``source`` and its sidecar, if both are there and agree."""
    for meta_path in sorted(folder.glob(f"{key}-*.meta.json")):
        path = meta_path.with_name(meta_path.name[: -len(".meta.json")])
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            if meta["url"] == source and path.stat().st_size == meta["bytes"]:
                _raw(path, meta, changed=False)  # every field is there
                return path, meta
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.debug("ignoring stored copy %s: %s", meta_path, exc)
    return None


def _conditional_headers(meta: dict | None) -> dict:
    names = {"etag": "If-None-Match", "last_modified": "If-Modified-Since"}
    return {header: meta[field] for field, header in names.items() if meta and meta.get(field)}


def _commit(final: Path, tmp: Path, meta: dict, stored: tuple[Path, dict] | None) -> RawFile:
    """Move ``tmp`` to ``final`` unless the stored copy has the same bytes; write the sidecar."""
    changed = not (stored and stored[1]["sha256"] == meta["sha256"] and stored[0] == final)
    meta["fetched_at"] = stored[1]["fetched_at"] if not changed else _now()
    if changed:
        os.replace(tmp, final)
    _write_json_atomic(_sidecar(final), meta)
    if stored and stored[0] != final:
        stored[0].unlink(missing_ok=True)
        _sidecar(stored[0]).unlink(missing_ok=True)
    logger.info("%s: %s %s", meta["url"], "stored" if changed else "unchanged", final.name)
    return _raw(final, meta, changed=changed)


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _describe(content_type: str | None, head: bytes) -> str:
    kind = (content_type or "an unknown content type").split(";")[0].strip()
    if _looks_like_html(head):
        return f"{kind} (an HTML page: the publisher may have moved the file)"
    return kind


def _check_expect(
    tmp: Path, content_type: str | None, expect: str | None, dataset: str, url: str
) -> None:
    """Raise BadFileError if the downloaded body is not the kind of file expected."""
    if expect is None:
        return
    with tmp.open("rb") as fh:
        head = fh.read(1024)
    if expect == "zip":
        ok = head.startswith(b"PK\x03\x04")
    elif expect == "csv":
        ok = not _looks_like_html(head)
    else:
        try:
            json.loads(tmp.read_text(encoding="utf-8-sig"))
            ok = True
        except ValueError:
            ok = False
    if not ok:
        label = {"zip": "a zip file", "csv": "a CSV file", "json": "JSON"}[expect]
        got = _describe(content_type, head)
        raise BadFileError(dataset, f"expected {label} but got {got}", url)


def sha256_file(path: Path) -> str:
    """The SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


_CORRUPT = (zipfile.BadZipFile, EOFError, zlib.error)
_SYMLINK = 0o120000


class SafeZip:
    """A read-only view of a zip that never extracts to disk and caps decompressed bytes.

    The cap (``max_total_bytes``) applies to all bytes this object decompresses, counted as
    they are read, so a member that lies about its size cannot exhaust memory.
    """

    def __init__(
        self, archive: zipfile.ZipFile, *, dataset: str, source: str, max_total_bytes: int
    ):
        self._zip = archive
        self._dataset = dataset
        self._source = source
        self._max = max_total_bytes
        self._read_total = 0

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying zip file."""
        self._zip.close()

    def names(self) -> list[str]:
        """Member file names, without directories."""
        return [info.filename for info in self._zip.infolist() if not info.is_dir()]

    def size(self, name: str) -> int:
        """The decompressed size member ``name`` declares (read() still counts what it gets)."""
        return self._zip.getinfo(name).file_size

    def opener(self, name: str) -> Callable[[], io.BufferedReader]:
        """A function opening member ``name`` as a binary stream each time it is called: its
        bytes are decompressed as they are read and counted against the zip's cap, so a reader
        that streams (``sendbench.csvread``) never holds the member whole."""
        try:
            info = self._zip.getinfo(name)
        except KeyError as exc:
            raise BadFileError(self._dataset, f"zip has no member {name!r}", self._source) from exc
        return lambda: io.BufferedReader(_Member(self, info), buffer_size=CHUNK)

    def _count(self, size: int) -> None:
        self._read_total += size
        if self._read_total > self._max:
            raise BadFileError(self._dataset, _bomb(self._max), self._source)

    def read(self, name: str) -> bytes:
        """The decompressed bytes of member ``name``."""
        try:
            info = self._zip.getinfo(name)
        except KeyError as exc:
            raise BadFileError(self._dataset, f"zip has no member {name!r}", self._source) from exc
        chunks = []
        try:
            with self._zip.open(info) as member:
                while chunk := member.read(CHUNK):
                    self._read_total += len(chunk)
                    if self._read_total > self._max:
                        raise BadFileError(self._dataset, _bomb(self._max), self._source)
                    chunks.append(chunk)
        except _CORRUPT as exc:
            raise _corrupt(self._dataset, self._source, exc) from exc
        except (NotImplementedError, RuntimeError) as exc:
            msg = f"cannot read {name!r} from the zip (unsupported compression or encrypted): {exc}"
            raise BadFileError(self._dataset, msg, self._source) from exc
        return b"".join(chunks)


class _Member(io.RawIOBase):
    """One zip member as a raw stream: decompressed as read, counted against the zip's cap,
    errors told as sendbench's (a corrupt member, an unsupported compression)."""

    def __init__(self, archive: SafeZip, info: zipfile.ZipInfo):
        self._archive, self._info = archive, info
        self._stream = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        archive = self._archive
        try:
            if self._stream is None:
                self._stream = archive._zip.open(self._info)
            data = self._stream.read(len(buffer))
        except _CORRUPT as exc:
            raise _corrupt(archive._dataset, archive._source, exc) from exc
        except (NotImplementedError, RuntimeError) as exc:
            msg = (f"cannot read {self._info.filename!r} from the zip (unsupported compression "
                   f"or encrypted): {exc}")  # fmt: skip
            raise BadFileError(archive._dataset, msg, archive._source) from exc
        archive._count(len(data))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        super().close()


class _ArchiveStream(io.BufferedReader):
    """A member's stream that closes its zip when it is closed (see :func:`member_opener`)."""

    def __init__(self, archive: SafeZip, info: zipfile.ZipInfo):
        super().__init__(_Member(archive, info), buffer_size=CHUNK)
        self._owner = archive

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._owner.close()


def member_opener(
    path: Path, name: str, *, dataset: str, source: str | None = None
) -> Callable[[], io.BufferedReader]:
    """A function opening member ``name`` of the zip at ``path`` as a stream, the zip opened
    (and checked) anew each time and closed with the stream: for readers that stream a member
    after the code that chose it has closed the zip."""

    def open_member() -> io.BufferedReader:
        archive = open_zip(path, dataset=dataset, source=source)
        try:
            info = archive._zip.getinfo(name)
        except KeyError as exc:
            archive.close()
            raise BadFileError(dataset, f"zip has no member {name!r}", archive._source) from exc
        return _ArchiveStream(archive, info)

    return open_member


def open_zip(
    path: Path,
    *,
    dataset: str,
    source: str | None = None,
    max_total_bytes: int = 2_000_000_000,
    max_members: int = 10_000,
) -> SafeZip:
    """Open a zip for reading after checking its member paths, count and declared sizes.

    ``source`` is where the file came from (its URL, or the file under a ``--from`` folder),
    named in errors; the path itself by default."""
    source = source or str(path)
    kind = sniff(path) if Path(path).is_file() else None
    if kind is not None:
        raise BadFileError(dataset, f"{Path(source).name} is {kind}, not a zip file; "
                           f"{_remedy(source)}", source)  # fmt: skip
    try:
        archive = zipfile.ZipFile(path)
    except _CORRUPT as exc:
        raise _corrupt(dataset, source, exc) from exc
    except OSError as exc:
        raise BadFileError(dataset, f"cannot open zip file: {exc.strerror or exc}", source) from exc
    try:
        _check_members(archive.infolist(), dataset, source, max_total_bytes, max_members)
    except BadFileError:
        archive.close()
        raise
    return SafeZip(archive, dataset=dataset, source=source, max_total_bytes=max_total_bytes)


def _check_members(
    infos: list[zipfile.ZipInfo], dataset: str, source: str, max_total: int, max_members: int
) -> None:
    if len(infos) > max_members:
        msg = f"zip has {len(infos)} members, more than the limit of {max_members}"
        raise BadFileError(dataset, msg, source)
    for info in infos:
        if _unsafe_name(info.filename):
            raise BadFileError(dataset, f"unsafe path in zip: {info.filename!r}", source)
        if (info.external_attr >> 16) & 0o170000 == _SYMLINK:
            msg = f"unsafe path in zip: {info.filename!r} is a symbolic link"
            raise BadFileError(dataset, msg, source)
    if sum(info.file_size for info in infos) > max_total:
        raise BadFileError(dataset, _bomb(max_total), source)


def _unsafe_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return True
    return ".." in re.split(r"[/\\]", name)


def _bomb(limit: int) -> str:
    return f"zip decompresses to more than {limit:,} bytes (a zip bomb?); refusing to read it"


def _corrupt(dataset: str, source: str, exc: Exception) -> BadFileError:
    msg = (
        f"{Path(source).name} is not a readable zip file (truncated or corrupt?): {exc}; "
        f"{_remedy(source)}"
    )
    return BadFileError(dataset, msg, source)


def _remedy(source: str) -> str:
    """What to do about a bad file: a download is fetched again, a local file is replaced."""
    if urlparse(source).scheme in ("http", "https"):
        return "delete it from the raw store and fetch it again"
    return f"the file {source} is the problem: replace it with the file as published"


def not_data(dataset: str, name: str, kind: str, source: str) -> BadFileError:
    """The error for a file that is ``kind`` (what :func:`sniff` found) where data was expected."""
    if urlparse(source).scheme in ("http", "https"):
        where = "the publisher sent it in place of the file: try again later or check the URL"
    else:
        where = f"the file {source} is the problem: replace it with the file as published"
    if kind.startswith("UTF-16"):
        where += " (or save it as UTF-8)"
    return BadFileError(dataset, f"{name} is {kind}, not the published file; {where}", source)


def sniff(path: Path) -> str | None:
    """What a file that should hold data really is, when it is plainly not data: ``an empty
    file``, ``an HTML page`` (a web page saved under a data file's name) or ``UTF-16 text``
    (the encoding named); None otherwise."""
    with Path(path).open("rb") as fh:
        head = fh.read(4096)
    return sniff_bytes(head)


def sniff_bytes(head: bytes) -> str | None:
    if not head:
        return "an empty file (0 bytes)"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"PAR1", b"\xd0\xcf\x11\xe0")):
        return None  # a zip (xlsx, ods; or an empty zip), a gzip, Parquet or an old Excel file
    text = head[:1024].lstrip(b"\xef\xbb\xbf \r\n\t").lower()
    if text.startswith((b"<!doctype html", b"<html", b"<?xml")) and b"<html" in head.lower():
        return "an HTML page"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text (it starts with a UTF-16 byte-order mark)"
    even, odd = head[0::2], head[1::2]
    for zeros, others in ((odd, even), (even, odd)):  # little- then big-endian
        if len(head) >= 8 and zeros.count(0) >= 0.9 * len(zeros) and others.count(0) == 0:
            return "UTF-16 text (every other byte is zero)"
    return None
