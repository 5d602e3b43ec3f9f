"""The `medcard` command: serve on the embedded PostgreSQL, stop cleanly, migrate, version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from conftest import free_port
from medcard import __version__
from medcard.core import migrate

MEDCARD = [sys.executable, "-m", "medcard.cli"]
MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "medcard" / "core" / "migrations" / "versions"


def postgres_processes(pgdata: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and str(pgdata) in " ".join(cmdline):
            found.append(proc)
    return found


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDCARD_")}
    env.update({"MEDCARD_HOME": str(home), "MEDCARD_LOG_LEVEL": "warning", **extra})
    return env


@contextmanager
def serving(home: Path, port: int, command: tuple[str, ...] = ("serve",), **extra: str
            ) -> Iterator[subprocess.Popen[str]]:
    log = home / f"serve-{port}.log"
    with log.open("a") as out:
        proc = subprocess.Popen([*MEDCARD, *command, "--port", str(port)], env=env_for(home, **extra),
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"medcard serve exited early:\n{log.read_text()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"medcard {command[0]} did not answer within 120 s")
            time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def cli_token(home: Path, **extra: str) -> str:
    """Register a backend client and print a token for it, as an operator's script would."""
    registered = subprocess.run([*MEDCARD, "client", "register", "scripts", "--kind", "backend", "--scope",
                                 "system/*.*"], env=env_for(home, **extra), capture_output=True, text=True, timeout=60)
    assert registered.returncode == 0, registered.stderr
    assert "client_id:" in registered.stdout
    assert "client_secret:" in registered.stdout
    token = subprocess.run([*MEDCARD, "token", "--client", "scripts"], env=env_for(home, **extra),
                           capture_output=True, text=True, timeout=60)
    assert token.returncode == 0, token.stderr
    return token.stdout.strip()


def test_version() -> None:
    out = subprocess.run([*MEDCARD, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"medcard {__version__}"


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_serve_runs_embedded_postgres_keeps_data_and_stops_it(tmp_path: Path, stop: signal.Signals) -> None:
    port = free_port()
    pgdata = tmp_path / "pgdata"
    with serving(tmp_path, port) as proc:
        base = f"http://127.0.0.1:{port}/fhir/R4"
        assert httpx.get(f"{base}/metadata").json()["resourceType"] == "CapabilityStatement"
        assert httpx.get(f"{base}/Patient").status_code == 401  # the API needs a token
        auth = {"Authorization": f"Bearer {cli_token(tmp_path)}"}
        created = httpx.post(f"{base}/Patient", json={"resourceType": "Patient", "gender": "female"},
                             headers={"Content-Type": "application/fhir+json", **auth})
        assert created.status_code == 201
        pid = created.json()["id"]
        assert postgres_processes(pgdata)
        proc.send_signal(stop)
        assert proc.wait(timeout=60) == 0  # a stop that was asked for is a clean exit (make reports no error)
    assert postgres_processes(pgdata) == []
    with serving(tmp_path, port):
        assert httpx.get(f"{base}/Patient/{pid}", headers=auth).status_code == 200  # kept across restarts
    assert postgres_processes(pgdata) == []


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_demo_stops_cleanly_on_a_signal(tmp_path: Path, stop: signal.Signals) -> None:
    """`make demo` and Ctrl-C: exit code 0 (make reports no error) and the embedded PostgreSQL stopped."""
    port = free_port()
    with serving(tmp_path, port, ("demo", "--children", "3")) as proc:
        assert httpx.get(f"http://127.0.0.1:{port}/fhir/R4/metadata").status_code == 200
        assert postgres_processes(tmp_path / "pgdata")
        proc.send_signal(stop)
        assert proc.wait(timeout=60) == 0
    assert postgres_processes(tmp_path / "pgdata") == []
    assert "Traceback" not in (tmp_path / f"serve-{port}.log").read_text()


@pytest.mark.slow
def test_a_second_server_on_the_same_home_is_refused(tmp_path: Path) -> None:
    with serving(tmp_path, free_port()):
        second = subprocess.run([*MEDCARD, "serve", "--port", str(free_port())], env=env_for(tmp_path),
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "already serving" in second.stderr


@pytest.mark.slow
def test_with_a_database_url_nothing_is_started(tmp_path: Path, database_url: str) -> None:
    upgraded = subprocess.run([*MEDCARD, "db", "upgrade"], env=env_for(tmp_path, MEDCARD_DATABASE_URL=database_url),
                              capture_output=True, text=True, timeout=60)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "schema is current" in upgraded.stdout
    port = free_port()
    with serving(tmp_path, port, MEDCARD_DATABASE_URL=database_url):
        assert httpx.get(f"http://127.0.0.1:{port}/fhir/R4/metadata").status_code == 200
        assert not (tmp_path / "pgdata").exists()


def test_db_status_reports_the_revision(tmp_path: Path, database_url: str) -> None:
    out = subprocess.run([*MEDCARD, "db", "status"], env=env_for(tmp_path, MEDCARD_DATABASE_URL=database_url),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    head = migrate.head_revision()  # not the highest file number: migrations are numbered ahead, chained at merge
    assert head is not None
    assert head in {p.name[:4] for p in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.py")}
    assert f"database: {head}; medcard {__version__} needs: {head}" in out.stdout


def test_db_rebuild_derived_recomputes_the_worklist_table(tmp_path: Path, database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO resource (resource_type, id, version_id, last_updated, patient_id, content) "
                     "VALUES ('Patient', 'p-rebuild', 1, now(), 'p-rebuild', %s)",
                     ('{"resourceType":"Patient","id":"p-rebuild","birthDate":"2026-01-01",'
                      '"managingOrganization":{"reference":"Organization/o1"}}',))
        assert conn.execute("SELECT count(*) FROM vaccination_due").fetchone() == (0,)  # written around the store
    out = subprocess.run([*MEDCARD, "db", "rebuild-derived"], env=env_for(tmp_path, MEDCARD_DATABASE_URL=database_url),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "recomputed for 1 patients" in out.stdout
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT DISTINCT v.patient_id, h.holder FROM vaccination_due v "
                            "JOIN vaccination_due_holder h ON h.id = ANY(v.holders)").fetchall()
    assert rows == [("p-rebuild", "Organization/o1")]
