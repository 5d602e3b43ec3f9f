"""Binary/{id}: the PDF of a document from the blob store, through the access policy and the audit log."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import subprocess
from pathlib import Path

import httpx
import pytest
from document_helpers import PDF, document, keep_pdf

from access.guards_helpers import World, born
from conftest import ServerThread
from helpers import body, created_id, post
from medcard.config import Settings
from medcard.documents.binaries import blob_of
from medcard.documents.blobs import DirectoryBlobStore, blob_store

PDF_ACCEPT = {"Accept": "application/pdf"}


def _child(http: httpx.Client) -> str:
    return created_id(post(http, "/Patient", {"resourceType": "Patient", "birthDate": "2018-05-01"}))


def test_the_pdf_is_a_binary_attached_to_the_document(http: httpx.Client, database_url: str,
                                                      settings: Settings) -> None:
    doc = document(http, _child(http))
    bid = keep_pdf(database_url, settings, doc)
    docref = body(http.get(f"/DocumentReference/{doc}"))
    [pdf] = [c["attachment"] for c in docref["content"] if c["attachment"]["contentType"] == "application/pdf"]
    assert pdf["url"] == f"Binary/{bid}"
    assert pdf["size"] == len(PDF)
    assert pdf["hash"] == base64.b64encode(hashlib.sha1(PDF).digest()).decode()  # noqa: S324 (FHIR's hash)
    assert docref["content"][0]["attachment"]["contentType"].startswith("text/html")  # the HTML stays


def test_binary_with_accept_pdf_returns_the_bytes_from_the_blob_store(http: httpx.Client, database_url: str,
                                                                       settings: Settings) -> None:
    bid = keep_pdf(database_url, settings, document(http, _child(http)))
    r = http.get(f"/Binary/{bid}", headers=PDF_ACCEPT)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-length"] == str(len(PDF))
    assert r.content == PDF


def test_binary_as_fhir_is_the_resource_with_the_data_in_base64_and_no_bytes_in_the_row(
        http: httpx.Client, database_url: str, settings: Settings, server: ServerThread) -> None:
    doc = document(http, _child(http))
    bid = keep_pdf(database_url, settings, doc)
    r = http.get(f"/Binary/{bid}", headers={"Accept": "application/fhir+json"})
    assert r.status_code == 200
    binary = body(r)
    assert binary["resourceType"] == "Binary"
    assert binary["contentType"] == "application/pdf"
    assert binary["securityContext"] == {"reference": f"DocumentReference/{doc}"}
    assert base64.b64decode(binary["data"]) == PDF
    stored = World(http, database_url).rows("SELECT content FROM resource WHERE resource_type = 'Binary' AND id = %s",
                                            bid)[0][0]
    assert "data" not in stored
    ref = blob_of(json.loads(stored))
    assert ref is not None
    assert ref.key == hashlib.sha256(PDF).hexdigest()


def test_a_client_written_binary_with_inline_data_is_served_as_bytes_too(http: httpx.Client) -> None:
    bid = created_id(post(http, "/Binary", {"resourceType": "Binary", "contentType": "application/pdf",
                                            "data": base64.b64encode(PDF).decode()}))
    assert http.get(f"/Binary/{bid}", headers=PDF_ACCEPT).content == PDF
    assert base64.b64decode(body(http.get(f"/Binary/{bid}"))["data"]) == PDF


def test_another_childs_pdf_is_404_exactly_like_a_missing_one_and_both_are_audited(
        http: httpx.Client, database_url: str, settings: Settings) -> None:
    world = World(http, database_url)
    mine, theirs = world.child(born(7), family="Иванова"), world.child(born(8), family="Петрова")
    parent = world.parent_of(mine, "mother")
    my_pdf = keep_pdf(database_url, settings, document(http, mine))
    their_pdf = keep_pdf(database_url, settings, document(http, theirs))

    assert http.get(f"/Binary/{my_pdf}", headers={**PDF_ACCEPT, **parent}).content == PDF
    refused = http.get(f"/Binary/{their_pdf}", headers={**PDF_ACCEPT, **parent})
    missing = http.get("/Binary/no-such-binary", headers={**PDF_ACCEPT, **parent})
    assert refused.status_code == missing.status_code == 404
    assert refused.content.replace(their_pdf.encode(), b"X") == missing.content.replace(b"no-such-binary", b"X")
    assert PDF not in refused.content
    audit = world.rows("SELECT patient_id, outcome FROM audit_event WHERE entity IN (%s, %s) AND subtype = 'read' "
                       "ORDER BY recorded", f"Binary/{my_pdf}", f"Binary/{their_pdf}")
    assert audit == [(mine, "0"), (theirs, "4")]


@pytest.mark.parametrize("damage", ["changed", "missing"])
def test_a_damaged_or_missing_blob_is_reported_never_served(
        http: httpx.Client, database_url: str, settings: Settings, caplog: pytest.LogCaptureFixture,
        damage: str) -> None:
    child = _child(http)
    bid = keep_pdf(database_url, settings, document(http, child), PDF + damage.encode())
    store = blob_store(settings)
    assert isinstance(store, DirectoryBlobStore)
    key = hashlib.sha256(PDF + damage.encode()).hexdigest()
    if damage == "changed":
        store.path(key).write_bytes(b"%PDF-1.4 a different file of the same name")
    else:
        store.path(key).unlink()
    with caplog.at_level(logging.ERROR, logger="medcard.documents.blobs"):
        for accept in ("application/pdf", "application/fhir+json"):
            r = http.get(f"/Binary/{bid}", headers={"Accept": accept})
            assert r.status_code == 500
            outcome = body(r)
            assert outcome["resourceType"] == "OperationOutcome"
            assert ("damaged" if damage == "changed" else "missing") in outcome["issue"][0]["diagnostics"]
            assert b"%PDF" not in r.content
    assert f"blob {key}" in caplog.text
    assert child not in caplog.text
    outcomes = World(http, database_url).rows("SELECT outcome FROM audit_event WHERE entity = %s", f"Binary/{bid}")
    assert outcomes == [("8",), ("8",)]


def test_the_pdf_operation_serves_the_kept_pdf_and_names_its_binary(http: httpx.Client, database_url: str,
                                                                    settings: Settings, server: ServerThread) -> None:
    doc = document(http, _child(http))
    bid = keep_pdf(database_url, settings, doc)
    r = http.get(f"/DocumentReference/{doc}/$pdf")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-location"] == f"{server.base}/Binary/{bid}"
    assert r.content == PDF


def test_the_pdf_of_another_childs_document_is_404_exactly_like_a_missing_one(
        http: httpx.Client, database_url: str, settings: Settings) -> None:
    world = World(http, database_url)
    mine, theirs = world.child(born(5), family="Иванова"), world.child(born(6), family="Петрова")
    parent = world.parent_of(mine, "mother")
    my_doc, their_doc = document(http, mine), document(http, theirs)
    keep_pdf(database_url, settings, my_doc)
    keep_pdf(database_url, settings, their_doc)
    assert http.get(f"/DocumentReference/{my_doc}/$pdf", headers=parent).content == PDF
    refused = http.get(f"/DocumentReference/{their_doc}/$pdf", headers=parent)
    missing = http.get("/DocumentReference/nothing/$pdf", headers=parent)
    assert refused.status_code == missing.status_code == 404
    assert refused.content.replace(their_doc.encode(), b"X") == missing.content.replace(b"nothing", b"X")
    audit = world.rows("SELECT patient_id, outcome FROM audit_event WHERE entity LIKE %s ORDER BY recorded",
                       "DocumentReference/%/$pdf")
    assert audit == [(mine, "0"), (theirs, "4")]


def test_an_html_document_gets_its_pdf_rendered_on_first_request_and_kept(
        http: httpx.Client, database_url: str, tmp_path: Path) -> None:
    world = World(http, database_url)
    clinic = world.organization("ГБУЗ «Детская городская поликлиника № 7»")
    child = world.child(born(9), clinic=clinic, family="Ёлкина")
    doc = document(http, child, title="Справка для посещения бассейна")
    first = http.get(f"/DocumentReference/{doc}/$pdf")
    assert first.status_code == 200
    assert first.content.startswith(b"%PDF")
    (tmp_path / "doc.pdf").write_bytes(first.content)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "doc.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Ёлкина" in text
    binary = first.headers["content-location"].rsplit("/", 1)[1]
    attached = body(http.get(f"/DocumentReference/{doc}"))["content"]
    assert [c["attachment"]["url"] for c in attached if c["attachment"]["contentType"] == "application/pdf"] == [
        f"Binary/{binary}"]
    again = http.get(f"/DocumentReference/{doc}/$pdf")
    assert again.content == first.content  # kept, not rendered again (a new rendering has a new code and signature)
    assert again.headers["content-location"] == first.headers["content-location"]
    assert world.rows("SELECT count(*) FROM resource WHERE resource_type = 'Binary'") == [(1,)]


def test_a_document_medcard_has_no_printed_form_for_is_422_and_stays_as_written(http: httpx.Client) -> None:
    doc = document(http, _child(http), title="Письмо в школу")
    r = http.get(f"/DocumentReference/{doc}/$pdf")
    assert r.status_code == 422
    assert body(r)["resourceType"] == "OperationOutcome"
    assert len(body(http.get(f"/DocumentReference/{doc}"))["content"]) == 1
