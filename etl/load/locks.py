"""The writer's claim on a shard's buckets, so two exports of overlapping shards never write the same files.

Local roots: one ``fcntl.flock`` per bucket on ``<root>/_state/locks/bucket-07.lock``. The kernel drops the
lock when the process dies, even by SIGKILL, so a crashed export never blocks the next one.

Object stores offer no atomic create through ``pyarrow.fs``, so there a claim is a lease object
``_state/locks/lease-<token>.json`` (buckets, host, pid, since, expiry), taken in three steps: list and read
the leases (refuse if a live one overlaps our buckets), write ours, wait ``LEASE_SETTLE_SECONDS`` and look
again (withdraw if an older overlapping lease appeared). One object per claim, not per bucket: a claim costs
a handful of requests, and two racing writers decide by the same rule. A background thread renews the lease;
writes stop (``check``) once it could have run out. A lease is free once expired, or at once when its holder
is a dead process on this same host (same pid namespace).

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
from dataclasses import asdict, dataclass, field, replace
from typing import Protocol

from etl.errors import DestinationBusyError
from etl.load.fs import Store
from etl.values import iso

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
    buckets: list[int] = field(default_factory=list)  # leases only

    @classmethod
    def me(cls, token: str) -> Holder:
        """This process."""
        return cls(token, socket.gethostname(), os.getpid(), time.time(), pid_ns=_pid_namespace())

    def describe(self) -> str:
        """``host h, pid 12, since 2026-11-25T09:00:00+00:00``."""
        return f"host {self.host}, pid {self.pid}, since {iso(self.since)}"

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
    """``_state/locks/bucket-07.<suffix>`` (local lock files)."""
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
    """One lease object per claim, naming its buckets; confirmed after a settle time, renewed in the background.

    Between writers that both wrote a lease before either confirmed, the older lease (``since``, then token)
    wins and the other withdraws: both read the same two objects, so they agree whatever their clocks say.
    """

    def __init__(self, store: Store, buckets: tuple[int, ...]) -> None:
        self._store = store
        self._buckets = frozenset(buckets)
        self._token = uuid.uuid4().hex
        self._lease: Holder | None = None
        self._valid_until = 0.0  # time.monotonic() after which our lease may have run out
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def _name(self) -> str:
        return f"{LOCK_DIR}/lease-{self._token}.json"

    def _others(self) -> list[Holder]:
        """Live leases of other writers on any of our buckets, oldest first."""
        now = time.time()
        found = []
        for info in self._store.list_files(LOCK_DIR, recursive=False):
            if not info.base_name.startswith("lease-") or info.base_name == self._name.rpartition("/")[2]:
                continue
            data = self._store.read_bytes(info.path)  # None: released since the listing
            holder = Holder.from_json(data) if data is not None else None
            if holder is None or not self._buckets & set(holder.buckets):
                continue
            if holder.is_dead_here():
                self._store.delete(info.path)  # a crashed writer's: it can never be renewed or released
                continue
            if (holder.expires_at or 0) < now:
                continue
            found.append(holder)
        return sorted(found, key=lambda h: (h.since, h.token))

    def _write(self) -> float:
        assert self._lease is not None
        started = time.monotonic()
        self._lease = replace(self._lease, expires_at=time.time() + LEASE_SECONDS)
        self._store.write_atomic(self._name, self._lease.to_json())
        return started

    def _busy_with(self, holder: Holder) -> DestinationBusyError:
        return _busy(self._store, min(self._buckets & set(holder.buckets)), holder)

    def acquire(self) -> None:
        """Refuse live leases of others, write ours, settle, confirm no older one overlaps; then renew."""
        others = self._others()
        if others:
            raise self._busy_with(others[0])
        self._lease = replace(Holder.me(self._token), buckets=sorted(self._buckets))
        started = self._write()
        time.sleep(LEASE_SETTLE_SECONDS)
        older = [h for h in self._others() if (h.since, h.token) < (self._lease.since, self._token)]
        if older:
            self._store.delete(self._name)
            raise self._busy_with(older[0])
        self._valid_until = started + LEASE_SECONDS * (1 - _LEASE_MARGIN)
        self._renewer = threading.Thread(target=self._renew, name="lease-renewer", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 4):
            try:
                started = self._write()
            except Exception:  # keep renewing: check() stops the writes once the lease may be gone
                continue
            self._valid_until = started + LEASE_SECONDS * (1 - _LEASE_MARGIN)

    def check(self) -> None:
        """Raise when our lease may have expired (renewals failed for too long)."""
        if time.monotonic() > self._valid_until:
            raise DestinationBusyError(
                f"destination {self._store.display}: this export's lease could not be renewed in time; "
                "stopped writing so that another export can take over safely"
            )

    def release(self) -> None:
        """Stop renewing and delete our lease."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self._lease is not None:
            self._store.delete(self._name)


def _pid_namespace() -> str | None:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None
