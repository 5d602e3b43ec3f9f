"""Read, create, update, patch, delete, versions and history through plain HTTP."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from helpers import body, created_id, post, put
from medcard.core import jsonutil


def patient(family: str = "Иванова", **extra: object) -> dict[str, object]:
    return {"resourceType": "Patient", "name": [{"family": family, "given": ["Анна"]}], "gender": "female",
            "birthDate": "2019-05-04", **extra}


def test_create_assigns_id_version_and_last_updated_and_ignores_client_id(http: httpx.Client) -> None:
    r = post(http, "/Patient", patient(id="client-chosen"))
    assert r.status_code == 201
    created = body(r)
    assert created["id"] != "client-chosen"
    assert created["meta"]["versionId"] == "1"
    assert created["meta"]["lastUpdated"].endswith("Z")
    assert r.headers["ETag"] == 'W/"1"'
    assert r.headers["Location"].endswith(f"/Patient/{created['id']}/_history/1")
    assert r.headers["Content-Type"].startswith("application/fhir+json")


def test_read_returns_exactly_the_stored_json(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient()))
    first = http.get(f"/Patient/{pid}")
    second = http.get(f"/Patient/{pid}")
    assert first.status_code == 200
    assert first.content == second.content
    assert first.headers["ETag"] == 'W/"1"'
    assert "Last-Modified" in first.headers
    assert body(first)["name"][0]["family"] == "Иванова"


def test_decimal_precision_survives_the_round_trip(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient()))
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "рост"},
           "subject": {"reference": f"Patient/{pid}"},
           "valueQuantity": {"value": Decimal("101.50"), "unit": "cm"}}
    oid = created_id(post(http, "/Observation", obs))
    raw = http.get(f"/Observation/{oid}").content
    assert b'"value":101.50' in raw


def test_unknown_resource_is_404_and_unknown_type_is_404(http: httpx.Client) -> None:
    r = http.get("/Patient/does-not-exist")
    assert r.status_code == 404
    assert body(r)["resourceType"] == "OperationOutcome"
    r = http.get("/Spaceship/1")
    assert r.status_code == 404
    assert "Spaceship" in body(r)["issue"][0]["diagnostics"]


def test_update_makes_a_new_version_and_vread_returns_each(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient()))
    changed = {**patient("Смирнова"), "id": pid}
    r = put(http, f"/Patient/{pid}", changed)
    assert r.status_code == 200
    assert body(r)["meta"]["versionId"] == "2"
    assert r.headers["ETag"] == 'W/"2"'
    assert body(http.get(f"/Patient/{pid}/_history/1"))["name"][0]["family"] == "Иванова"
    assert body(http.get(f"/Patient/{pid}/_history/2"))["name"][0]["family"] == "Смирнова"
    assert http.get(f"/Patient/{pid}/_history/3").status_code == 404


def test_update_with_same_content_creates_no_new_version(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient()))
    r = put(http, f"/Patient/{pid}", {**patient(), "id": pid})
    assert r.status_code == 200
    assert body(r)["meta"]["versionId"] == "1"


def test_update_with_client_id_creates_the_resource(http: httpx.Client) -> None:
    r = put(http, "/Patient/child-42", {**patient(), "id": "child-42"})
    assert r.status_code == 201
    assert body(http.get("/Patient/child-42"))["id"] == "child-42"


def test_update_refuses_body_without_id_or_with_other_id(http: httpx.Client) -> None:
    assert put(http, "/Patient/a1", patient()).status_code == 400
    r = put(http, "/Patient/a1", {**patient(), "id": "a2"})
    assert r.status_code == 400
    assert "differs" in body(r)["issue"][0]["diagnostics"]


def test_if_match_with_stale_version_is_412_and_current_version_succeeds(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient()))
    assert put(http, f"/Patient/{pid}", {**patient("Б"), "id": pid}, {"If-Match": 'W/"1"'}).status_code == 200
    stale = put(http, f"/Patient/{pid}", {**patient("В"), "id": pid}, {"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert body(stale)["resourceType"] == "OperationOutcome"
    assert put(http, f"/Patient/{pid}", {**patient("В"), "id": pid}, {"If-Match": 'W/"2"'}).status_code == 200
    assert put(http, f"/Patient/{pid}", {**patient("Г"), "id": pid}, {"If-Match": "nonsense"}).status_code == 400


def test_delete_is_soft_read_is_410_and_history_keeps_it(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient()))
    r = http.delete(f"/Patient/{pid}")
    assert r.status_code == 204
    gone = http.get(f"/Patient/{pid}")
    assert gone.status_code == 410
    assert body(gone)["issue"][0]["code"] == "deleted"
    assert http.get(f"/Patient/{pid}/_history/1").status_code == 200
    assert http.get(f"/Patient/{pid}/_history/2").status_code == 410
    hist = body(http.get(f"/Patient/{pid}/_history"))
    assert [e["request"]["method"] for e in hist["entry"]] == ["DELETE", "POST"]
    assert "resource" not in hist["entry"][0]
    assert http.delete(f"/Patient/{pid}").status_code == 204  # already deleted: nothing changes
    assert len(body(http.get(f"/Patient/{pid}/_history"))["entry"]) == 2
    assert http.delete("/Patient/never-existed").status_code == 404


def test_update_after_delete_brings_the_resource_back(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient()))
    http.delete(f"/Patient/{pid}")
    r = put(http, f"/Patient/{pid}", {**patient(), "id": pid})
    assert r.status_code == 201
    assert body(r)["meta"]["versionId"] == "3"


def test_json_patch_changes_the_resource_and_respects_if_match(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient()))
    ops = [{"op": "replace", "path": "/gender", "value": "other"}]
    r = http.patch(f"/Patient/{pid}", content=jsonutil.dumps(ops),
                   headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200
    assert body(r)["gender"] == "other"
    assert body(r)["meta"]["versionId"] == "2"
    stale = http.patch(f"/Patient/{pid}", content=jsonutil.dumps(ops),
                       headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"1"'})
    assert stale.status_code == 412


def test_json_patch_producing_invalid_resource_is_refused(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient()))
    bad = [{"op": "replace", "path": "/gender", "value": "girl"}]
    r = http.patch(f"/Patient/{pid}", content=jsonutil.dumps(bad),
                   headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 400
    assert body(r)["issue"][0]["expression"] == ["Patient.gender"]
    missing_path = [{"op": "remove", "path": "/nothing-here"}]
    r = http.patch(f"/Patient/{pid}", content=jsonutil.dumps(missing_path),
                   headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 422
    assert body(http.get(f"/Patient/{pid}"))["meta"]["versionId"] == "1"


def test_conditional_create_creates_once(http: httpx.Client) -> None:
    p = patient(identifier=[{"system": "urn:test", "value": "1"}])
    first = post(http, "/Patient", p, {"If-None-Exist": "identifier=urn:test|1"})
    assert first.status_code == 201
    second = post(http, "/Patient", p, {"If-None-Exist": "identifier=urn:test|1"})
    assert second.status_code == 200
    assert body(second)["id"] == body(first)["id"]
    post(http, "/Patient", patient(identifier=[{"system": "urn:test", "value": "1"}]))
    ambiguous = post(http, "/Patient", p, {"If-None-Exist": "identifier=urn:test|1"})
    assert ambiguous.status_code == 412


def test_conditional_create_with_unknown_parameter_is_refused(http: httpx.Client) -> None:
    r = post(http, "/Patient", patient(), {"If-None-Exist": "shoe-size=42"})
    assert r.status_code == 400
    assert "shoe-size" in body(r)["issue"][0]["diagnostics"]


def test_conditional_update_creates_then_updates_then_refuses_ambiguity(http: httpx.Client) -> None:
    p = patient(identifier=[{"system": "urn:test", "value": "7"}])
    r = put(http, "/Patient?identifier=urn:test|7", p)
    assert r.status_code == 201
    pid = body(r)["id"]
    r = put(http, "/Patient?identifier=urn:test|7", {**p, "gender": "unknown"})
    assert r.status_code == 200
    assert body(r)["id"] == pid
    assert body(r)["meta"]["versionId"] == "2"
    post(http, "/Patient", p)
    assert put(http, "/Patient?identifier=urn:test|7", p).status_code == 412


def test_conditional_delete_deletes_the_single_match(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient(identifier=[{"system": "urn:test", "value": "9"}])))
    assert http.delete("/Patient?identifier=urn:test|9").status_code == 204
    assert http.get(f"/Patient/{pid}").status_code == 410


@pytest.mark.parametrize("prefer", ["return=minimal", "return=representation", "return=OperationOutcome"])
def test_prefer_return_controls_the_body(http: httpx.Client, prefer: str) -> None:
    r = post(http, "/Patient", patient(), {"Prefer": prefer})
    assert r.status_code == 201
    assert "Location" in r.headers
    if prefer == "return=minimal":
        assert r.content == b""
    elif prefer == "return=representation":
        assert body(r)["resourceType"] == "Patient"
    else:
        assert body(r)["resourceType"] == "OperationOutcome"


def test_history_at_type_and_system_level_with_since_and_count(http: httpx.Client) -> None:
    ids = [created_id(post(http, "/Patient", patient(f"Ф{i}"))) for i in range(3)]
    put(http, f"/Patient/{ids[0]}", {**patient("Новая"), "id": ids[0]})
    page = body(http.get("/Patient/_history", params={"_count": 2}))
    assert page["type"] == "history"
    assert len(page["entry"]) == 2
    assert page["entry"][0]["resource"]["name"][0]["family"] == "Новая"  # newest first
    seen = [e["fullUrl"] + e["resource"]["meta"]["versionId"] for e in page["entry"]]
    next_url = next(link["url"] for link in page["link"] if link["relation"] == "next")
    rest = body(http.get(next_url))
    seen += [e["fullUrl"] + e["resource"]["meta"]["versionId"] for e in rest["entry"]]
    assert len(seen) == 4
    assert len(set(seen)) == 4
    since = page["entry"][0]["resource"]["meta"]["lastUpdated"]
    recent = body(http.get("/_history", params={"_since": since}))
    assert [e["resource"]["id"] for e in recent["entry"]] == [ids[0]]
    assert http.get("/_history", params={"_since": "yesterday"}).status_code == 400


def test_if_none_match_gives_304(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient()))
    r = http.get(f"/Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304


def test_xml_is_not_acceptable_and_format_json_is(http: httpx.Client) -> None:
    assert http.get("/metadata", headers={"Accept": "application/fhir+xml"}).status_code == 406
    assert http.get("/metadata", params={"_format": "xml"}).status_code == 406
    assert http.get("/metadata", params={"_format": "json"}).status_code == 200
    assert http.get("/metadata", headers={"Accept": "application/json"}).status_code == 200


def test_wrong_content_type_is_415(http: httpx.Client) -> None:
    r = http.post("/Patient", content=b"<Patient/>", headers={"Content-Type": "application/fhir+xml"})
    assert r.status_code == 415
    assert body(r)["issue"][0]["code"] == "not-supported"


def test_pretty_output_is_indented(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", patient()))
    r = http.get(f"/Patient/{pid}", params={"_pretty": "true"})
    assert b'\n  "resourceType"' in r.content


def test_unknown_route_and_method_give_operation_outcomes(http: httpx.Client) -> None:
    r = http.post("/Patient/123")
    assert r.status_code == 405
    assert body(r)["resourceType"] == "OperationOutcome"


def test_client_meta_is_kept_and_server_meta_is_overwritten(http: httpx.Client) -> None:
    tag = {"system": "urn:medcard:test", "code": "demo"}
    r = post(http, "/Patient", patient(meta={"versionId": "99", "lastUpdated": "2000-01-01T00:00:00Z",
                                             "tag": [tag]}))
    meta = body(r)["meta"]
    assert meta["tag"] == [tag]
    assert meta["versionId"] == "1"
    assert meta["lastUpdated"] != "2000-01-01T00:00:00Z"
    assert list(body(r))[:3] == ["resourceType", "id", "meta"]
