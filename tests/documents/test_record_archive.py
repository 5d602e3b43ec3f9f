"""Patient/{id}/$record-archive: the whole record in one streamed ZIP, through the policy; and as a background job."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import httpx
import psycopg
from document_helpers import PDF, document, html_document, keep_pdf, work

from access.guards_helpers import World, born
from conftest import ServerThread
from helpers import body, created_id, post, put
from medcard.config import Settings
from medcard.documents.blobs import DirectoryBlobStore, blob_store
from medcard.fhir.validation import validation_issues

LAB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
VITALS = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}
ICD10 = "http://hl7.org/fhir/sid/icd-10"


def make_record(http: httpx.Client, database_url: str, settings: Settings) -> dict[str, str]:
    org = created_id(post(http, "/Organization", {"resourceType": "Organization", "name": "ДГП №1"}))
    child = created_id(post(http, "/Patient", {"resourceType": "Patient", "birthDate": "2015-04-02",
                                               "name": [{"family": "Смирнова", "given": ["Алиса"]}],
                                               "managingOrganization": {"reference": f"Organization/{org}"}}))
    subject = {"reference": f"Patient/{child}"}
    rec = {"org": org, "child": child}
    rec["condition"] = created_id(post(http, "/Condition", {
        "resourceType": "Condition", "subject": subject, "recordedDate": "2024-02-01",
        "code": {"coding": [{"system": ICD10, "code": "J45.0", "display": "Астма (аллергическая)"}]}}))
    rec["immunization"] = created_id(post(http, "/Immunization", {
        "resourceType": "Immunization", "status": "completed", "patient": subject, "occurrenceDateTime": "2016-05-01",
        "vaccineCode": {"text": "АКДС"}}))
    rec["lab"] = created_id(post(http, "/Observation", {
        "resourceType": "Observation", "status": "final", "category": [LAB], "subject": subject,
        "code": {"text": "Гемоглобин"}, "effectiveDateTime": "2025-01-10",
        "valueQuantity": {"value": 128, "unit": "g/L"}}))
    rec["vitals"] = created_id(post(http, "/Observation", {
        "resourceType": "Observation", "status": "final", "category": [VITALS], "subject": subject,
        "code": {"text": "Рост"}, "effectiveDateTime": "2025-01-10", "valueQuantity": {"value": 128, "unit": "cm"}}))
    rec["certificate"] = document(http, child, title="Справка в бассейн", when="2025-03-14T10:00:00+03:00")
    rec["protocol"] = document(http, child, title="Протокол приёма педиатра", when="2023-11-02T09:30:00+03:00")
    rec["school"] = document(http, child, title="Медицинская справка в школу", when="2024-08-20T11:00:00+03:00")
    rec["pdf"] = keep_pdf(database_url, settings, rec["certificate"])
    return rec


def pdf_text(data: bytes, folder: Path) -> str:
    (folder / "file.pdf").write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(folder / "file.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout


def unzip(data: bytes) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None  # every member's CRC checks out
    return archive


def refs(bundle: dict[str, Any]) -> list[str]:
    return sorted(f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"])


def test_the_archive_unzips_into_the_listed_files(http: httpx.Client, database_url: str, settings: Settings,
                                                  tmp_path: Path) -> None:
    rec = make_record(http, database_url, settings)
    r = http.get(f"/Patient/{rec['child']}/$record-archive")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/zip"
    names = unzip(r.content).namelist()
    assert names[:3] == ["README.txt", "fhir/everything.json", "fhir/ips.json"]
    assert names[-1] == "record-book.pdf"
    assert "problems.txt" not in names
    docs = [n for n in names if n.startswith("documents/")]
    assert f"documents/2025/2025-03-14 Справка в бассейн ({rec['certificate'][-8:]}).pdf" in docs
    # no printed form for a protocol without its kind: included as it was written
    assert f"documents/2023/2023-11-02 Протокол приёма педиатра ({rec['protocol'][-8:]}).html" in docs
    school = f"documents/2024/2024-08-20 Медицинская справка в школу ({rec['school'][-8:]}).pdf"
    assert school in docs  # rendered on this first request, and kept
    assert len(docs) == 3
    readme = unzip(r.content).read("README.txt").decode()
    assert "Медицинская карта ребёнка" in readme
    assert "Документов: 3." in readme
    assert unzip(r.content).read(docs[2]) == PDF  # the kept PDF, from the blob store
    assert unzip(r.content).read(school).startswith(b"%PDF")
    assert "Смирнова" in pdf_text(unzip(r.content).read("record-book.pdf"), tmp_path)
    attached = body(http.get(f"/DocumentReference/{rec['school']}"))["content"]
    assert [c["attachment"]["contentType"] for c in attached][-1] == "application/pdf"


def test_its_bundle_has_exactly_the_resources_everything_returns(http: httpx.Client, database_url: str,
                                                                 settings: Settings) -> None:
    rec = make_record(http, database_url, settings)
    everything = body(http.get(f"/Patient/{rec['child']}/$everything"))
    archive = unzip(http.get(f"/Patient/{rec['child']}/$record-archive").content)
    bundle = json.loads(archive.read("fhir/everything.json"))
    assert bundle["type"] == "searchset"
    assert refs(bundle) == refs(everything)
    assert not validation_issues(bundle)


def test_the_ips_is_a_document_with_the_sections_of_the_record(http: httpx.Client, database_url: str,
                                                               settings: Settings) -> None:
    rec = make_record(http, database_url, settings)
    ips = json.loads(unzip(http.get(f"/Patient/{rec['child']}/$record-archive").content).read("fhir/ips.json"))
    assert not validation_issues(ips)
    assert ips["type"] == "document"
    assert ips["identifier"]["value"].startswith("urn:uuid:")
    composition = ips["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert composition["type"]["coding"][0]["code"] == "60591-5"
    sections = {s["code"]["coding"][0]["code"]: s for s in composition["section"]}
    assert set(sections) == {"11450-4", "48765-2", "10160-0", "11369-6", "30954-2"}
    base = str(http.base_url).rstrip("/")
    assert [e["reference"] for e in sections["11450-4"]["entry"]] == [f"{base}/Condition/{rec['condition']}"]
    assert [e["reference"] for e in sections["11369-6"]["entry"]] == [f"{base}/Immunization/{rec['immunization']}"]
    assert [e["reference"] for e in sections["30954-2"]["entry"]] == [f"{base}/Observation/{rec['lab']}"]  # no vitals
    assert "emptyReason" in sections["48765-2"]
    assert "Гемоглобин" in sections["30954-2"]["text"]["div"]
    full_urls = {e["fullUrl"] for e in ips["entry"]}
    every_reference = [e["reference"] for s in composition["section"] for e in s.get("entry", [])]
    assert set(every_reference) <= full_urls
    assert composition["subject"]["reference"] in full_urls
    assert composition["author"][0]["reference"] == f"{base}/Organization/{rec['org']}"


def test_another_childs_archive_is_404_exactly_like_a_missing_one_and_audited(
        http: httpx.Client, database_url: str, settings: Settings) -> None:
    world = World(http, database_url)
    mine, theirs = world.child(born(9), family="Иванова"), world.child(born(10), family="Петрова")
    parent = world.parent_of(mine, "mother")
    assert http.get(f"/Patient/{mine}/$record-archive", headers=parent).status_code == 200
    refused = http.get(f"/Patient/{theirs}/$record-archive", headers=parent)
    missing = http.get("/Patient/nobody/$record-archive", headers=parent)
    assert refused.status_code == missing.status_code == 404
    assert refused.content.replace(theirs.encode(), b"X") == missing.content.replace(b"nobody", b"X")
    audit = world.rows("SELECT patient_id, outcome FROM audit_event WHERE entity LIKE %s AND subtype = 'export' "
                       "ORDER BY recorded", "%/$record-archive")
    assert audit == [(mine, "0"), (theirs, "4")]


def test_the_first_bytes_leave_before_the_archive_is_built(http: httpx.Client, database_url: str,
                                                           settings: Settings) -> None:
    rec = make_record(http, database_url, settings)
    # Hold the lock the archive takes for the protocol's PDF: building cannot get past that document.
    with psycopg.connect(database_url) as blocker:
        blocker.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))",
                        (f"pdf:DocumentReference/{rec['protocol']}",))
        # A client of its own: the fixture's reads every body whole to validate it.
        with httpx.Client(base_url=http.base_url, headers=http.headers, timeout=20) as client, \
                client.stream("GET", f"/Patient/{rec['child']}/$record-archive") as r:
            chunks = r.iter_raw()
            first = next(chunks)
            assert first.startswith(b"PK\x03\x04")  # a ZIP member's header: the archive has begun
            blocker.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
                            (f"pdf:DocumentReference/{rec['protocol']}",))
            rest = b"".join(chunks)
    assert len(unzip(first + rest).namelist()) >= 5


def test_respond_async_builds_it_in_the_background_for_its_requester_only(
        http: httpx.Client, database_url: str, settings: Settings, server: ServerThread) -> None:
    rec = make_record(http, database_url, settings)
    kick = http.get(f"/Patient/{rec['child']}/$record-archive", headers={"Prefer": "respond-async"})
    assert kick.status_code == 202
    status_url = kick.headers["content-location"]
    assert status_url.startswith(f"{server.base}/$record-archive-status/")
    assert http.get(status_url).status_code == 202
    world = World(http, database_url)
    stranger = world.token(world.family("stranger"))
    assert http.get(status_url, headers=stranger).status_code == 404
    assert work(database_url, settings) == 1
    done = http.get(status_url)
    assert done.status_code == 200
    assert done.headers["content-type"] == "application/zip"
    handed_over = World(http, database_url).rows(
        "SELECT count(*) FROM audit_event WHERE entity = %s AND subtype = 'export' AND outcome = '0'",
        f"Patient/{rec['child']}/$record-archive")
    assert handed_over == [(3,)]  # asked, built, handed over
    direct = unzip(http.get(f"/Patient/{rec['child']}/$record-archive").content)
    background = unzip(done.content)
    assert background.namelist() == direct.namelist()
    assert refs(json.loads(background.read("fhir/everything.json"))) == refs(json.loads(direct.read(
        "fhir/everything.json")))
    assert background.read(direct.namelist()[-2]) == direct.read(direct.namelist()[-2])


def test_a_deleted_record_has_no_archive(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", {"resourceType": "Patient"}))
    http.delete(f"/Patient/{pid}")
    assert http.get(f"/Patient/{pid}/$record-archive").status_code == 410


def test_the_async_status_of_an_unknown_job_is_404(http: httpx.Client) -> None:
    assert http.get("/$record-archive-status/00000000-0000-0000-0000-000000000000").status_code == 404


def test_a_damaged_pdf_is_left_out_of_the_archive_and_said_so(http: httpx.Client, database_url: str,
                                                              settings: Settings) -> None:
    rec = make_record(http, database_url, settings)
    store = blob_store(settings)
    assert isinstance(store, DirectoryBlobStore)
    kept = store.path(hashlib.sha256(PDF).hexdigest())
    kept.write_bytes(b"%PDF-1.4 not the file that was kept")
    try:
        archive = unzip(http.get(f"/Patient/{rec['child']}/$record-archive").content)
    finally:
        kept.write_bytes(PDF)  # the blob directory is the test session's: other tests keep the same PDF
    assert not [n for n in archive.namelist() if n.startswith("documents/2025/")]
    problems = archive.read("problems.txt").decode()
    assert f"Справка в бассейн ({rec['certificate'][-8:]}).pdf" in problems
    assert "повреждён" in problems
    assert b"not the file that was kept" not in b"".join(archive.read(n) for n in archive.namelist())


def test_two_documents_of_one_day_and_title_are_both_in_the_archive(http: httpx.Client) -> None:
    child = created_id(post(http, "/Patient", {"resourceType": "Patient"}))
    for rid in ("first-12345678", "second-12345678"):  # the same end of the id, too
        assert put(http, f"/DocumentReference/{rid}", {**html_document(child, title="Письмо"), "id": rid}
                   ).status_code == 201
    names = unzip(http.get(f"/Patient/{child}/$record-archive").content).namelist()
    assert [n for n in names if n.startswith("documents/")] == [
        "documents/2025/2025-03-14 Письмо (12345678).html", "documents/2025/2025-03-14 Письмо (12345678) (2).html"]


def test_the_record_book_is_a_pdf_of_the_record_through_the_policy(http: httpx.Client, database_url: str,
                                                                   settings: Settings, tmp_path: Path) -> None:
    rec = make_record(http, database_url, settings)
    r = http.get(f"/Patient/{rec['child']}/$record-book")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content, tmp_path)
    assert "Смирнова" in text
    assert "Гемоглобин" in text
    world = World(http, database_url)
    stranger = world.parent_of(world.child(born(4)), "someone")
    refused = http.get(f"/Patient/{rec['child']}/$record-book", headers=stranger)
    missing = http.get("/Patient/nobody/$record-book", headers=stranger)
    assert refused.status_code == missing.status_code == 404
    assert refused.content.replace(rec["child"].encode(), b"X") == missing.content.replace(b"nobody", b"X")
