"""Bad and hostile input: a precise OperationOutcome, the right status, nothing written."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from helpers import FHIR_JSON, body, created_id, post, put


def rows(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM resource").fetchone()
    assert row is not None
    return int(row[0])


def test_malformed_json_says_where(http: httpx.Client, database_url: str) -> None:
    r = http.post("/Patient", content=b'{"resourceType": "Patient",\n "gender": "male",,}', headers=FHIR_JSON)
    assert r.status_code == 400
    issue = body(r)["issue"][0]
    assert issue["code"] == "structure"
    assert "line 2" in issue["diagnostics"]
    assert rows(database_url) == 0


@pytest.mark.parametrize("raw", [b"", b"[]", b'"Patient"', b"null", b'{"resourceType": "Patient", "x": NaN}',
                                 b"\xff\xfe{}"])
def test_bodies_that_are_not_a_resource_are_400(http: httpx.Client, raw: bytes) -> None:
    r = http.post("/Patient", content=raw, headers=FHIR_JSON)
    assert r.status_code == 400
    assert body(r)["resourceType"] == "OperationOutcome"


def test_wrong_resource_type_for_the_url_is_400(http: httpx.Client) -> None:
    r = post(http, "/Patient", {"resourceType": "Observation", "status": "final", "code": {"text": "x"}})
    assert r.status_code == 400
    assert "Observation" in body(r)["issue"][0]["diagnostics"]


def test_unknown_resource_type_in_body_is_404_by_url_and_400_by_body(http: httpx.Client) -> None:
    assert post(http, "/Dragon", {"resourceType": "Dragon"}).status_code == 404
    r = post(http, "", {"resourceType": "Bundle", "type": "batch",
                        "entry": [{"resource": {"resourceType": "Dragon"}, "request": {"method": "POST",
                                                                                        "url": "Dragon"}}]})
    assert body(r)["entry"][0]["response"]["status"] == "404"


def test_every_problem_is_reported_with_its_fhirpath_location(http: httpx.Client) -> None:
    bad = {"resourceType": "Patient", "gender": "boy", "birthDate": "2020-02-30", "nickname": "Петя",
           "name": [{"family": ""}], "active": "yes", "telecom": {"system": "phone", "value": "1"}}
    r = post(http, "/Patient", bad)
    assert r.status_code == 400
    found = {i["expression"][0]: i for i in body(r)["issue"]}
    assert set(found) == {"Patient.gender", "Patient.birthDate", "Patient.nickname", "Patient.name[0].family",
                          "Patient.active", "Patient.telecom"}
    assert found["Patient.gender"]["code"] == "code-invalid"
    assert "unknown element" in found["Patient.nickname"]["diagnostics"]
    assert "calendar" in found["Patient.birthDate"]["diagnostics"]


def test_missing_required_elements_and_bad_choice_types(http: httpx.Client) -> None:
    obs = {"resourceType": "Observation", "code": {"text": "x"}, "valueQuantity": {"value": 1},
           "valueString": "two values", "valueFoo": 1}
    r = post(http, "/Observation", obs)
    exprs = {i["expression"][0] for i in body(r)["issue"]}
    assert {"Observation.status", "Observation.value.ofType(string)", "Observation.valueFoo"} <= exprs


def test_a_50_megabyte_body_is_refused_with_413(http: httpx.Client, database_url: str) -> None:
    big = b'{"resourceType":"Patient","text":{"status":"generated","div":"<div>' + b"x" * (50 * 1024 * 1024) \
        + b'</div>"}}'
    try:
        r = http.post("/Patient", content=big, headers=FHIR_JSON)
    except httpx.TransportError:
        pytest.fail("the server dropped the connection instead of answering 413")
    assert r.status_code == 413
    assert body(r)["issue"][0]["code"] == "too-costly"
    assert rows(database_url) == 0


def test_a_large_body_without_content_length_is_refused_with_413(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"resourceType":"Patient","text":{"status":"generated","div":"<div>'
        for _ in range(20):
            yield b"x" * (1024 * 1024)
        yield b'</div>"}}'

    r = http.post("/Patient", content=chunks(), headers=FHIR_JSON)
    assert r.status_code == 413


def test_deeply_nested_json_is_refused_not_crashed(http: httpx.Client) -> None:
    nested = b'{"resourceType":"Patient","extension":' + b'[{"url":"x","extension":' * 3000 + b"[]" + \
        b"}]" * 3000 + b"}"
    r = http.post("/Patient", content=nested, headers=FHIR_JSON)
    assert r.status_code == 400


def test_script_in_narrative_is_refused(http: httpx.Client) -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><img onerror="x"/></div>'
    p = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    r = post(http, "/Patient", p)
    assert r.status_code == 400
    assert body(r)["issue"][0]["expression"] == ["Patient.text.div"]


def test_invalid_id_in_url_for_create_on_update(http: httpx.Client) -> None:
    r = put(http, "/Patient/bad id!", {"resourceType": "Patient", "id": "bad id!"})
    assert r.status_code == 400


def test_concurrent_updates_of_one_version_exactly_one_wins(http: httpx.Client, server: object) -> None:
    pid = created_id(post(http, "/Patient", {"resourceType": "Patient", "gender": "female"}))
    base = str(http.base_url)
    for round_ in range(5):
        current = body(http.get(f"/Patient/{pid}"))
        version = current["meta"]["versionId"]
        # two changes, neither equal to the current content (an unchanged PUT is a no-op, not a version)
        changes = [g for g in ("male", "female", "other", "unknown") if g != current["gender"]][:2]
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def update(gender: str, barrier: threading.Barrier = barrier, version: str = version,
                   statuses: list[int] = statuses) -> None:
            with httpx.Client(base_url=base, timeout=30, headers=dict(http.headers)) as client:
                barrier.wait()
                r = put(client, f"/Patient/{pid}", {"resourceType": "Patient", "id": pid, "gender": gender},
                        {"If-Match": f'W/"{version}"'})
                statuses.append(r.status_code)

        threads = [threading.Thread(target=update, args=(g,)) for g in changes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) in ([200, 409], [200, 412]), f"round {round_}: {statuses}"
        assert body(http.get(f"/Patient/{pid}"))["meta"]["versionId"] == str(int(version) + 1)


def test_concurrent_conditional_creates_make_one_resource(http: httpx.Client) -> None:
    base = str(http.base_url)
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def create() -> None:
        with httpx.Client(base_url=base, timeout=30, headers=dict(http.headers)) as client:
            barrier.wait()
            r = post(client, "/Patient", {"resourceType": "Patient",
                                          "identifier": [{"system": "urn:race", "value": "1"}]},
                     {"If-None-Exist": "identifier=urn:race|1"})
            statuses.append(r.status_code)

    threads = [threading.Thread(target=create) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 200, 201]
    found = body(http.get("/Patient", params={"identifier": "urn:race|1"}))
    assert len(found["entry"]) == 1


def test_identifiers_with_wrong_check_digits_are_422_with_their_location(http: httpx.Client,
                                                                          database_url: str) -> None:
    snils = "urn:oid:1.2.643.2.69.1.1.1.6.223"
    enp = "urn:oid:1.2.643.2.69.1.1.1.6.228"
    good = {"resourceType": "Patient", "identifier": [{"system": snils, "value": "112-233-445 95"},
                                                     {"system": enp, "value": "7700000000000016"}]}
    assert post(http, "/Patient", good).status_code == 201
    bad_snils = {"resourceType": "Patient", "identifier": [{"system": snils, "value": "112-233-445 96"}]}
    r = post(http, "/Patient", bad_snils)
    assert r.status_code == 422
    issue = body(r)["issue"][0]
    assert issue["expression"] == ["Patient.identifier[0].value"]
    assert "95" in issue["diagnostics"]
    bad_enp = {"resourceType": "Patient", "identifier": [{"system": "urn:other", "value": "1"},
                                                        {"system": enp, "value": "7700000000000017"}]}
    r = post(http, "/Patient", bad_enp)
    assert r.status_code == 422
    assert body(r)["issue"][0]["expression"] == ["Patient.identifier[1].value"]
    assert rows(database_url) == 1
