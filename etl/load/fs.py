"""A dataset root on a ``pyarrow.fs`` filesystem, and the one write that no reader ever sees half done.

Local roots publish a file by writing ``.<name>.<uuid>.tmp`` beside it and renaming it over the final name
(POSIX ``rename`` replaces atomically). Object stores have no rename; there an upload becomes visible whole,
replacing the previous object, only when it completes, so the final key is written directly from one
in-memory buffer (a crash mid-upload leaves at most an invisible, unfinished multipart upload).

Every error that reaches the user goes through ``store_error``: a clear ``DestinationError`` (exit 2) or,
for refused credentials, ``AuthError`` (exit 4), with credentials scrubbed from the text.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.fs as pafs

from etl.config import env_value, proxy_for
from etl.errors import AuthError, DestinationError, EtlError, certificate_refusal, refusal_text, storage_full

TEMP_SUFFIX = ".tmp"
# Object-store calls at open time fail fast: a wrong endpoint should not cost the SDK's retry budget.
_PROBE_ATTEMPTS = 1
_IO_ATTEMPTS = 5
_CONNECT_TIMEOUT_S = 5.0
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
_AUTH_MARKERS = (
    "ACCESS_DENIED",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "HTTP response code: 403",
    "HTTP response code: 401",
)
# The AWS SDK's words for a server certificate it refused (curl's code 60: an unknown CA, expired, another host's).
_UNTRUSTED_MARKERS = ("curlCode: 60", "SSL peer certificate", "unable to get local issuer certificate")


@dataclass
class Store:
    """A root directory (or object prefix) and the few operations the Parquet destination needs."""

    fs: pafs.FileSystem
    root: str  # path inside ``fs``, without a trailing slash
    display: str  # the root as users may see it: no credentials, no query string
    _made_dirs: set[str] = field(default_factory=set, repr=False)

    @property
    def local(self) -> bool:
        """True when files can be renamed into place and locked with ``flock`` (a local filesystem)."""
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, relative: str) -> str:
        """The filesystem path of a path relative to the root."""
        return f"{self.root}/{relative}" if relative else self.root

    def exists(self) -> bool:
        """True when the root exists (a directory, a bucket, or a prefix with objects under it)."""
        with store_error(self, "read"):
            found: bool = self.fs.get_file_info(self.root).type == pafs.FileType.Directory
            return found

    def read_bytes(self, relative: str) -> bytes | None:
        """A file's bytes, or None when it does not exist."""
        with store_error(self, f"read {relative}"):
            try:
                with self.fs.open_input_stream(self.path(relative), compression=None) as stream:
                    data: bytes = stream.read()
                    return data
            except FileNotFoundError:
                return None

    def read_table(self, relative: str) -> pa.Table | None:
        """A Parquet file as a table, or None when it does not exist."""
        data = self.read_bytes(relative)
        if data is None:
            return None
        with store_error(self, f"read {relative}"):
            # One whole-object read (files are per day and bucket: small), then no dataset machinery.
            import pyarrow.parquet as pq  # loaded by the Parquet side only (libparquet: 7 MB)

            return pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)

    def write_atomic(self, relative: str, data: bytes | pa.Buffer) -> None:
        """Publish ``data`` under ``relative`` so readers see the old content or the new, never a part."""
        self.stage(relative, data).publish()

    def stage(self, relative: str, data: bytes | pa.Buffer) -> Staged:
        """``data`` made ready to publish under ``relative`` where no reader looks: a hidden temp file beside it
        (local), or the bytes held for one upload (object stores). Nothing is replaced until ``publish``."""
        final = self.path(relative)
        if not self.local:
            return Staged(self, relative, data=data)
        with store_error(self, f"write {relative}"):
            parent, _, name = final.rpartition("/")
            if parent not in self._made_dirs:
                os.makedirs(parent, exist_ok=True)
                self._made_dirs.add(parent)
            temp = f"{parent}/.{name}.{uuid.uuid4().hex}{TEMP_SUFFIX}"
            try:
                # Plain file calls, not pyarrow.fs: a third of the cost of a small file (its move stats and checks).
                with open(temp, "wb") as out:
                    out.write(memoryview(data))
            except BaseException:
                with suppress(OSError):
                    os.remove(temp)
                raise
        return Staged(self, relative, temp=temp)

    def stage_parquet(self, relative: str, table: pa.Table) -> Staged:
        """A table encoded as a zstd Parquet file and staged (``stage``)."""
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        return self.stage(relative, sink.getvalue())

    def _upload(self, path: str, data: bytes | pa.Buffer) -> None:
        # One write call from a complete buffer: a failure while serialising can never reach the store.
        # compression=None: the bytes are stored as given (pyarrow would gzip a name ending in .gz again).
        with self.fs.open_output_stream(path, compression=None) as stream:
            stream.write(data)

    def _publish(self, temp: str, final: str) -> None:
        os.replace(temp, final)

    def write_parquet(self, relative: str, table: pa.Table) -> None:
        """Write a table as a zstd Parquet file, atomically."""
        self.stage_parquet(relative, table).publish()

    def delete(self, relative: str) -> None:
        """Remove a file; a missing file is fine."""
        with store_error(self, f"delete {relative}"), suppress(FileNotFoundError):
            self.fs.delete_file(self.path(relative))

    def list_files(self, relative: str, *, recursive: bool = True) -> list[pafs.FileInfo]:
        """The files under a directory (none when it does not exist), paths relative to the root."""
        with store_error(self, f"list {relative}"):
            infos = self.fs.get_file_info(
                pafs.FileSelector(self.path(relative), recursive=recursive, allow_not_found=True)
            )
        prefix = len(self.root) + 1
        return [
            pafs.FileInfo(i.path[prefix:], pafs.FileType.File, mtime=i.mtime, size=i.size)
            for i in infos
            if i.type == pafs.FileType.File
        ]


@dataclass
class Staged:
    """One file of a batch made ready but not yet visible: ``publish`` replaces the file in one step (a rename,
    or one upload), ``discard`` forgets it. A batch stages every file first, so a file it cannot read or write
    stops it before any file is replaced; ``delete`` stages the removal of a file that ends up empty."""

    store: Store
    relative: str
    temp: str | None = None
    data: bytes | pa.Buffer | None = None
    delete: bool = False

    def publish(self) -> None:
        """Make the staged content (or the removal) visible."""
        store = self.store
        if self.delete:
            store.delete(self.relative)
            return
        with store_error(store, f"write {self.relative}"):
            if self.temp is not None:
                store._publish(self.temp, store.path(self.relative))
            elif self.data is not None:
                store._upload(store.path(self.relative), self.data)

    def discard(self) -> None:
        """Drop the staged content: the file stays as it was."""
        if self.temp is not None:
            with suppress(OSError):
                os.remove(self.temp)
        self.data = None


def is_temp_name(name: str) -> bool:
    """True for the temporary names ``write_atomic`` uses (no reader's glob or dataset matches them)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def open_store(
    uri: str, *, endpoint_url: str | None = None, must_exist: bool = True, what: str = "destination"
) -> Store:
    """Resolve and check a root: a local path or any ``pyarrow.fs`` URI (``s3://bucket/prefix``).

    ``endpoint_url`` (else ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``) points S3 at a compatible store.
    An unreachable store or a missing bucket raises ``DestinationError`` (``AuthError`` when refused) before
    anything is written; so does a missing root ``must_exist`` (writers create theirs on first write). ``what``
    names the root in those messages (a raw archive is not a destination).
    """
    display = display_uri(uri)
    if "://" not in uri or uri.startswith("file://"):
        return _open_local(uri.removeprefix("file://"), display, must_exist=must_exist, what=what)
    if uri.startswith("s3://"):
        endpoint = endpoint_url or env_value("AWS_ENDPOINT_URL_S3") or env_value("AWS_ENDPOINT_URL")
        store = _open_s3(uri, display, endpoint)
    else:
        try:
            filesystem, root = pafs.FileSystem.from_uri(uri)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DestinationError(f"cannot open destination {display}: {scrub(str(exc))}") from None
        store = Store(filesystem, root.rstrip("/"), display)
    if must_exist and not store.exists():
        raise DestinationError(f"{what} {display} does not exist (nothing is stored under it)")
    return store


def _open_local(path: str, display: str, *, must_exist: bool, what: str = "destination") -> Store:
    filesystem = pafs.LocalFileSystem()
    root = filesystem.normalize_path(_absolute(path)).rstrip("/") or "/"
    info = filesystem.get_file_info(root)
    if info.type == pafs.FileType.File:
        raise DestinationError(f"{what} {display} is a file, not a directory")
    if info.type == pafs.FileType.NotFound and must_exist:
        raise DestinationError(f"{what} {display} does not exist")
    return Store(filesystem, root, display)


def _absolute(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def _open_s3(uri: str, display: str, endpoint: str | None) -> Store:
    parts = urlsplit(uri)
    bucket = parts.netloc
    if not bucket:
        raise DestinationError(f"destination {display} names no bucket (use s3://bucket/prefix)")
    root = f"{bucket}/{parts.path.strip('/')}".rstrip("/")
    region = env_value("AWS_REGION") or env_value("AWS_DEFAULT_REGION")
    if region is None and endpoint is None:
        try:
            region = pafs.resolve_s3_region(bucket)
        except OSError as exc:
            raise _classify(f"cannot reach S3 for bucket {bucket!r}", exc) from None
    where = f" at {display_uri(endpoint)}" if endpoint else ""
    probe = _s3(endpoint, region, _PROBE_ATTEMPTS)
    try:
        bucket_type = probe.get_file_info(bucket).type
    except OSError as exc:
        raise _classify(f"cannot use bucket {bucket!r}{where}", exc) from None
    if bucket_type == pafs.FileType.NotFound:
        raise DestinationError(f"bucket {bucket!r} does not exist{where}")
    return Store(_s3(endpoint, region, _IO_ATTEMPTS), root, display)


def _s3(endpoint: str | None, region: str | None, attempts: int) -> pafs.S3FileSystem:
    region = region or "us-east-1"
    url = endpoint if endpoint and "://" in endpoint else f"https://{endpoint or f's3.{region}.amazonaws.com'}"
    return pafs.S3FileSystem(
        region=region,
        endpoint_override=endpoint,
        # A small file then goes up in one PUT instead of a three-request multipart upload.
        allow_delayed_open=True,
        connect_timeout=_CONNECT_TIMEOUT_S,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=attempts),
        # The AWS SDK reads neither proxy variables nor SSL_CERT_FILE: the same ones as the API's, passed on.
        proxy_options=proxy_for(url),
        tls_ca_file_path=env_value("SSL_CERT_FILE"),
    )


@contextmanager
def store_error(store: Store, action: str) -> Iterator[None]:
    """Turn the filesystem's ``OSError`` into ``DestinationError``/``AuthError`` naming the root."""
    try:
        yield
    except EtlError:
        raise
    except (OSError, pa.ArrowException) as exc:
        raise _classify(f"cannot {action} at {store.display}", exc) from None


def _classify(context: str, exc: BaseException) -> EtlError:
    text = scrub(str(exc))
    if any(marker in text for marker in _AUTH_MARKERS):
        return AuthError(f"{context}: access refused ({text})", status=403)
    if any(marker in text for marker in _UNTRUSTED_MARKERS):
        refusal = certificate_refusal(exc) or refusal_text(text)
        return DestinationError(f"{context}: its TLS certificate was refused {refusal}")
    full = storage_full(context, exc)
    if full is not None:
        return full
    return DestinationError(f"{context}: {text}")


def scrub(text: str) -> str:
    """Remove every configured credential from a message."""
    for name in _SECRET_ENV:
        value = env_value(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return re.sub(r"(?i)(secret_key|access_key|session_token)=[^&\s]+", r"\1=***", text)


def display_uri(uri: str) -> str:
    """A URI fit for messages and state: user info and query string (where credentials can hide) removed."""
    if "://" not in uri:
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
