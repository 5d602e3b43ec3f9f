"""Multi-host database URLs and failover, on two real PostgreSQL servers on loopback.

Every form libpq accepts must work wherever medcard takes a URL (``db upgrade``, ``db status``,
``serve``): ``h1:p1,h2:p2``, ``?host=h1,h2&port=p1,p2``, key=value strings, and
``target_session_attrs=read-write`` to find the primary behind a standby.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from conftest import free_port
from helpers import bearer, system_token
from medcard.core.embedded import BIN, SUPERUSER, EmbeddedPostgres
from test_cli import MEDCARD, env_for, serving
from test_outage import QUICK, answers, wait_for


def cluster(root: Path) -> EmbeddedPostgres:
    return EmbeddedPostgres(root / "pgdata", tcp_port=free_port())


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = cluster(tmp_path / "primary")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def standby_of(primary: EmbeddedPostgres, root: Path) -> EmbeddedPostgres:
    """A streaming standby of ``primary`` (pg_basebackup -R), started."""
    standby = cluster(root)
    root.mkdir(parents=True)
    standby._make_traversable(root)
    standby.run_as.own(root)
    subprocess.run([str(BIN / "pg_basebackup"), "-D", str(standby.pgdata), "-h", "127.0.0.1", "-p",
                    str(primary.tcp_port), "-U", SUPERUSER, "-R", "-X", "stream", "-c", "fast"],
                   check=True, capture_output=True, **standby.run_as.kwargs())
    standby.start()
    return standby


def medcard(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MEDCARD, *args], env=env_for(home, MEDCARD_DATABASE_URL=url), capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_every_multi_host_form_works_for_upgrade_status_and_serve_with_the_first_host_down(
        tmp_path: Path, primary: EmbeddedPostgres) -> None:
    down, up = free_port(), primary.tcp_port  # nothing listens on the first port
    forms = [
        f"postgresql://{SUPERUSER}@127.0.0.1:{down},127.0.0.1:{up}/medcard",
        f"postgresql://{SUPERUSER}@/medcard?host=127.0.0.1,127.0.0.1&port={down},{up}",
        f"host=127.0.0.1,127.0.0.1 port={down},{up} user={SUPERUSER} dbname=medcard",
    ]
    upgraded = medcard(tmp_path, forms[0], "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "schema:" in upgraded.stdout
    for url in forms:
        status = medcard(tmp_path, url, "db", "status")
        assert status.returncode == 0, (url, status.stderr)
    port = free_port()
    with serving(tmp_path, port, MEDCARD_DATABASE_URL=forms[0]):
        created = httpx.post(f"http://127.0.0.1:{port}/fhir/R4/Patient", json={"resourceType": "Patient"},
                             headers={"Content-Type": "application/fhir+json", **bearer(system_token(primary.url))})
        assert created.status_code == 201, created.text


def replicated(standby: EmbeddedPostgres, patient_id: str) -> bool:
    with psycopg.connect(standby.url) as conn:
        return conn.execute("SELECT 1 FROM resource WHERE id = %s", (patient_id,)).fetchone() is not None


@pytest.mark.slow
def test_serve_finds_the_primary_behind_a_standby_and_follows_a_failover(
        tmp_path: Path, primary: EmbeddedPostgres) -> None:
    standby = standby_of(primary, tmp_path / "standby")
    try:
        url = (f"postgresql://{SUPERUSER}@127.0.0.1:{standby.tcp_port},127.0.0.1:{primary.tcp_port}/medcard"
               "?target_session_attrs=read-write")
        upgraded = medcard(tmp_path, url, "db", "upgrade")  # the standby, listed first, is read-only
        assert upgraded.returncode == 0, upgraded.stderr
        auth = bearer(system_token(primary.url))
        port = free_port()
        base = f"http://127.0.0.1:{port}/fhir/R4"
        with serving(tmp_path, port, MEDCARD_DATABASE_URL=url) as proc:
            created = httpx.post(f"{base}/Patient", json={"resourceType": "Patient", "gender": "female"},
                                 headers={"Content-Type": "application/fhir+json", **auth})
            assert created.status_code == 201, created.text
            patient = created.json()["id"]
            wait_for("replication to the standby", lambda: replicated(standby, patient))
            pid = primary.postmaster_pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            assert httpx.get(f"{base}/Patient/{patient}", headers=auth, timeout=QUICK).status_code == 503
            promoted = subprocess.run([str(BIN / "pg_ctl"), "-D", str(standby.pgdata), "promote", "-w"],
                                      capture_output=True, text=True, **standby.run_as.kwargs())
            assert promoted.returncode == 0, promoted.stderr
            wait_for("service on the promoted standby", answers(f"{base}/Patient/{patient}", auth, 200))
            again = httpx.post(f"{base}/Patient", json={"resourceType": "Patient", "gender": "male"},
                               headers={"Content-Type": "application/fhir+json", **auth})
            assert again.status_code == 201, again.text  # writes go to the new primary
            assert proc.poll() is None
    finally:
        standby.stop()
