"""Kept record books: an unchanged record's book is served again from the blob store, for the same view only.

A new book is a new registry entry (a new code), so "served from the store" is asserted without
timing: the same bytes again, one registry entry, the kept row naming the blob of those bytes.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import zipfile
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from access.guards_helpers import World, born
from conftest import FIXED_TODAY
from helpers import body, created_id, post, put, run_db
from medcard.config import Settings
from medcard.documents import kept, registry
from medcard.documents.blobs import DirectoryBlobStore, blob_store
from medcard.documents.verification import verify_file

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LAB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}


def pdf_text(data: bytes, folder: Path) -> str:
    (folder / "book.pdf").write_bytes(data)
    out = subprocess.run(["pdftotext", str(folder / "book.pdf"), "-"], capture_output=True, text=True, check=True)
    return " ".join(out.stdout.split())


def rows(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql, args).fetchall())


def codes(url: str, child: str) -> list[str]:
    """The record books issued for the child, in order."""
    return [r[0] for r in rows(url, "SELECT code FROM document_issued WHERE kind = 'record-book' AND patient_id = %s "
                                    "ORDER BY issued_at, code", child)]


def kept_blobs(url: str, child: str) -> list[str]:
    return [r[0] for r in rows(url, "SELECT blob FROM record_book WHERE patient_id = %s", child)]


def book(http: httpx.Client, child: str, headers: dict[str, str] | None = None) -> bytes:
    r = http.get(f"/Patient/{child}/$record-book", headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"%PDF")
    return r.content


def lab(http: httpx.Client, child: str, name: str, value: float) -> str:
    return created_id(post(http, "/Observation", {
        "resourceType": "Observation", "status": "final", "category": [LAB],
        "subject": {"reference": f"Patient/{child}"}, "code": {"text": name}, "effectiveDateTime": "2025-01-10",
        "valueQuantity": {"value": value, "unit": "g/L"}}))


def problem(http: httpx.Client, child: str, code: str) -> str:
    """An active problem-list Condition (the book's summary lists those)."""
    return created_id(post(http, "/Condition", {
        "resourceType": "Condition", "subject": {"reference": f"Patient/{child}"},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                  "code": "problem-list-item"}]}],
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                       "code": "active"}]},
        "code": {"coding": [{"system": ICD10, "code": code}]}}))


def make_child(http: httpx.Client, clinic: str = "ДГП №1") -> dict[str, str]:
    org = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": clinic}))
    doctor = created_id(post(http, "/Practitioner", {"resourceType": "Practitioner",
                                                     "name": [{"family": "Белова", "given": ["Анна"]}]}))
    child = created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": "2015-04-02", "gender": "female",
        "name": [{"family": "Смирнова", "given": ["Алиса"]}],
        "managingOrganization": {"reference": f"Organization/{org}"},
        "generalPractitioner": [{"reference": f"Practitioner/{doctor}"}]}))
    result = lab(http, child, "Гемоглобин", 128)
    performer = created_id(post(http, "/Practitioner", {"resourceType": "Practitioner",
                                                        "name": [{"family": "Котова", "given": ["Ольга"]}]}))
    post(http, "/DiagnosticReport", {
        "resourceType": "DiagnosticReport", "status": "final", "category": [LAB], "code": {"text": "Анализ крови"},
        "subject": {"reference": f"Patient/{child}"}, "effectiveDateTime": "2025-01-10",
        "issued": "2025-01-10T12:00:00+03:00", "performer": [{"reference": f"Practitioner/{performer}"}],
        "result": [{"reference": f"Observation/{result}"}]})
    return {"org": org, "doctor": doctor, "child": child, "lab": performer}


def test_an_unchanged_record_is_served_the_kept_book_honestly(http: httpx.Client, database_url: str,
                                                              settings: Settings) -> None:
    rec = make_child(http)
    entity = f"Patient/{rec['child']}/$record-book"
    audit = "SELECT count(*) FROM audit_event WHERE patient_id = %s AND entity = %s AND outcome = '0'"
    first = book(http, rec["child"])
    [(audited_once,)] = rows(database_url, audit, rec["child"], entity)
    second = book(http, rec["child"])
    assert second == first  # a new book would have a new code and signing time
    assert audited_once >= 1
    assert rows(database_url, audit, rec["child"], entity) == [(2 * audited_once,)]  # each serve audited alike
    [code] = codes(database_url, rec["child"])  # rendered and registered once
    assert kept_blobs(database_url, rec["child"]) == [hashlib.sha256(first).hexdigest()]
    assert blob_store(settings).get(hashlib.sha256(first).hexdigest()) == first
    checked = run_db(database_url, lambda conn: verify_file(conn, second))
    assert checked.status == "valid"
    assert checked.issued is not None
    assert checked.issued.code == code


def test_a_change_to_the_record_or_to_a_name_it_prints_gives_a_new_book(
        http: httpx.Client, database_url: str, settings: Settings, tmp_path: Path) -> None:
    rec = make_child(http)
    first = book(http, rec["child"])
    lab(http, rec["child"], "Ферритин", 31)
    second = book(http, rec["child"])
    assert second != first
    assert "Ферритин" in pdf_text(second, tmp_path)
    assert len(codes(database_url, rec["child"])) == 2
    store = blob_store(settings)
    assert not store.exists(hashlib.sha256(first).hexdigest())  # superseded: not kept
    assert kept_blobs(database_url, rec["child"]) == [hashlib.sha256(second).hexdigest()]
    # Names the book prints live outside the child's record: renaming them changes the book too.
    assert put(http, f"/Practitioner/{rec['doctor']}", {"resourceType": "Practitioner", "id": rec["doctor"],
                                                        "name": [{"family": "Белова-Орлова", "given": ["Анна"]}]}
               ).status_code == 200
    third = book(http, rec["child"])
    assert third != second
    assert "Белова-Орлова" in pdf_text(third, tmp_path)  # the district doctor
    assert put(http, f"/Practitioner/{rec['lab']}", {"resourceType": "Practitioner", "id": rec["lab"],
                                                     "name": [{"family": "Котова-Лаврова", "given": ["Ольга"]}]}
               ).status_code == 200
    fourth = book(http, rec["child"])
    assert fourth != third
    assert "Котова-Лаврова" in pdf_text(fourth, tmp_path)  # who performed a report
    assert len(codes(database_url, rec["child"])) == 4


def test_a_book_kept_for_one_view_is_never_served_to_another(http: httpx.Client, database_url: str,
                                                             tmp_path: Path) -> None:
    world = World(http, database_url)
    clinic = world.organization("ДГП №2")
    child = world.child(born(15), clinic=clinic, family="Орлова")
    patient = body(http.get(f"/Patient/{child}"))
    patient["generalPractitioner"] = [{"reference": f"Practitioner/{world.practitioner('Белова')}"}]
    assert put(http, f"/Patient/{child}", patient).status_code == 200
    problem(http, child, "J45.0")
    problem(http, child, "F11.2")  # a teenager's own view leaves drug-addiction matters out before 16
    clinician = world.token(world.staff("dr-orlova-view", "pediatrician", clinic))
    teen = world.own_account(child, "teen-orlova-view")
    parent = world.parent_of(child, "mother-orlova-view")
    narrow = world.token(world.family("aunt-orlova-view"), "user/Patient.read")
    world.grant(child, rows(database_url, "SELECT id::text FROM account WHERE username = %s",
                            "aunt-orlova-view@example.ru")[0][0], by=f"Patient/{child}")

    by_clinician = book(http, child, clinician)
    by_teen = book(http, child, teen)
    assert "F11.2" in pdf_text(by_clinician, tmp_path)
    assert "F11.2" not in pdf_text(by_teen, tmp_path)
    assert "J45.0" in pdf_text(by_teen, tmp_path)
    # Each view is served its own kept book, however the requests interleave.
    assert book(http, child, clinician) == by_clinician
    assert book(http, child, teen) == by_teen
    # A parent is shown what the clinician is shown (the same types, nothing left out): the same book.
    assert book(http, child, parent) == by_clinician
    # A token that may read the Patient only: a book of its own, without the conditions.
    by_narrow = book(http, child, narrow)
    assert by_narrow not in (by_clinician, by_teen)
    assert "J45.0" not in pdf_text(by_narrow, tmp_path)
    assert book(http, child, clinician) == by_clinician
    assert len(codes(database_url, child)) == 3
    assert len(kept_blobs(database_url, child)) == 3


def test_a_missing_damaged_or_revoked_kept_book_is_rebuilt_not_served(
        http: httpx.Client, database_url: str, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    rec = make_child(http)
    store = blob_store(settings)
    assert isinstance(store, DirectoryBlobStore)
    first = book(http, rec["child"])
    store.path(hashlib.sha256(first).hexdigest()).unlink()
    with caplog.at_level(logging.WARNING):
        second = book(http, rec["child"])
    assert second != first
    assert len(codes(database_url, rec["child"])) == 2
    assert hashlib.sha256(first).hexdigest() in caplog.text
    damaged = store.path(hashlib.sha256(second).hexdigest())
    damaged.write_bytes(second[:-100] + b"damaged" * 10)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        third = book(http, rec["child"])
    assert third != second
    assert b"damaged" not in third
    assert not damaged.exists()  # the damaged file is superseded, and deleted
    assert "does not match its hash" in caplog.text
    assert rec["child"] not in caplog.text  # the log names the blob only
    assert "Смирнова" not in caplog.text
    assert len(codes(database_url, rec["child"])) == 3
    run_db(database_url, lambda conn: registry.revoke(conn, codes(database_url, rec["child"])[-1], "Ошибка"))
    fourth = book(http, rec["child"])
    assert fourth != third
    assert len(codes(database_url, rec["child"])) == 4
    assert book(http, rec["child"]) == fourth


def test_a_second_archive_has_the_same_book_and_renders_none(http: httpx.Client, database_url: str) -> None:
    rec = make_child(http)
    first = http.get(f"/Patient/{rec['child']}/$record-archive")
    second = http.get(f"/Patient/{rec['child']}/$record-archive")
    assert first.status_code == second.status_code == 200
    books = [zipfile.ZipFile(BytesIO(r.content)).read("record-book.pdf") for r in (first, second)]
    assert books[0] == books[1]
    assert len(codes(database_url, rec["child"])) == 1
    assert book(http, rec["child"]) == books[0]  # $record-book serves the archive's kept book too


def test_books_of_past_days_are_purged(http: httpx.Client, database_url: str) -> None:
    rec = make_child(http)
    kept_book = hashlib.sha256(book(http, rec["child"])).hexdigest()
    assert kept_book not in run_db(database_url, lambda conn: kept.stale(conn, FIXED_TODAY))  # today's: current
    assert kept_book in run_db(database_url, lambda conn: kept.stale(conn, FIXED_TODAY + timedelta(days=1)))
    assert kept_blobs(database_url, rec["child"]) == []
    assert len(codes(database_url, rec["child"])) == 1  # the registry keeps its entry: the code stays verifiable
