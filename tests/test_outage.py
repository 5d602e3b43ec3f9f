"""PostgreSQL dies under a running medcard: quick 503s while it is down, service again when it is back.

These tests run medcard as a user runs it (``medcard serve``, ``medcard worker`` subprocesses) on a
PostgreSQL of their own, which they kill. "Quick" is asserted without timing: each request must
complete within a client timeout of 5 s, where the pool's own wait for a connection is 30 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from conftest import free_port
from helpers import bearer, system_token
from medcard.core import migrate
from medcard.core.embedded import EmbeddedPostgres
from test_cli import MEDCARD, env_for, postgres_processes, serving

QUICK = 5.0  # seconds: a client timeout well below the pool's 30 s wait


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL only this test uses (and may kill), migrated."""
    server = EmbeddedPostgres(tmp_path / "db" / "pgdata")
    server.start()
    try:
        migrate.upgrade(server.url)
        yield server
    finally:
        server.stop()


def kill_postmaster(server: EmbeddedPostgres) -> int:
    """kill -9 the postmaster, as a crash or the OOM killer would; its pid."""
    pid = server.postmaster_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


def start_again(server: EmbeddedPostgres) -> None:
    """Start a killed server (its backends may hold the old shared memory for a moment)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            server.start()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def wait_for(what: str, condition: Callable[[], bool], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds:.0f} s")
        time.sleep(0.25)


def answers(url: str, headers: dict[str, str], status: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, headers=headers, timeout=QUICK).status_code == status
        except httpx.TransportError:
            return False
    return check


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "transient"


@pytest.mark.slow
def test_while_the_database_is_down_requests_get_503_at_once_and_service_resumes_by_itself(
        tmp_path: Path, own_postgres: EmbeddedPostgres) -> None:
    url = own_postgres.url
    auth = bearer(system_token(url))
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir/R4"
    with serving(tmp_path, port, MEDCARD_DATABASE_URL=url) as proc:
        created = httpx.post(f"{base}/Patient", json={"resourceType": "Patient", "gender": "male"},
                             headers={"Content-Type": "application/fhir+json", **auth})
        assert created.status_code == 201
        patient = f"{base}/Patient/{created.json()['id']}"
        kill_postmaster(own_postgres)
        # more requests than the pool holds connections: each one answered at once, none waits 30 s
        for _ in range(6):
            assert_unavailable(httpx.get(patient, headers=auth, timeout=QUICK))
        assert_unavailable(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=QUICK))
        start_again(own_postgres)
        wait_for("service after the restart", answers(patient, auth, 200))
        assert proc.poll() is None


@pytest.mark.slow
def test_serve_restarts_its_embedded_postgres_after_it_was_killed(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir/R4"
    server = EmbeddedPostgres(tmp_path / "pgdata")
    with serving(tmp_path, port) as proc:
        auth = bearer(system_token(server.url))  # serve's PostgreSQL, reached through its socket
        created = httpx.post(f"{base}/Patient", json={"resourceType": "Patient", "gender": "female"},
                             headers={"Content-Type": "application/fhir+json", **auth})
        assert created.status_code == 201
        patient = f"{base}/Patient/{created.json()['id']}"
        killed = kill_postmaster(server)
        assert_unavailable(httpx.get(patient, headers=auth, timeout=QUICK))
        wait_for("service after the watchdog's restart", answers(patient, auth, 200))
        assert server.postmaster_pid() not in (None, killed)
        log = (tmp_path / f"serve-{port}.log").read_text()
        assert "restarting it" in log
        assert "restarted after" in log
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert postgres_processes(tmp_path / "pgdata") == []


def job_status(url: str, job_id: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT status FROM job WHERE id = %s", (job_id,)).fetchone()
    return row[0] if row else None


@pytest.mark.slow
def test_the_job_worker_survives_a_database_restart_and_then_runs_a_job(
        tmp_path: Path, own_postgres: EmbeddedPostgres) -> None:
    url = own_postgres.url
    log = tmp_path / "worker.log"
    env = env_for(tmp_path, MEDCARD_DATABASE_URL=url, MEDCARD_LOG_LEVEL="info")
    with log.open("w") as out:
        worker = subprocess.Popen([*MEDCARD, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for("the worker's start", lambda: " ready" in log.read_text())
        kill_postmaster(own_postgres)
        wait_for("the worker meeting the outage",
                 lambda: "database unavailable" in log.read_text() or worker.poll() is not None)
        start_again(own_postgres)
        job_id = str(uuid.uuid4())
        with psycopg.connect(url) as conn:
            conn.execute("INSERT INTO job (id, kind, status, request) VALUES (%s, 'export', 'queued', %s)",
                         (job_id, '{"export": {"level": "system", "group_id": null, "types": ["Patient"], '
                                  '"since": null, "type_filters": []}}'))
        wait_for("the job's completion", lambda: job_status(url, job_id) in ("completed", "failed")
                 or worker.poll() is not None)
        assert worker.poll() is None, log.read_text()
        assert job_status(url, job_id) == "completed"
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0


def read_audit_rows(url: str, patient_id: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM audit_event WHERE subtype = 'read' AND patient_id = %s",
                           (patient_id,)).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.slow
def test_the_audit_row_of_a_read_survives_a_crash_right_after_the_read(
        tmp_path: Path, own_postgres: EmbeddedPostgres) -> None:
    url = own_postgres.url
    with psycopg.connect(url, autocommit=True) as conn:
        # the WAL writer's longest pause: a commit that does not flush stays in memory up to 30 s
        conn.execute("ALTER SYSTEM SET wal_writer_delay = '10s'")
        conn.execute("SELECT pg_reload_conf()")
    auth = bearer(system_token(url))
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir/R4"
    with serving(tmp_path, port, MEDCARD_DATABASE_URL=url):
        created = httpx.post(f"{base}/Patient", json={"resourceType": "Patient", "gender": "female"},
                             headers={"Content-Type": "application/fhir+json", **auth})
        assert created.status_code == 201
        patient = created.json()["id"]
        assert httpx.get(f"{base}/Patient/{patient}", headers=auth).status_code == 200
        kill_postmaster(own_postgres)  # the read was answered; now the crash
        start_again(own_postgres)
        assert read_audit_rows(url, patient) == 1


def worker_pids(log: Path) -> list[int]:
    """The pids of the job workers that said they were ready ("worker host:pid:tag ready")."""
    return [int(line.split("worker ", 1)[1].split(":")[1]) for line in log.read_text().splitlines()
            if "medcard.worker: worker " in line and line.endswith(" ready")]


@pytest.mark.slow
def test_serve_restarts_a_job_worker_that_died_and_the_new_one_runs_jobs(tmp_path: Path) -> None:
    port = free_port()
    server = EmbeddedPostgres(tmp_path / "pgdata")
    log = tmp_path / f"serve-{port}.log"
    with serving(tmp_path, port, MEDCARD_LOG_LEVEL="info"):
        wait_for("the job worker's start", lambda: len(worker_pids(log)) == 1)
        os.kill(worker_pids(log)[0], signal.SIGKILL)
        wait_for("a new job worker", lambda: len(worker_pids(log)) == 2)
        job_id = str(uuid.uuid4())
        with psycopg.connect(server.url) as conn:
            conn.execute("INSERT INTO job (id, kind, status, request) VALUES (%s, 'export', 'queued', %s)",
                         (job_id, '{"export": {"level": "system", "group_id": null, "types": ["Patient"], '
                                  '"since": null, "type_filters": []}}'))
        wait_for("the job's completion", lambda: job_status(server.url, job_id) == "completed")
        assert "job worker 0 died" in log.read_text()
