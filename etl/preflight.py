"""Every input checked before anything is opened: the one validation step all commands and sources share.

A command reads and checks all it was given (ids on the command line and in files, dates, windows, the
destination, the base URL, keys and tokens) and only then creates, claims or writes anything, so an input
error (``InputError``, exit 2) leaves the destination absent or byte for byte as it was.

    check_settings(settings)        key or token, base URL (scheme, port, host), header values
    check_destination(uri)          --dest / --archive: empty, devices, files vs directories, foreign files
    check_sources(sources)          every id of every file read now; stdin and pipes kept, read once
    check_window(since, until, n)   a backfill window of at most MAX_CHUNKS chunks
"""

from __future__ import annotations

import dataclasses
import functools
import os
import socket
import ssl
import stat
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import httpx

from etl.config import Settings, check_secret, env_value, proxy_for
from etl.errors import DestinationError, InputError
from etl.extract.client import check_base_url
from etl.extract.ids import RunRef, validate_id
from etl.extract.sources import is_reread_safe, read_runs_file, read_threads_file

if TYPE_CHECKING:
    from etl.pipeline import Sources

MAX_CHUNKS = 100_000  # a backfill of more chunks is a typo (--chunk 30m over 8,000 years), not a job
# Schemes pyarrow.fs opens as a Parquet root; anything else is refused before a file is touched.
DEST_SCHEMES = frozenset({"s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "file"})
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB file
_SHOWN = 80  # characters of a bad value quoted back
_Instant = TypeVar("_Instant", int, datetime)  # Unix seconds (export, backfill) or a datetime (report)


def shown(value: str) -> str:
    """A value as quoted in a message: repr, cut to a readable length."""
    return repr(value[:_SHOWN]) + ("..." if len(value) > _SHOWN else "")


def check_settings(settings: Settings, *, key_env: str | None = None) -> None:
    """Refuse settings no request could be sent with: a malformed key or token, base URL or header value.

    The host name is not looked up here (``check_host_resolves``): that comes last, after every local check.
    """
    what = f"the API key in ${key_env}" if key_env else "the API key"
    if settings.api_key:
        check_secret(settings.api_key.reveal(), what)
    for name, value in (("--organization", settings.organization), ("--project", settings.project)):
        if value is not None and (not value.isascii() or not value.isprintable() or not value.strip()):
            raise InputError(f"{name} {shown(value)} cannot be sent in a header: use printable ASCII only")
    check_base_url_text(settings.base_url)
    check_base_url(settings)  # the client's own rules: no query, no key over plain http to another host
    check_proxy(settings.base_url)
    check_ca_bundle(env_value("SSL_CERT_FILE"), "SSL_CERT_FILE")


def check_ca_bundle(path: str | None, what: str) -> None:
    """Refuse a CA bundle (``--ca-bundle``, ``$SSL_CERT_FILE``) that is missing or holds no certificate."""
    if not path:
        return
    reason = _ca_bundle_problem(path, _file_stamp(path))
    if reason is not None:
        raise InputError(
            f"{what} {shown(path)} is not a readable PEM file of CA certificates ({reason}): give the file the"
            " proxy's or your organisation's CA certificates are in"
        ) from None


@functools.cache
def _ca_bundle_problem(path: str, stamp: tuple[int, int] | None) -> str | None:
    """Why ``path`` is not a usable CA bundle, or None; asked once per file version (loading one takes ~20 ms,
    and an export checks ``$SSL_CERT_FILE`` both in the command and in the pipeline)."""
    try:
        ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError, ValueError) as exc:
        return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return None


def _file_stamp(path: str) -> tuple[int, int] | None:
    """A file's modification time and size (None when it cannot be read): a changed file is checked again."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def check_proxy(url: str) -> None:
    """Refuse a proxy from ``HTTPS_PROXY``/``HTTP_PROXY`` that no request could go through."""
    proxy = proxy_for(url)
    if proxy is None:
        return
    given = _without_userinfo(proxy)
    try:
        parsed = httpx.URL(proxy)
        port = parsed.port
    except (httpx.InvalidURL, ValueError):
        raise InputError(
            f"the proxy {shown(given)} (HTTPS_PROXY/HTTP_PROXY) is not a valid URL: give http://host:port"
        ) from None
    if parsed.scheme not in ("http", "https") or not parsed.host or (port is not None and not 1 <= port <= 65535):
        raise InputError(f"the proxy {shown(given)} (HTTPS_PROXY/HTTP_PROXY) must be http://host:port")


def check_base_url_text(text: str) -> httpx.URL:
    """The base URL parsed, or an ``InputError`` that quotes the URL given (without any user info in it)."""
    given = _without_userinfo(text)
    if not text.strip():
        raise InputError("the base URL is empty: give --base-url https://host/v1 (or unset $OPENAI_BASE_URL)")
    if text != text.strip() or any(ch.isspace() for ch in text):
        raise InputError(f"base URL {shown(given)} contains whitespace: give the URL alone")
    try:
        url = httpx.URL(text)
        port = url.port
    except (httpx.InvalidURL, ValueError) as exc:
        why = "" if "@" in text else f" ({exc})"  # the parser's reason may quote a piece of the user info
        raise InputError(f"base URL {shown(given)} is not a valid URL{why}: give https://host[:port]/path") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InputError(f"base URL {shown(given)} must start with https:// (or http:// for a local server)")
    if port is not None and not 1 <= port <= 65535:
        raise InputError(f"base URL {shown(given)} has port {port}: a port is 1 to 65535")
    if url.query or url.fragment:
        raise InputError(
            f"base URL {shown(given)} has a query or fragment: give the path only (Azure: --azure-api-version)"
        )
    if url.userinfo:
        raise InputError(f"base URL {shown(given)} carries user info: give the key in its variable, not in the URL")
    return url


def check_host_resolves(settings: Settings) -> None:
    """Refuse a base URL whose host name does not resolve (unless a proxy resolves it for us)."""
    url = httpx.URL(settings.base_url)
    if _proxied(url):
        return
    try:
        socket.getaddrinfo(url.host, url.port or (443 if url.scheme == "https" else 80), proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(
            f"cannot resolve the API host {url.host!r} ({reason}): check --base-url and the network"
        ) from None


def _proxied(url: httpx.URL) -> bool:
    return proxy_for(str(url)) is not None


def _without_userinfo(text: str) -> str:
    """``text`` with everything before its last ``@`` shown as ``***``: user info however malformed (no scheme, a
    ``/`` in the password), at the price of hiding a path's ``@`` too."""
    if "@" not in text:
        return text
    scheme, sep, _ = text.partition("://")
    head = f"{scheme}://" if sep and "@" not in scheme else ""
    return f"{head}***@{text.rsplit('@', 1)[1]}"


def check_destination(uri: str, *, read_only: bool = False, what: str = "--dest") -> None:
    """Refuse a destination that cannot be what it is asked to be, before anything is created or claimed.

    ``*.duckdb`` must be a DuckDB file (or not exist yet); anything else is a Parquet root directory or a
    ``pyarrow.fs`` URI. Devices (``/dev/null``), FIFOs, empty strings, unknown schemes and files of another
    kind are input errors; a new root's nearest existing parent must be a writable directory.
    """
    from etl.load import is_duckdb_uri

    if not uri.strip():
        raise DestinationError(
            f"{what} is empty: give a *.duckdb file or a Parquet root (a directory or s3://bucket/prefix)"
        )
    if "\0" in uri or uri != uri.strip():
        raise DestinationError(
            f"{what} {shown(uri)} contains a NUL byte or surrounding whitespace: give the path alone"
        )
    scheme, sep, _ = uri.partition("://")
    if sep and scheme.lower() != "file":
        if is_duckdb_uri(uri):
            raise DestinationError(
                f"{what} {shown(uri)} is not a local file path: a DuckDB destination is a *.duckdb file on this machine"
            )
        if scheme.lower() not in DEST_SCHEMES:
            raise DestinationError(
                f"{what} {shown(uri)} has an unknown scheme {scheme!r}: use a local path or s3://bucket/prefix"
            )
        return
    path = Path(os.path.abspath(os.path.expanduser(uri.removeprefix("file://"))))
    if is_duckdb_uri(uri):
        _check_duckdb_path(path, uri, read_only=read_only, what=what)
    else:
        _check_root_path(path, uri, read_only=read_only, what=what)


def _check_duckdb_path(path: Path, uri: str, *, read_only: bool, what: str) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if read_only:
            raise DestinationError(f"{what} {shown(uri)} does not exist: export into it first") from None
        _check_parent(path, uri, what)
        return
    except OSError as exc:
        raise DestinationError(
            f"{what} {shown(uri)} cannot be used: {exc.strerror}: check the path and its permissions"
        ) from None
    if stat.S_ISDIR(mode):
        raise DestinationError(f"{what} {shown(uri)} is a directory: a DuckDB destination is a file")
    if not stat.S_ISREG(mode):
        raise DestinationError(
            f"{what} {shown(uri)} is not a regular file (a device or a pipe): give a *.duckdb file path"
        )
    try:
        with open(path, "rb") as file:
            head = file.read(12)
    except OSError as exc:
        raise DestinationError(
            f"{what} {shown(uri)} cannot be read: {exc.strerror}: check its permissions, or give another path"
        ) from None
    if head[8:12] != _DUCKDB_MAGIC:
        kind = "empty" if not head else "another kind of file"
        raise DestinationError(
            f"{what} {shown(uri)} exists but is not a DuckDB file ({kind}): give a new path, or move that file away"
        )
    # DuckDB writes the file and a write-ahead log beside it.
    if not read_only and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
        raise DestinationError(f"{what} {shown(uri)} is not writable: choose a file you can write to")


def _check_root_path(path: Path, uri: str, *, read_only: bool, what: str) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if not read_only:
            _check_parent(path, uri, what)
        return  # readers say "does not exist" themselves
    except OSError as exc:
        raise DestinationError(
            f"{what} {shown(uri)} cannot be used: {exc.strerror}: check the path and its permissions"
        ) from None
    if stat.S_ISREG(mode):
        raise DestinationError(
            f"{what} {shown(uri)} is a file: a Parquet root is a directory (a *.duckdb name for DuckDB)"
        )
    if not stat.S_ISDIR(mode):
        raise DestinationError(f"{what} {shown(uri)} is not a directory (a device or a pipe): give a directory")
    if not read_only and not os.access(path, os.W_OK | os.X_OK):
        raise DestinationError(f"{what} {shown(uri)} is not writable: choose a directory you can write to")


def _check_parent(path: Path, uri: str, what: str) -> None:
    """The nearest existing ancestor of a path to be created must be a directory this process can write to."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise DestinationError(f"{what} {shown(uri)} cannot be created: {parent} is not a directory: give another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DestinationError(
            f"{what} {shown(uri)} cannot be created: {parent} is not writable: give a path you can write to"
        )


def check_order(since: _Instant | None, until: _Instant | None) -> None:
    """``--since`` before ``--until`` (either may be absent): the one check of every command that takes both."""
    if since is not None and until is not None and since >= until:
        raise InputError("--since must be before --until: give an earlier --since or a later --until")


def check_window(since: int, until: int, chunk_seconds: int) -> int:
    """The number of chunks of a backfill window; an empty or absurdly long window is an ``InputError``."""
    check_order(since, until)
    count = -(-(until - since) // chunk_seconds)
    if count > MAX_CHUNKS:
        raise InputError(
            f"the window --since/--until cut into --chunk pieces makes {count:,} chunks (at most {MAX_CHUNKS:,}): "
            "use a larger --chunk or a shorter window"
        )
    return count


def check_sources(sources: Sources) -> Sources:
    """``sources`` with every id checked now: thread ids and threads files resolved into ``threads``, runs files
    read through once (those that cannot be read twice, stdin and pipes, kept as ``runs``).

    Regular runs files stay paths and are read again lazily by the export, so a file of millions of runs is
    never held in memory; whatever is wrong in any line is an ``InputError`` now, before anything is opened.
    """
    if sources.checked:
        return sources
    threads = [validate_id("thread", t.strip()) for t in sources.threads]
    for path in sources.threads_files:
        threads.extend(read_threads_file(path))
    runs: list[RunRef] = list(sources.runs)
    runs_files: list[str] = []
    for path in sources.runs_files:
        if is_reread_safe(path):
            # Read through, every line checked; a file holding no run is left out (only empty files: nothing to do).
            if sum(1 for _ in read_runs_file(path)):
                runs_files.append(path)
        else:
            runs.extend(read_runs_file(path))
    return dataclasses.replace(
        sources,
        runs=tuple(runs),
        runs_files=tuple(runs_files),
        threads=tuple(dict.fromkeys(threads)),
        threads_files=(),
        checked=True,
    )
