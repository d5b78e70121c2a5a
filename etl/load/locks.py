"""The writer's claim on a shard's buckets, so two exports of overlapping shards never write the same files.

Local roots: one ``fcntl.flock`` per bucket on ``<root>/_state/locks/bucket-07.lock``. The kernel drops the
lock when the process dies, even by SIGKILL, so a crashed export never blocks the next one.

Object stores offer no atomic create through ``pyarrow.fs``, so there a claim is a lease object
``_state/locks/bucket-07.json`` (owner token, host, pid, expiry), taken in three steps: read (refuse a live
lease of someone else), write ours, wait ``LEASE_SETTLE_SECONDS`` and read again (keep it only if ours is
still there). A background thread renews the lease; writes stop (``check``) once it could have run out.
A lease is free once expired, or at once when its holder is a dead process on this same host.

What remains of the race, honestly: two writers whose read and write of a lease are further apart than the
settle time (a stalled process, a very slow store) can both believe they won; a writer frozen for longer than
the lease while between ``check`` and a file write can overlap its successor; clocks of different machines
must agree to within a few seconds. Exports of disjoint shards never touch the same lease or data files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Protocol

from etl.errors import DestinationBusyError
from etl.load.fs import Store

LOCK_DIR = "_state/locks"
LEASE_SECONDS = 60.0
LEASE_SETTLE_SECONDS = 0.5
# Stop writing this long before the lease could have expired, for clock skew and slow requests.
_LEASE_MARGIN = 0.25


@dataclass(frozen=True)
class Holder:
    """Who holds a bucket: shown to the export that is refused."""

    token: str
    host: str
    pid: int
    since: float  # unix seconds
    expires_at: float | None = None  # leases only
    pid_ns: str | None = None  # the holder's pid namespace: a pid means the same process only within it

    @classmethod
    def me(cls, token: str) -> Holder:
        """This process."""
        return cls(token, socket.gethostname(), os.getpid(), time.time(), pid_ns=_pid_namespace())

    def describe(self) -> str:
        """``host h, pid 12, since 2026-11-25T09:00:00Z``."""
        since = datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"host {self.host}, pid {self.pid}, since {since}"

    def to_json(self) -> bytes:
        """The holder as JSON bytes."""
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Holder | None:
        """Parse a holder; None for an empty or unreadable file."""
        try:
            fields = json.loads(data)
            return cls(**fields)
        except (ValueError, TypeError):
            return None

    def is_dead_here(self) -> bool:
        """True when the holder was a process on this host (same pid namespace) that no longer runs."""
        if self.host != socket.gethostname() or self.pid_ns is None or self.pid_ns != _pid_namespace():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


class Claim(Protocol):
    """A writer's exclusive right to some buckets of a destination."""

    def acquire(self) -> None:
        """Take every bucket or none; raise ``DestinationBusyError`` naming the holder."""

    def check(self) -> None:
        """Raise ``DestinationBusyError`` when the claim may have been lost (before each write)."""

    def release(self) -> None:
        """Give the buckets back."""


def claim_buckets(store: Store, buckets: tuple[int, ...]) -> Claim:
    """The claim that fits the store: kernel locks on a local root, leases on an object store."""
    return FileLockClaim(store, buckets) if store.local else LeaseClaim(store, buckets)


def lock_name(bucket: int, suffix: str) -> str:
    """``_state/locks/bucket-07.<suffix>``."""
    return f"{LOCK_DIR}/bucket-{bucket:02d}.{suffix}"


def _busy(store: Store, bucket: int, holder: Holder | None) -> DestinationBusyError:
    who = holder.describe() if holder else "another process"
    return DestinationBusyError(
        f"destination {store.display} is busy: bucket {bucket} is being written by {who}; "
        "wait for that export to finish, or export a disjoint --shard"
    )


class FileLockClaim:
    """``flock`` on one file per bucket (the file's content only tells others who holds it)."""

    def __init__(self, store: Store, buckets: tuple[int, ...]) -> None:
        self._store = store
        self._buckets = buckets
        self._fds: list[int] = []

    def acquire(self) -> None:
        """Lock every bucket without waiting, or release what was taken and raise."""
        os.makedirs(self._store.path(LOCK_DIR), exist_ok=True)
        me = Holder.me(uuid.uuid4().hex).to_json()
        for bucket in self._buckets:
            fd = os.open(self._store.path(lock_name(bucket, "lock")), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = Holder.from_json(os.pread(fd, 4096, 0))
                os.close(fd)
                self.release()
                raise _busy(self._store, bucket, holder) from None
            self._fds.append(fd)
            os.ftruncate(fd, 0)
            os.pwrite(fd, me, 0)

    def check(self) -> None:
        """Kernel locks cannot be lost while the process lives."""

    def release(self) -> None:
        """Unlock and close (the files stay: deleting a lock file races with its next taker)."""
        for fd in self._fds:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._fds.clear()


class LeaseClaim:
    """Lease objects, confirmed by re-reading and renewed by a background thread."""

    def __init__(self, store: Store, buckets: tuple[int, ...]) -> None:
        self._store = store
        self._buckets = buckets
        self._me = Holder.me(uuid.uuid4().hex)
        self._valid_until = 0.0  # time.monotonic() after which our lease may have run out
        self._lost: DestinationBusyError | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lease")

    def _read_all(self) -> list[Holder | None]:
        def read(bucket: int) -> Holder | None:
            data = self._store.read_bytes(lock_name(bucket, "json"))
            return Holder.from_json(data) if data is not None else None

        return list(self._pool.map(read, self._buckets))

    def _write_all(self) -> float:
        started = time.monotonic()
        lease = Holder(**{**asdict(self._me), "expires_at": time.time() + LEASE_SECONDS})
        list(self._pool.map(lambda b: self._store.write_atomic(lock_name(b, "json"), lease.to_json()), self._buckets))
        return started

    def _first_foreign(self, holders: list[Holder | None], *, live_only: bool) -> tuple[int, Holder | None] | None:
        now = time.time()
        for bucket, holder in zip(self._buckets, holders, strict=True):
            if holder is None or holder.token == self._me.token:
                continue
            expired = holder.expires_at is not None and holder.expires_at < now
            if live_only and (expired or holder.is_dead_here()):
                continue
            return bucket, holder
        return None

    def acquire(self) -> None:
        """Refuse live foreign leases, write ours, settle, confirm; then renew in the background."""
        taken = self._first_foreign(self._read_all(), live_only=True)
        if taken:
            raise _busy(self._store, *taken)
        started = self._write_all()
        time.sleep(LEASE_SETTLE_SECONDS)
        taken = self._first_foreign(self._read_all(), live_only=False)
        if taken:
            self._delete_ours()
            raise _busy(self._store, *taken)
        self._valid_until = started + LEASE_SECONDS * (1 - _LEASE_MARGIN)
        self._renewer = threading.Thread(target=self._renew, name="lease-renewer", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 4):
            try:
                taken = self._first_foreign(self._read_all(), live_only=False)
                if taken:
                    self._lost = _busy(self._store, *taken)
                    return
                started = self._write_all()
                self._valid_until = started + LEASE_SECONDS * (1 - _LEASE_MARGIN)
            except Exception:  # keep renewing: check() stops the writes once the lease may be gone
                continue

    def check(self) -> None:
        """Raise when another writer took a bucket or our lease may have expired."""
        if self._lost:
            raise self._lost
        if time.monotonic() > self._valid_until:
            raise DestinationBusyError(
                f"destination {self._store.display}: this export's lease could not be renewed in time; "
                "stopped writing so that another export can take over safely"
            )

    def _delete_ours(self) -> None:
        for bucket, holder in zip(self._buckets, self._read_all(), strict=True):
            if holder is not None and holder.token == self._me.token:
                self._store.delete(lock_name(bucket, "json"))

    def release(self) -> None:
        """Stop renewing and delete the leases that are still ours."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        try:
            self._delete_ours()
        finally:
            self._pool.shutdown()


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
