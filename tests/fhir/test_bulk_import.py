"""Bulk import: the Synthea sample, idempotence, bad input, Bundles, references in any order."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from conftest import SHARED_DATA
from helpers import body
from medcard.core.db import Database
from medcard.fhir.bulk import importer, sources
from medcard.fhir.bulk.importer import Importer, ImportReport
from medcard.pediatrics import vaccination_due

SYNTHEA = SHARED_DATA / "synthea-10-patients"
needs_synthea = pytest.mark.skipif(not SYNTHEA.exists(), reason="shared Synthea sample not present")


def run_import(url: str, paths: list[Path], on_error: str = "continue", chunk: int = 500,
               jobs: int = 1) -> ImportReport:
    async def go() -> ImportReport:
        db = Database(url, min_size=1, max_size=4)
        await db.open()
        try:
            return await Importer(db, on_error=on_error, chunk=chunk, jobs=jobs).run(paths)
        finally:
            await db.close()

    return asyncio.run(go())


def synthea_lines() -> list[dict[str, Any]]:
    out = []
    for path in sorted(SYNTHEA.glob("*.ndjson")):
        if path.name != "log.ndjson":
            out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out


def scalar(url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def total(http: httpx.Client, path: str, **params: str) -> int:
    r = http.get(path, params={**params, "_summary": "count"})
    assert r.status_code == 200, r.text
    return int(body(r)["total"])


@needs_synthea
def test_import_synthea_and_search_agrees_with_the_files(database_url: str, http: httpx.Client) -> None:
    report = run_import(database_url, [SYNTHEA])
    lines = synthea_lines()
    assert report.created == len(lines) == 7160
    assert report.failed == 0
    assert report.skipped == [f"{SYNTHEA / 'log.ndjson'}: {sources.NOT_RESOURCES}"]  # the export's log
    by_type = Counter(r["resourceType"] for r in lines)
    for rtype, n in by_type.items():
        assert total(http, f"/{rtype}") == n, rtype
    # every conditional reference (Practitioner?identifier=...) was resolved to an id
    assert scalar(database_url, "SELECT count(*) FROM resource WHERE content LIKE '%%\"reference\":\"%%?%%'") == 0
    # searches agree with counts worked out from the files
    patients = [r for r in lines if r["resourceType"] == "Patient"]
    assert total(http, "/Patient", gender="female") == sum(p["gender"] == "female" for p in patients)
    assert total(http, "/Patient", birthdate="lt1970") == sum(p["birthDate"] < "1970" for p in patients)
    for p in patients[:5]:
        ref = f"Patient/{p['id']}"
        for rtype, param in (("Encounter", "subject"), ("Condition", "patient"), ("Immunization", "patient")):
            expected = sum(1 for r in lines if r["resourceType"] == rtype
                           and r.get("subject", r.get("patient", {})).get("reference") == ref)
            assert total(http, f"/{rtype}", **{param: ref}) == expected, (rtype, ref)
    flu = sum(1 for r in lines if r["resourceType"] == "Immunization"
              and any(c.get("code") == "140" for c in r["vaccineCode"].get("coding", [])))
    assert flu > 0
    assert total(http, "/Immunization", **{"vaccine-code": "http://hl7.org/fhir/sid/cvx|140"}) == flu
    # every resource of a record carries its patient
    orphans = scalar(database_url, "SELECT count(*) FROM resource WHERE resource_type IN "
                                   "('Encounter', 'Condition', 'Immunization') AND patient_id IS NULL")
    assert orphans == 0


@needs_synthea
def test_importing_again_changes_nothing(database_url: str) -> None:
    run_import(database_url, [SYNTHEA])
    again = run_import(database_url, [SYNTHEA])
    assert (again.created, again.updated, again.unchanged) == (0, 0, 7160)
    assert scalar(database_url, "SELECT count(*) FROM resource_history") == 0
    assert scalar(database_url, "SELECT max(version_id) FROM resource") == 1


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n")
    return path


def patient(pid: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female", **extra}


def test_bad_input_names_file_line_and_reason(database_url: str, tmp_path: Path) -> None:
    source = _write(tmp_path / "mixed.ndjson", [
        patient("a1"), '{"resourceType": "Patient", "id": "a2",', patient("a3", gender="girl"), patient("a4")])
    report = run_import(database_url, [source], on_error="continue")
    assert report.created == 2
    assert report.failed == 2
    first, second = map(str, report.problems)
    assert first.startswith(f"{source}: line 2: invalid JSON")
    assert second.startswith(f"{source}: line 3:")
    assert "girl" in second
    assert "Patient.gender" in second


def test_on_error_stop_imports_what_came_before_and_nothing_after(database_url: str, tmp_path: Path) -> None:
    source = _write(tmp_path / "p.ndjson", [patient("b1"), patient("b2"), "not json", patient("b3")])
    report = run_import(database_url, [source], on_error="stop")
    assert report.stopped
    assert report.created == 2
    ids = scalar(database_url, "SELECT array_agg(id ORDER BY id) FROM resource")
    assert ids == ["b1", "b2"]


def test_transaction_bundle_file_is_all_or_nothing(database_url: str, tmp_path: Path) -> None:
    def bundle(kind: str, bad: bool) -> dict[str, Any]:
        entries = [{"fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111",
                    "resource": {"resourceType": "Patient", "gender": "male"},
                    "request": {"method": "POST", "url": "Patient"}},
                   {"resource": {"resourceType": "Observation", "status": "bad" if bad else "final",
                                 "code": {"text": "вес"},
                                 "subject": {"reference": "urn:uuid:11111111-1111-1111-1111-111111111111"}},
                    "request": {"method": "POST", "url": "Observation"}}]
        return {"resourceType": "Bundle", "type": kind, "entry": entries}

    (tmp_path / "bad.json").write_text(json.dumps(bundle("transaction", bad=True)))
    report = run_import(database_url, [tmp_path / "bad.json"])
    assert report.created == 0
    assert "nothing of this transaction" in str(report.problems[0])
    assert "entry 1" in str(report.problems[0])
    assert scalar(database_url, "SELECT count(*) FROM resource") == 0
    (tmp_path / "good.json").write_text(json.dumps(bundle("transaction", bad=False)))
    report = run_import(database_url, [tmp_path / "good.json"])
    assert report.created == 2
    subject = scalar(database_url, "SELECT content::jsonb->'subject'->>'reference' FROM resource "
                                   "WHERE resource_type = 'Observation'")
    assert subject == "Patient/11111111-1111-1111-1111-111111111111"  # the urn's uuid became the id
    assert run_import(database_url, [tmp_path / "good.json"]).unchanged == 2  # ids are stable: idempotent


def test_collection_and_batch_bundles_import_entry_by_entry(database_url: str, tmp_path: Path) -> None:
    entries = [{"fullUrl": "urn:uuid:22222222-2222-2222-2222-222222222222",
                "resource": {"resourceType": "Patient", "gender": "male"}},
               {"resource": {"resourceType": "Patient", "gender": "nope"}},
               {"resource": {"resourceType": "Condition", "subject": {
                   "reference": "urn:uuid:22222222-2222-2222-2222-222222222222"}}}]
    (tmp_path / "c.json").write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                                 "entry": entries}))
    report = run_import(database_url, [tmp_path / "c.json"])
    assert report.created == 2
    assert report.failed == 1
    assert "entry 1" in str(report.problems[0])
    owner = scalar(database_url, "SELECT patient_id FROM resource WHERE resource_type = 'Condition'")
    assert owner == "22222222-2222-2222-2222-222222222222"


def test_conditional_references_resolve_whatever_the_order(database_url: str, tmp_path: Path) -> None:
    doctor = {"resourceType": "Practitioner", "id": "d1", "identifier": [{"system": "urn:npi", "value": "42"}]}
    visit = {"resourceType": "Encounter", "id": "v1", "status": "finished", "class": {"code": "AMB"},
             "participant": [{"individual": {"reference": "Practitioner?identifier=urn:npi|42"}}]}
    source = _write(tmp_path / "mixed.ndjson", [visit, doctor])  # the visit comes first
    report = run_import(database_url, [source], chunk=1)
    assert report.created == 2
    assert report.resolved_later == 1
    ref = scalar(database_url, "SELECT content::jsonb->'participant'->0->'individual'->>'reference' "
                               "FROM resource WHERE id = 'v1'")
    assert ref == "Practitioner/d1"
    assert run_import(database_url, [source]).unchanged == 2


def test_unresolvable_conditional_reference_is_reported(database_url: str, tmp_path: Path) -> None:
    visit = {"resourceType": "Encounter", "id": "v2", "status": "finished", "class": {"code": "AMB"},
             "participant": [{"individual": {"reference": "Practitioner?identifier=urn:npi|nobody"}}]}
    report = run_import(database_url, [_write(tmp_path / "v.ndjson", [visit])])
    assert report.failed == 1
    assert "matches no single resource" in str(report.problems[0])


def test_dangling_references_are_reported_not_refused(database_url: str, tmp_path: Path) -> None:
    obs = {"resourceType": "Observation", "id": "o9", "status": "final", "code": {"text": "x"},
           "subject": {"reference": "Patient/not-here"}}
    report = run_import(database_url, [_write(tmp_path / "o.ndjson", [obs])])
    assert report.created == 1
    assert report.dangling == ["Patient/not-here"]


def _index_rows(url: str, rtype: str, rid: str) -> dict[str, list[str]]:
    """Every row a resource has in the index tables, without its own id (to compare two resources)."""
    out = {}
    with psycopg.connect(url) as conn:
        for table in ("sp_token", "sp_string", "sp_date", "sp_number", "sp_quantity", "sp_reference", "sp_uri",
                      "sp_text"):
            out[table] = [r[0] for r in conn.execute(
                f"SELECT (to_jsonb(t) - 'resource_id' || CASE WHEN patient_id = %s THEN '{{\"patient_id\": \"self\"}}' "
                f"ELSE '{{}}' END::jsonb)::text FROM {table} t "
                "WHERE resource_type = %s AND resource_id = %s ORDER BY 1",
                (rid, rtype, rid))]
        out["compartment"] = [r[0] for r in conn.execute(
            "SELECT patient_id FROM resource_compartment WHERE resource_type = %s AND resource_id = %s ORDER BY 1",
            (rtype, rid))]
        out["lookup"] = [r[0] for r in conn.execute(
            "SELECT (to_jsonb(t) - 'patient_id')::text FROM patient_lookup t WHERE patient_id = %s ORDER BY 1",
            (rid,))]
    return out


def test_imported_resources_are_indexed_as_the_rest_api_indexes_them(
        database_url: str, http: httpx.Client, tmp_path: Path) -> None:
    """The importer's workers write index rows as COPY text; the REST API as values. Same rows, also for
    strings with tabs, newlines and backslashes."""
    nasty = "Тест\tс табуляцией\\и\nпереводом"
    person = {"resourceType": "Patient", "gender": "female", "birthDate": "2015-03-08",
              "name": [{"family": "Ёлкина\\Иванова", "given": ["Анна", "Мария\tЕ."]}],
              "identifier": [{"system": "urn:example:card", "value": "A\\12\t3"}],
              "text": {"status": "generated", "div": f"<div xmlns=\"http://www.w3.org/1999/xhtml\">{nasty}</div>"}}
    other = patient("p-other")
    measured = {"resourceType": "Observation", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}], "text": nasty},
                "subject": {"reference": "Patient/p-bulk"}, "performer": [{"reference": "Patient/p-other"}],
                "effectiveDateTime": "2024-02-29T10:15:00+03:00",
                "valueQuantity": {"value": 21.50, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
                "note": [{"text": nasty}]}
    source = _write(tmp_path / "all.ndjson", [{**person, "id": "p-bulk"}, other, {**measured, "id": "o-bulk"}])
    report = run_import(database_url, [source], on_error="stop")
    assert report.created == 3
    for rtype, rid, resource in (("Patient", "p-rest", person), ("Observation", "o-rest", measured)):
        r = http.put(f"/{rtype}/{rid}", content=json.dumps({**resource, "id": rid}),
                     headers={"Content-Type": "application/fhir+json"})
        assert r.status_code == 201, r.text
    bulk_patient = _index_rows(database_url, "Patient", "p-bulk")
    assert bulk_patient == _index_rows(database_url, "Patient", "p-rest")
    assert any("A\\\\12\\t3" in row for row in bulk_patient["sp_token"])  # the identifier, tab and all
    assert bulk_patient["lookup"]
    bulk_obs = _index_rows(database_url, "Observation", "o-bulk")
    assert bulk_obs == _index_rows(database_url, "Observation", "o-rest")
    assert bulk_obs["compartment"] == ["p-other"]
    assert all(bulk_obs[table] for table in ("sp_quantity", "sp_date", "sp_text"))


def test_importing_a_changed_resource_makes_a_version_with_new_index_rows(database_url: str, http: httpx.Client,
                                                                         tmp_path: Path) -> None:
    first = {**patient("ch1", name=[{"family": "Петрова", "given": ["Анна"]}]), "birthDate": "2016-04-01"}
    report = run_import(database_url, [_write(tmp_path / "a.ndjson", [first])])
    assert report.created == 1
    changed = {**first, "gender": "male", "name": [{"family": "Сидоров", "given": ["Иван"]}]}
    report = run_import(database_url, [_write(tmp_path / "b.ndjson", [changed])])
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    assert scalar(database_url, "SELECT version_id FROM resource WHERE id = 'ch1'") == 2
    assert scalar(database_url, "SELECT count(*) FROM resource_history WHERE id = 'ch1'") == 1
    assert total(http, "/Patient", gender="male", _id="ch1") == 1
    assert total(http, "/Patient", gender="female", _id="ch1") == 0
    assert total(http, "/Patient", family="Сидоров") == 1
    assert total(http, "/Patient", family="Петрова") == 0
    assert total(http, "/Patient", phonetic="Sidorov") == 1
    assert scalar(database_url, "SELECT count(*) FROM patient_lookup WHERE patient_id = 'ch1'") == 1


def _worklist_rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT v.patient_id, ARRAY(SELECT h.holder FROM vaccination_due_holder h WHERE h.id = ANY(v.holders) "
            "ORDER BY 1), v.disease, v.overdue_during::text, v.periods::text, v.dose_numbers::text "
            "FROM vaccination_due v ORDER BY 1, 3").fetchall()


def test_worker_processes_write_what_one_process_writes(database_url: str, http: httpx.Client, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With jobs=2 the resources are analysed, and the worklist rows computed, in worker processes, several
    chunks of patients at once: the same index rows as the REST API writes, the same worklist rows as the
    forecast gives, and a rebuild in one process changes none of them."""
    monkeypatch.setattr(importer, "DERIVED_CHUNK", 3)  # four chunks of patients in flight, two at a time
    clinic = {"resourceType": "Organization", "id": "org-w", "name": "Детская поликлиника № 1"}
    kids = [patient(f"w{i:02}", birthDate=f"{2010 + i}-{1 + i % 12:02}-{10 + i}",
                    name=[{"family": f"Иванова{i}", "given": ["Анна"]}],
                    managingOrganization={"reference": "Organization/org-w"}) for i in range(10)]
    hepb = {"coding": [{"system": "http://snomed.info/sct", "code": "66071002"}]}
    shots = [{"resourceType": "Immunization", "id": f"im{i}", "status": "completed",
              "patient": {"reference": f"Patient/w{i:02}"}, "vaccineCode": {"text": "Вакцина"},
              "occurrenceDateTime": f"{2010 + i}-{1 + i % 12:02}-{11 + i}",
              "protocolApplied": [{"targetDisease": [hepb], "doseNumberPositiveInt": 1}]} for i in (1, 4, 7)]
    report = run_import(database_url, [_write(tmp_path / "w.ndjson", [clinic, *kids, *shots])], jobs=2)
    assert (report.created, report.failed) == (14, 0)

    r = http.put("/Patient/w-rest", content=json.dumps({**kids[3], "id": "w-rest"}),
                 headers={"Content-Type": "application/fhir+json"})
    assert r.status_code == 201, r.text
    assert _index_rows(database_url, "Patient", "w03") == _index_rows(database_url, "Patient", "w-rest")

    rows = [row for row in _worklist_rows(database_url) if row[0] != "w-rest"]
    children = [vaccination_due.child_periods(
        kid, [s for s in shots if s["patient"]["reference"] == f"Patient/{kid['id']}"], []) for kid in kids]
    expected = sorted((c.patient_id, sorted(c.holders), *row[1:]) for c in children
                      for row in vaccination_due.rows_for(c))
    assert {row[0] for row in rows} == {kid["id"] for kid in kids}
    assert rows == expected
    assert any(row[0] == "w01" and row[2] == "66071002" and row[5] == "{2}" for row in rows)  # the dose given counts

    async def rebuild() -> None:
        db = Database(database_url, min_size=1, max_size=1)
        await db.open()
        try:
            async with db.connection() as conn:
                await vaccination_due.rebuild(conn)
        finally:
            await db.close()

    before = _worklist_rows(database_url)
    asyncio.run(rebuild())
    assert _worklist_rows(database_url) == before


def test_an_import_that_grows_the_store_by_a_tenth_refreshes_the_planners_statistics(database_url: str,
                                                                                       tmp_path: Path) -> None:
    """Without statistics (a new store) the first chart summaries after an import picked slow plans; a
    small import into an analysed store leaves them alone (ANALYZE of a city's tables is not free)."""
    def last_analyze() -> Any:
        return scalar(database_url, "SELECT coalesce(last_analyze, 'epoch') FROM pg_stat_user_tables "
                                    "WHERE relname = 'resource'")

    def load(name: str, count: int) -> None:
        lines = [patient(f"{name}{i}") for i in range(count)]
        assert run_import(database_url, [_write(tmp_path / f"{name}.ndjson", lines)]).created == count

    assert scalar(database_url, "SELECT reltuples FROM pg_class WHERE oid = 'resource'::regclass") < 0  # new
    before = last_analyze()
    load("new", 40)
    analysed = last_analyze()
    assert analysed > before
    assert scalar(database_url, "SELECT reltuples FROM pg_class WHERE oid = 'resource'::regclass") == 40
    load("few", 3)  # under a tenth of 40
    assert last_analyze() == analysed
    load("more", 5)  # a tenth or more
    assert last_analyze() > analysed
