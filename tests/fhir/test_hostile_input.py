"""Bad and hostile input: a precise OperationOutcome, the right status, nothing written."""

from __future__ import annotations

import base64
import random
import threading
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

import httpx
import psycopg
import pytest

from conftest import ServerThread
from helpers import FHIR_JSON, bearer, body, create_account, created_id, person_token, post, put
from medcard.config import Settings
from medcard.core import jsonutil
from medcard.fhir.search.index import MAX_INDEXED_BYTES
from medcard.fhir.search.limits import MAX_VALUE_LENGTH


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


# Text no value can hold: U+0000, lone surrogates, control characters ------------------------------


def _refused(r: httpx.Response, *named: str, status: int = 400) -> dict[str, object]:
    """The answer is the status with an OperationOutcome whose text names each of ``named``."""
    assert r.status_code == status, r.text
    outcome = body(r)
    assert outcome["resourceType"] == "OperationOutcome"
    text = " ".join(str(i.get("diagnostics", "")) + " " + " ".join(i.get("expression", [])) for i in outcome["issue"])
    for name in named:
        assert name in text, text
    return dict(outcome)


# (path, parameter as written): every type of search parameter, modifiers, chains, _has and controls
SEARCH_PARAMETERS = [
    ("/Patient", "gender"), ("/Patient", "identifier"), ("/Patient", "family"), ("/Patient", "family:exact"),
    ("/Patient", "birthdate"), ("/Observation", "value-quantity"), ("/RiskAssessment", "probability"),
    ("/Observation", "subject"), ("/Observation", "patient"), ("/ValueSet", "url"), ("/Patient", "_id"),
    ("/Patient", "_lastUpdated"), ("/Patient", "_content"), ("/Patient", "_text"), ("/Patient", "phonetic"),
    ("/Observation", "subject:Patient.name"), ("/Patient", "_has:Observation:patient:code"), ("/Patient", "_sort"),
    ("/Patient", "_include"), ("/Patient", "_count"), ("/Patient", "_cursor"),
]


@pytest.mark.parametrize(("path", "name"), SEARCH_PARAMETERS)
@pytest.mark.parametrize("raw", ["%00", "a%00b", "%01", "%1B"])
def test_control_characters_in_a_search_value_are_400_naming_the_parameter(
        http: httpx.Client, path: str, name: str, raw: str) -> None:
    _refused(http.get(f"{path}?{name}={raw}"), f"'{name}'", "control character")


@pytest.mark.parametrize("raw", ["%FF", "%ED%A0%80", "a%C3"])  # not UTF-8; a surrogate as UTF-8 bytes; cut short
def test_a_search_value_that_is_not_utf8_is_400_not_a_replacement_character(http: httpx.Client, raw: str) -> None:
    _refused(http.get(f"/Patient?family={raw}"), "'family'", "not UTF-8")


def test_a_parameter_name_with_nul_is_400(http: httpx.Client) -> None:
    _refused(http.get("/Patient?fam%00ily=x"), "name of the query parameter", "U+0000")


@pytest.mark.parametrize(("body_text", "message"), [
    (b"family=%00", "control character"), (b"family=%FF", "not UTF-8"), (b"gender=a%00b&family=x", "'gender'")])
def test_a_search_form_with_unreadable_text_is_400(http: httpx.Client, body_text: bytes, message: str) -> None:
    r = http.post("/Patient/_search", content=body_text, headers={"Content-Type": "application/x-www-form-urlencoded"})
    _refused(r, message)


def test_nul_in_the_path_is_400(http: httpx.Client) -> None:
    _refused(http.get("/Patient/a%00b"), "URL path", "U+0000")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_nul_in_the_criteria_of_a_conditional_write_is_400(http: httpx.Client, database_url: str, method: str) -> None:
    r = http.request(method, "/Patient?family=%00", content=jsonutil.dumps({"resourceType": "Patient"}),
                     headers=FHIR_JSON)
    _refused(r, "'family'")
    assert rows(database_url) == 0


def test_nul_in_if_none_exist_is_400(http: httpx.Client, database_url: str) -> None:
    r = post(http, "/Patient", {"resourceType": "Patient"}, {"If-None-Exist": "identifier=urn:x|%00"})
    _refused(r, "if-none-exist", "U+0000")
    assert rows(database_url) == 0


def test_nul_in_a_break_glass_reason_is_400(server: object, database_url: str, http: httpx.Client) -> None:
    child = created_id(post(http, "/Patient", {"resourceType": "Patient", "gender": "female"}))
    doctor = create_account(database_url, "staff", "dr.elsewhere", roles=[("pediatrician", "org-other")])
    with httpx.Client(base_url=str(http.base_url), timeout=30,
                      headers=bearer(person_token(database_url, doctor))) as staff:
        r = staff.get(f"/Patient/{child}", headers={"X-Break-Glass": "emergency%00"})
        _refused(r, "x-break-glass", "U+0000")
        assert staff.get(f"/Patient/{child}", headers={"X-Break-Glass": "emergency"}).status_code == 200


@pytest.mark.parametrize("keyset", [
    '["n", ["\\u0000", "x"]]', '["n", ["Patient", "\\ud800"]]', '["n", ["2024-01-01", "Patient", "x"]]'])
def test_an_edited_paging_token_is_400(http: httpx.Client, keyset: str) -> None:
    token = base64.urlsafe_b64encode(keyset.encode()).decode().rstrip("=")
    _refused(http.get("/Patient", params={"_cursor": token}), "paging token")


def test_an_edited_paging_token_of_a_sorted_search_is_400(http: httpx.Client) -> None:
    """The keyset's values must be of the sort keys' types, not text PostgreSQL fails to cast."""
    for raw in ('["n", ["not a date", "Patient", "x"]]', '["n", [{"a": 1}, "Patient", "x"]]'):
        token = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        _refused(http.get("/Patient", params={"_sort": "birthdate", "_cursor": token}), "paging token")
    token = base64.urlsafe_b64encode(b'["n", ["1e999999", "RiskAssessment", "x"]]').decode().rstrip("=")
    _refused(http.get("/RiskAssessment", params={"_sort": "probability", "_cursor": token}), "paging token")


@pytest.mark.parametrize(("escaped", "where"), [
    ("a\\u0000b", "Patient.name[0].family"), ("\\ud800", "Patient.name[0].family"),
    ("x\\udfff", "Patient.name[0].family")])
def test_unstorable_text_in_a_resource_is_400_at_its_element(http: httpx.Client, database_url: str, escaped: str,
                                                              where: str) -> None:
    raw = b'{"resourceType": "Patient", "name": [{"family": "' + escaped.encode() + b'"}]}'
    outcome = _refused(http.post("/Patient", content=raw, headers=FHIR_JSON), where)
    assert outcome["issue"][0]["expression"] == [where]  # type: ignore[index]
    assert rows(database_url) == 0


@pytest.mark.parametrize(("char", "where"), [
    ("\\u0001", "Patient.name[0].family"), ("\\u001b", "Patient.identifier[0].value"), ("\\u0007", "Patient.gender")])
def test_control_characters_in_a_resource_are_400_at_their_element(http: httpx.Client, char: str, where: str) -> None:
    raw = (b'{"resourceType": "Patient", "name": [{"family": "a' + (char.encode() if "family" in where else b"")
           + b'"}], "identifier": [{"system": "urn:x", "value": "v' + (char.encode() if "value" in where else b"")
           + b'"}], "gender": "male' + (char.encode() if "gender" in where else b"") + b'"}')
    outcome = _refused(http.post("/Patient", content=raw, headers=FHIR_JSON), where, "control character")
    assert [where] in [i.get("expression") for i in outcome["issue"]]  # type: ignore[attr-defined]
    # the control character is shown as an escape: the OperationOutcome itself is valid FHIR (the fixture checks)


def test_unstorable_text_in_a_json_patch_or_a_bundle_is_400(http: httpx.Client) -> None:
    pid = created_id(post(http, "/Patient", {"resourceType": "Patient", "gender": "male"}))
    r = http.patch(f"/Patient/{pid}", content=b'[{"op": "add", "path": "/name", "value": [{"family": "\\u0000"}]}]',
                   headers={"Content-Type": "application/json-patch+json"})
    _refused(r, "$[0].value[0].family")
    for entry in (b'{"request": {"method": "GET", "url": "Patient?family=\\ud800"}}',
                  b'{"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient", '
                  b'"ifNoneExist": "family=\\u0000"}}'):
        r = http.post("", content=b'{"resourceType": "Bundle", "type": "batch", "entry": [' + entry + b"]}",
                      headers=FHIR_JSON)
        _refused(r, "Bundle.entry[0].request")


# Numbers out of range --------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "name"), [("/Observation", "value-quantity"), ("/RiskAssessment", "probability"),
                                            ("/Observation", "component-value-quantity")])
@pytest.mark.parametrize("number", ["1e999999", "-1e999999", "1e-999999", "gt1e999999", "ap-1e999999",
                                    "1" * 200, "0." + "0" * 1200 + "1", "1e999999|http://unitsofmeasure.org|mg"])
def test_numbers_out_of_range_in_a_search_are_400_naming_the_parameter(http: httpx.Client, path: str, name: str,
                                                                       number: str) -> None:
    _refused(http.get(path, params={name: number}), f"'{name}'")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_number_out_of_range_in_a_conditional_write_is_400(http: httpx.Client, method: str) -> None:
    r = http.request(method, "/Observation?value-quantity=1e999999",
                     content=jsonutil.dumps({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
                     headers=FHIR_JSON)
    _refused(r, "'value-quantity'")


def test_numbers_in_range_still_match(http: httpx.Client) -> None:
    post(http, "/Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "w"},
                                "valueQuantity": {"value": Decimal("1E+50"), "unit": "kg"}})
    found = body(http.get("/Observation", params={"value-quantity": "gt1e49"}))
    assert found["total"] == 1
    assert body(http.get("/Observation", params={"value-quantity": "gt1e51"}))["total"] == 0


@pytest.mark.parametrize(("number", "why"), [
    ("1e999999", "too large"), ("-1e999999", "too large"), ("1e-999999", "places after the decimal point"),
    ("1e1000", "too large"), ("1." + "1" * 20000, "digits"), ("1" * 5000, "digits"),
    ("9" * 101, "digits")])
def test_decimals_out_of_range_in_a_resource_are_400_at_their_element(http: httpx.Client, database_url: str,
                                                                       number: str, why: str) -> None:
    raw = (b'{"resourceType": "Observation", "status": "final", "code": {"text": "x"}, '
           b'"valueQuantity": {"value": ' + number.encode() + b"}}")
    outcome = _refused(http.post("/Observation", content=raw, headers=FHIR_JSON), why)
    assert outcome["issue"][0]["expression"] == ["Observation.value.ofType(Quantity).value"]  # type: ignore[index]
    assert rows(database_url) == 0


def test_an_integer_of_thousands_of_digits_is_400_at_its_element(http: httpx.Client) -> None:
    raw = b'{"resourceType": "Patient", "multipleBirthInteger": ' + b"7" * 5000 + b"}"
    outcome = _refused(http.post("/Patient", content=raw, headers=FHIR_JSON), "out of range")
    assert outcome["issue"][0]["expression"] == ["Patient.multipleBirth.ofType(integer)"]  # type: ignore[index]


def test_decimals_within_the_range_keep_their_digits(http: httpx.Client) -> None:
    number = "-0." + "0" * 900 + "123456789012345678901234567890"
    raw = (b'{"resourceType": "Observation", "status": "final", "code": {"text": "x"}, '
           b'"valueQuantity": {"value": ' + number.encode() + b"}}")
    r = http.post("/Observation", content=raw, headers=FHIR_JSON)
    assert r.status_code == 201, r.text
    assert body(r)["valueQuantity"]["value"] == Decimal(number)


# Values longer than an index row ----------------------------------------------------------------


def test_a_token_longer_than_an_index_row_holds_is_422_naming_the_element(http: httpx.Client,
                                                                           database_url: str) -> None:
    long = "x" * (MAX_INDEXED_BYTES + 1)
    for resource, where in (
            ({"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": long}]}, "Patient.identifier"),
            ({"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": long, "code": "c"}]}},
             "Observation.code"),
            ({"resourceType": "ValueSet", "status": "draft", "url": "urn:" + long}, "ValueSet.url")):
        r = post(http, f"/{resource['resourceType']}", resource)
        outcome = _refused(r, where, str(MAX_INDEXED_BYTES), status=422)
        assert outcome["issue"][0]["code"] == "too-long"  # type: ignore[index]
    assert rows(database_url) == 0
    ok = {"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "я" * (MAX_INDEXED_BYTES // 2)}]}
    assert post(http, "/Patient", ok).status_code == 201


def _name(length: int, alphabet: str) -> str:
    """A name of random letters: PostgreSQL compresses repeated text, which would fit in an index row."""
    rng = random.Random(14)
    return "".join(rng.choice(alphabet) for _ in range(length))


def test_long_names_are_stored_and_found_by_their_beginning(http: httpx.Client) -> None:
    # a name of 5,000 letters; and one whose folded form is several times as long (NFKD of ligatures)
    cyrillic = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
    for family in (_name(5000, cyrillic), _name(600, "\ufdfa\ufdfb\u3300\u3301\u3302\u3303\u33ff\ufb01")):
        pid = created_id(post(http, "/Patient", {"resourceType": "Patient", "name": [{"family": family}]}))
        found = body(http.post("/Patient/_search", content=urlencode({"family": family[:300]}).encode(),
                               headers={"Content-Type": "application/x-www-form-urlencoded"}))
        assert [e["resource"]["id"] for e in found["entry"]] == [pid]
    found = body(http.get("/Patient", params={"phonetic": _name(1000, cyrillic)}))  # by its skeleton's beginning
    assert len(found["entry"]) == 1


def test_a_search_value_longer_than_any_stored_value_is_400(http: httpx.Client) -> None:
    _refused(http.get("/Patient", params={"family": "a" * (MAX_VALUE_LENGTH + 1)}), "'family'",
             str(MAX_VALUE_LENGTH))


@pytest.mark.parametrize(("path", "form"), [
    ("/auth/login", b"username=a%00b&password=x"),
    ("/oauth/token", b"grant_type=client_credentials&client_id=a%00b&client_secret=x"),
    ("/oauth/token", b"grant_type=client_credentials&client_id=%C3%28&client_secret=x"),
])
def test_forms_of_every_route_with_unreadable_text_are_400(server: ServerThread, path: str, form: bytes) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
        r = client.post(path, content=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    _refused(r, "in the form")


def test_a_form_larger_than_the_body_limit_is_413(http: httpx.Client, settings: Settings) -> None:
    form = b"family=" + b"a" * settings.max_body_bytes
    r = http.post("/Patient/_search", content=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 413


@pytest.mark.parametrize("query", [{"birthdate": "ap0100"}, {"_lastUpdated": "ap0001-01-01T00:00:00Z"},
                                   {"birthdate": "ap9999-12-31T00:00:00Z"}, {"birthdate": "ap0001"}])
def test_an_approximate_date_at_the_ends_of_time_is_answered(http: httpx.Client, query: dict[str, str]) -> None:
    r = http.get("/Patient", params=query)
    assert r.status_code in (200, 400), r.text
