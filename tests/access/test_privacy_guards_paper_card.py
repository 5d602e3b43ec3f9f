"""The registrar's one DocumentReference: the archived paper card (policy.json: the role's ``only`` rule and
the ``paper-card`` kind). A registrar of the child's clinic reads and finds the child's paper card, and no
other document of the record: not by id (the not-found answer, to the byte), not by search, ``_revinclude``
or count, not through the Patient operations; they may not change it; a registrar of another clinic gets
nothing."""

from __future__ import annotations

from typing import Any

import httpx
from guards_helpers import World, born, ids_in

from helpers import body, put

PAPER_CARD = "urn:medcard:paper-card:118"


def paper_card(child: str, clinic: str, number: str = "3-000123") -> dict[str, Any]:
    return {"resourceType": "DocumentReference", "status": "current",
            "identifier": [{"system": PAPER_CARD, "value": number}],
            "type": {"text": "История развития ребёнка (ф. 112/у)"}, "subject": {"reference": f"Patient/{child}"},
            "custodian": {"reference": f"Organization/{clinic}"}, "date": "2020-02-03T10:00:00+03:00",
            "description": f"Бумажная история развития ребёнка (ф. 112/у) № {number}, передана в архив",
            "context": {"period": {"start": "2015-04-01", "end": "2019-12-31"}},
            "content": [{"attachment": {"contentType": "text/plain", "data": "0JrQsNGA0YLQsA=="}}]}


def document(child: str, *, code: str = "11506-3", identifier: dict[str, str] | None = None) -> dict[str, Any]:
    """A clinical document of the child (by default a visit protocol)."""
    doc: dict[str, Any] = {"resourceType": "DocumentReference", "status": "current",
                           "type": {"coding": [{"system": "http://loinc.org", "code": code}]},
                           "subject": {"reference": f"Patient/{child}"}, "date": "2026-03-02T10:00:00+03:00",
                           "content": [{"attachment": {"contentType": "text/plain", "data": "0JbQsNC70L7QsdGL"}}]}
    if identifier is not None:
        doc["identifier"] = [identifier]
    return doc


def not_found(http: httpx.Client, path: str, rid: str, headers: dict[str, str]) -> str:
    """The answer to ``path`` with ``rid`` in it, with the id taken out, after checking it is a 404."""
    r = http.get(path.format(rid), headers=headers)
    assert r.status_code == 404, (path, r.status_code, r.text)
    return r.text.replace(rid, "ID")


def test_the_registrar_reads_and_finds_the_paper_card_and_no_other_document(http: httpx.Client,
                                                                          database_url: str) -> None:
    world = World(http, database_url)
    home, elsewhere = world.organization("ДГП № 118"), world.organization("ДГП № 46")
    child = world.child(born(11), clinic=home, family="Архипова")
    card = world.create(paper_card(child, home))
    protocol = world.create(document(child))
    consult = world.create(document(child, code="11488-4"))
    # an identifier that only looks like a paper card's: a system that merely begins alike
    lookalike = world.create(document(child, identifier={"system": "urn:medcard:paper-cards", "value": "1"}))
    clinical = {protocol, consult, lookalike}
    registrar = world.token(world.staff("reg-card", "registrar", home))
    far = world.token(world.staff("reg-card-far", "registrar", elsewhere))
    doctor = world.token(world.staff("dr-card", "pediatrician", home))

    read = http.get(f"/DocumentReference/{card}", headers=registrar)
    assert read.status_code == 200, read.text
    assert body(read)["identifier"][0]["value"] == "3-000123"
    assert http.get(f"/DocumentReference/{card}/_history/1", headers=registrar).status_code == 200
    missing = not_found(http, "/DocumentReference/{}", "no-such-document", registrar)
    # a deleted document has nothing to tell its kind by: to the registrar it does not exist (not 410)
    deleted = world.create(document(child, code="11488-4"))
    assert http.delete(f"/DocumentReference/{deleted}").status_code in (200, 204)
    assert http.get(f"/DocumentReference/{deleted}", headers=doctor).status_code == 410
    assert not_found(http, "/DocumentReference/{}", deleted, registrar) == missing
    for rid in clinical:  # refused exactly as a document that does not exist
        assert not_found(http, "/DocumentReference/{}", rid, registrar) == missing
        assert not_found(http, "/DocumentReference/{}/_history/1", rid, registrar) == not_found(
            http, "/DocumentReference/{}/_history/1", "no-such-document", registrar)

    assert ids_in(body(http.get("/DocumentReference", params={"patient": child}, headers=registrar)),
                  "DocumentReference") == {card}
    assert ids_in(body(http.get("/DocumentReference", headers=registrar)), "DocumentReference") == {card}
    counted = body(http.get("/DocumentReference", params={"patient": child, "_summary": "count"}, headers=registrar))
    assert counted["total"] == 1
    included = body(http.get("/Patient", params={"_id": child, "_revinclude": "DocumentReference:subject"},
                             headers=registrar))
    assert ids_in(included, "DocumentReference") == {card}
    by_type = body(http.get("/DocumentReference", params={"patient": child, "type": "http://loinc.org|11506-3"},
                            headers=registrar))
    assert ids_in(by_type, "DocumentReference") == set()

    # the clinician of the clinic sees every document; the registrar of another clinic none
    assert ids_in(body(http.get("/DocumentReference", params={"patient": child}, headers=doctor)),
                  "DocumentReference") == {card} | clinical
    assert http.get(f"/DocumentReference/{card}", headers=far).status_code == 404
    assert ids_in(body(http.get("/DocumentReference", params={"patient": child}, headers=far)),
                  "DocumentReference") == set()


def test_the_registrar_may_not_change_the_paper_card_nor_see_documents_through_operations(
        http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    home = world.organization("ДГП № 119")
    child = world.child(born(12), clinic=home)
    card = world.create(paper_card(child, home, "3-000456"))
    protocol = world.create(document(child))
    registrar = world.token(world.staff("reg-card-ops", "registrar", home))

    stored = body(http.get(f"/DocumentReference/{card}"))
    changed = put(http, f"/DocumentReference/{card}", {**stored, "status": "superseded"}, registrar)
    assert changed.status_code == 403, changed.text
    assert body(http.get(f"/DocumentReference/{card}"))["status"] == "current"
    # a clinical document cannot be made readable by giving it a paper card's identifier: not by the registrar
    relabelled = {**body(http.get(f"/DocumentReference/{protocol}")),
                  "identifier": [{"system": PAPER_CARD, "value": "3-999999"}]}
    assert put(http, f"/DocumentReference/{protocol}", relabelled, registrar).status_code in (403, 404)
    assert "identifier" not in body(http.get(f"/DocumentReference/{protocol}"))

    for operation in ("$everything", "$summary"):
        r = http.get(f"/Patient/{child}/{operation}", headers=registrar)
        assert r.status_code in (403, 404), (operation, r.status_code)
        assert protocol not in r.text
