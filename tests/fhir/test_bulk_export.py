"""Bulk export ($export and medcard export), $import over HTTP, and the job queue."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from test_bulk_import import run_import, scalar

from conftest import SHARED_DATA
from helpers import FHIR_JSON, body, post, put
from medcard.config import Settings
from medcard.core.db import Database
from medcard.core.jobs import Worker
from medcard.fhir.bulk.export import ExportRequest, export
from medcard.fhir.bulk.jobs import handlers

SYNTHEA = SHARED_DATA / "synthea-10-patients"
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def work(database_url: str, settings: Settings, jobs: int = 1) -> int:
    """Run queued jobs in this process, as `medcard worker` would; how many ran."""
    async def go() -> int:
        db = Database(database_url, min_size=1, max_size=2)
        await db.open()
        try:
            worker = Worker(db, handlers(settings))
            ran = 0
            while ran < jobs and await worker.run_one():
                ran += 1
            return ran
        finally:
            await db.close()

    return asyncio.run(go())


def small_record(http: httpx.Client) -> None:
    for pid, gender in (("x1", "female"), ("x2", "male")):
        assert put(http, f"/Patient/{pid}", {"resourceType": "Patient", "id": pid, "gender": gender}).status_code == 201
    for oid, pid, code in (("w1", "x1", "29463-7"), ("h1", "x1", "8302-2"), ("w2", "x2", "29463-7")):
        r = put(http, f"/Observation/{oid}", {"resourceType": "Observation", "id": oid, "status": "final",
                                              "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                                              "subject": {"reference": f"Patient/{pid}"}})
        assert r.status_code == 201
    post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП"})
    assert put(http, "/Group/g1", {"resourceType": "Group", "id": "g1", "type": "person", "actual": True,
                                   "member": [{"entity": {"reference": "Patient/x2"}}]}).status_code == 201


def kick_off(http: httpx.Client, path: str, **params: str) -> str:
    r = http.get(path, params=params, headers=ASYNC)
    assert r.status_code == 202, r.text
    return r.headers["Content-Location"]


def lines_of(http: httpx.Client, manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for item in manifest["output"]:
        r = http.get(item["url"])
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/fhir+ndjson")
        out[item["type"]] = [json.loads(line) for line in r.text.splitlines()]
        assert len(out[item["type"]]) == item["count"]
    return out


def test_system_export_kick_off_poll_and_download(http: httpx.Client, database_url: str,
                                                  settings: Settings) -> None:
    small_record(http)
    status = kick_off(http, "/$export")
    pending = http.get(status)
    assert pending.status_code == 202
    assert pending.headers["X-Progress"] == "queued"
    assert work(database_url, settings) == 1
    done = http.get(status)
    assert done.status_code == 200
    manifest = body(done)
    assert manifest["requiresAccessToken"] is False
    assert manifest["request"].endswith("/$export")
    files = lines_of(http, manifest)
    assert {t: len(v) for t, v in files.items()} == {"Group": 1, "Observation": 3, "Organization": 1, "Patient": 2}


def test_patient_and_group_level_export_with_type_filter(http: httpx.Client, database_url: str,
                                                         settings: Settings) -> None:
    small_record(http)
    patient_level = kick_off(http, "/Patient/$export", _type="Observation,Patient",
                             _typeFilter="Observation?code=29463-7")
    group_level = kick_off(http, "/Group/g1/$export")
    assert work(database_url, settings, jobs=2) == 2
    files = lines_of(http, body(http.get(patient_level)))
    assert sorted(o["id"] for o in files["Observation"]) == ["w1", "w2"]
    assert "Organization" not in files
    files = lines_of(http, body(http.get(group_level)))
    assert sorted(f"{t}/{r['id']}" for t, rs in files.items() for r in rs) == ["Observation/w2", "Patient/x2"]


def test_export_since_leaves_out_older_resources(http: httpx.Client, database_url: str, settings: Settings) -> None:
    small_record(http)
    since = scalar(database_url, "SELECT max(last_updated) FROM resource")
    put(http, "/Patient/x1", {"resourceType": "Patient", "id": "x1", "gender": "other"})
    status = kick_off(http, "/$export", _since=since.isoformat())
    work(database_url, settings)
    files = lines_of(http, body(http.get(status)))
    assert {t: [r["id"] for r in rs] for t, rs in files.items()} == {"Patient": ["x1"]}


def test_export_kick_off_errors(http: httpx.Client) -> None:
    assert http.get("/$export").status_code == 400  # no Prefer: respond-async
    assert http.get("/$export", params={"_outputFormat": "text/csv"}, headers=ASYNC).status_code == 400
    assert http.get("/$export", params={"_type": "Dragon"}, headers=ASYNC).status_code == 404
    assert http.get("/Group/none/$export", headers=ASYNC).status_code == 404
    assert http.get("/Observation/$export", headers=ASYNC).status_code == 404
    assert http.get("/$export-poll-status/00000000-0000-0000-0000-000000000000").status_code == 404


def test_cancel_removes_the_job_and_its_files(http: httpx.Client, database_url: str, settings: Settings) -> None:
    small_record(http)
    status = kick_off(http, "/$export")
    work(database_url, settings)
    file_url = body(http.get(status))["output"][0]["url"]
    assert http.delete(status).status_code == 202
    assert http.get(status).status_code == 404
    assert http.get(file_url).status_code == 404
    assert http.get(file_url.rsplit("/", 1)[0] + "/..%2F..%2Fetc%2Fpasswd").status_code == 404


def test_a_job_whose_worker_died_is_taken_over(http: httpx.Client, database_url: str, settings: Settings) -> None:
    small_record(http)
    status = kick_off(http, "/$export")
    job_id = status.rsplit("/", 1)[1]
    with psycopg.connect(database_url) as conn:  # as if a worker took it and then died
        conn.execute("UPDATE job SET status = 'running', worker = 'dead', heartbeat_at = now() - interval '5 min' "
                     "WHERE id = %s", (job_id,))
    assert http.get(status).status_code == 202
    assert work(database_url, settings) == 1
    assert http.get(status).status_code == 200


def test_import_over_http(http: httpx.Client, database_url: str, settings: Settings) -> None:
    ndjson = "\n".join(json.dumps({"resourceType": "Patient", "id": f"u{i}", "gender": "male"}) for i in range(3))
    ndjson += '\n{"resourceType": "Patient", "gender": "dragon"}\n'
    r = http.post("/$import", content=ndjson.encode(),
                  headers={**ASYNC, "Content-Type": "application/fhir+ndjson"})
    assert r.status_code == 202, r.text
    status = r.headers["Content-Location"]
    assert http.get(status).status_code == 202
    work(database_url, settings)
    outcome = body(http.get(status))
    assert outcome["issue"][0]["diagnostics"].startswith("read 4: created 3")
    assert "line 4" in outcome["issue"][1]["diagnostics"]
    assert http.get("/Patient/u2").status_code == 200


def test_import_of_named_files_stays_inside_the_import_folder(http: httpx.Client, database_url: str,
                                                              settings: Settings) -> None:
    assert settings.import_dir is not None
    settings.import_dir.mkdir(exist_ok=True)
    (settings.import_dir / "p.ndjson").write_text(json.dumps({"resourceType": "Patient", "id": "f1"}) + "\n")

    def parameters(url: str) -> bytes:
        return json.dumps({"resourceType": "Parameters", "parameter": [
            {"name": "input", "part": [{"name": "type", "valueCode": "Patient"}, {"name": "url", "valueUrl": url}]}]
        }).encode()

    outside = http.post("/$import", content=parameters("file:///etc/passwd"), headers={**ASYNC, **FHIR_JSON})
    assert outside.status_code == 400
    inside = http.post("/$import", content=parameters(f"file://{settings.import_dir}/p.ndjson"),
                       headers={**ASYNC, **FHIR_JSON})
    assert inside.status_code == 202
    work(database_url, settings)
    assert http.get("/Patient/f1").status_code == 200


@pytest.mark.skipif(not SYNTHEA.exists(), reason="shared Synthea sample not present")
def test_import_export_import_gives_the_same_resources(database_url: str, tmp_path: Path) -> None:
    run_import(database_url, [SYNTHEA])
    with psycopg.connect(database_url) as conn:
        before = {(t, i): json.loads(c) for t, i, c in conn.execute("SELECT resource_type, id, content FROM resource")}
        stamp = conn.execute("SELECT now()").fetchone()

    async def go() -> None:
        db = Database(database_url, min_size=1, max_size=2)
        await db.open()
        try:
            assert stamp is not None
            await export(db, ExportRequest("system"), tmp_path / "out", stamp[0])
        finally:
            await db.close()

    asyncio.run(go())
    with psycopg.connect(database_url) as conn:
        conn.execute("TRUNCATE resource, resource_history, sp_token, sp_string, sp_date, sp_number, sp_quantity, "
                     "sp_reference, sp_uri, sp_text, resource_compartment, patient_lookup")
    report = run_import(database_url, [tmp_path / "out"])
    assert report.created == len(before)
    assert report.failed == 0
    with psycopg.connect(database_url) as conn:
        after = {(t, i): json.loads(c) for t, i, c in conn.execute("SELECT resource_type, id, content FROM resource")}

    def without_meta(r: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in r.get("meta", {}).items() if k not in ("versionId", "lastUpdated")}
        return {**{k: v for k, v in r.items() if k != "meta"}, **({"meta": meta} if meta else {})}

    assert {k: without_meta(v) for k, v in after.items()} == {k: without_meta(v) for k, v in before.items()}


def test_medcard_import_and_export_commands(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "in.ndjson"
    source.write_text(json.dumps({"resourceType": "Patient", "id": "c1"}) + "\n" + "{broken\n")
    env = {"MEDCARD_DATABASE_URL": database_url, "MEDCARD_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    medcard = [sys.executable, "-m", "medcard.cli"]
    stop = subprocess.run([*medcard, "import", str(source)], env=env, capture_output=True, text=True, timeout=120)
    assert stop.returncode == 1
    assert f"{source}: line 2: invalid JSON" in stop.stderr
    go_on = subprocess.run([*medcard, "import", str(source), "--on-error", "continue"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert go_on.returncode == 2
    assert "1 unchanged" in go_on.stderr
    out = tmp_path / "exported"
    exported = subprocess.run([*medcard, "export", "--out", str(out), "--type", "Patient"], env=env,
                              capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr
    assert json.loads((out / "Patient.ndjson").read_text())["id"] == "c1"
