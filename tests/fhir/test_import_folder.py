"""Importing a Bulk Data export folder: what is not a resource file is skipped with a warning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
from test_bulk_import import patient, run_import

from conftest import _tables
from helpers import created_id, post

MEDCARD = [sys.executable, "-m", "medcard.cli"]
# What the SMART Bulk Data client writes next to the files it downloads: events, some naming a resource type.
CLIENT_LOG = [
    {"exportId": "e1", "eventId": "kickoff", "eventDetail": {"exportUrl": "https://example.org/fhir/$export"}},
    {"exportId": "e1", "eventId": "download_complete", "eventDetail": {"fileUrl": "https://example.org/1",
                                                                        "resourceType": "Patient", "resources": 2}},
]


def medcard(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "MEDCARD_DATABASE_URL": url, "MEDCARD_LOG_LEVEL": "warning"}
    return subprocess.run([*MEDCARD, *args], env=env, capture_output=True, text=True, timeout=300)


def count(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT resource_type, count(*) FROM resource GROUP BY 1").fetchall()
    return dict(rows)


def test_an_exported_folder_imports_and_its_log_and_manifest_are_skipped(
        database_url: str, http: httpx.Client, tmp_path: Path) -> None:
    child = created_id(post(http, "/Patient", patient("x", gender="male")))
    post(http, "/Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "рост"},
                                "subject": {"reference": f"Patient/{child}"}, "valueQuantity": {"value": 102.5}})
    before = count(database_url)
    out = tmp_path / "export"
    exported = medcard(database_url, "export", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    (out / "log.ndjson").write_text("".join(json.dumps(e) + "\n" for e in CLIENT_LOG))
    (out / "manifest.json").write_text(json.dumps({"transactionTime": "2026-01-05T10:00:00Z", "output": []}))
    with psycopg.connect(database_url) as conn:
        conn.execute(f"TRUNCATE {', '.join(_tables(database_url))}")  # an empty store to import into
    imported = medcard(database_url, "import", str(out))
    assert imported.returncode == 0, imported.stderr
    assert count(database_url) == before
    assert f"warning: {out / 'log.ndjson'}: no line holds a FHIR resource" in imported.stderr
    assert f"warning: {out / 'manifest.json'}: the file holds no FHIR resource" in imported.stderr


def test_a_resource_file_with_bad_lines_still_stops_at_the_first_one(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "Patient.ndjson"
    source.write_text('{"id": "p1", "gender": "female"}\n' + json.dumps(patient("p2")) + "\n")
    report = run_import(database_url, [source], on_error="stop")
    assert report.stopped
    assert report.skipped == []
    assert str(report.problems[0]).startswith(f"{source}: line 1:")
    assert "resourceType" in str(report.problems[0])


def test_files_without_resources_do_not_stop_an_import(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "log.ndjson").write_text("not json\n" + json.dumps(CLIENT_LOG[1]) + "\n")
    (tmp_path / "empty.ndjson").write_text("\n")
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient("p3")) + "\n")
    report = run_import(database_url, [tmp_path], on_error="stop")
    assert not report.stopped
    assert (report.created, report.failed) == (1, 0)
    assert [s.split(":")[0] for s in report.skipped] == [str(tmp_path / "log.ndjson")]


def test_a_file_with_no_json_line_is_reported_not_skipped(database_url: str, tmp_path: Path) -> None:
    """A file none of whose lines is JSON (UTF-16 here) is not plainly something else: its problems are told."""
    source = tmp_path / "Patient.ndjson"
    source.write_bytes((json.dumps(patient("p4")) + "\n").encode("utf-16"))
    report = run_import(database_url, [source], on_error="continue")
    assert report.skipped == []
    assert report.problems
    assert str(report.problems[0]).startswith(f"{source}:")
