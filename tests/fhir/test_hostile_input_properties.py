"""Property-based: whatever text or number a client sends, the server answers without a 5xx.

Hypothesis draws strings (U+0000, lone surrogates, control characters, the search escapes, very
long strings, any Unicode) and numbers (huge and tiny exponents, thousands of digits, NaN and
Infinity as text) and sends them as the value of every type of search parameter (by URL, by a
``_search`` form and in a batch Bundle) and as resource elements of each primitive type (by
POST, in a transaction, by JSON Patch). Every answer must be below 500, and every 4xx an
OperationOutcome; every resource the server returns is valid R4 (the ``http`` fixture checks it).

The runs are bounded and reproducible: ``derandomize`` draws the same examples on every run and
no example database is kept, so CI sees what a developer sees.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import FHIR_JSON

BOUNDED = settings(max_examples=75, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Text: single characters of every kind (controls and surrogates included), the characters that
# broke or might break something, and long runs of characters that grow when folded or encoded.
ATOMS = st.sampled_from(["\x00", "\ud800", "\udfff", "\udbff\udfff", "\x01", "\x1b", "\x7f", "\t", "\n", "\r",
                         "\ufffd", "\u202e", "\ufdfa", "\U0001d518", "ё", "Й", ",", "|", "$", "\\", "%", "_",
                         "'", '"', "&", "=", "+", "#", "?", "/", ":", ".", " ", "*"])
SHORT_TEXT = st.lists(st.one_of(ATOMS, st.characters(exclude_categories=())), max_size=30).map("".join)
LONG_TEXT = st.tuples(st.sampled_from(["x", "\ufdfa", "9", "я", "a,", "\U0001d518"]),
                      st.integers(200, 3000)).map(lambda t: t[0] * t[1])
TEXT = st.one_of(SHORT_TEXT, SHORT_TEXT, SHORT_TEXT, LONG_TEXT)

# Numbers, as JSON number tokens (the grammar JSON allows) and as anything else written as a number.
DIGITS = st.one_of(st.integers(0, 10**6).map(str), st.integers(1, 5000).map(lambda n: "9" * n))
JSON_NUMBER = st.builds(
    lambda sign, whole, fraction, exponent: f"{sign}{whole.lstrip('0') or '0'}{fraction}{exponent}",
    st.sampled_from(["", "-"]), DIGITS,
    st.one_of(st.just(""), DIGITS.map(lambda d: "." + d)),
    st.one_of(st.just(""), st.integers(-(10**7), 10**7).map(lambda e: f"e{e}"),
              st.integers(-30, 30).map(lambda e: f"E+{e}" if e >= 0 else f"E{e}")))
NUMBER_TEXT = st.one_of(JSON_NUMBER, st.decimals().map(str), st.sampled_from(
    ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "1e999999", "-1e999999", "1e-999999", "0e-999999",
     "1E+131072", "1_000", "0x10", "", "-", ".", "1.", ".5", "1e", "1e+"]))
PREFIXED_NUMBER = st.builds(lambda p, n, u: p + n + u,
                            st.sampled_from(["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]), NUMBER_TEXT,
                            st.sampled_from(["", "|http://unitsofmeasure.org|mg", "||kg", "|mg", "|\x00|"]))
DATE_TEXT = st.one_of(
    st.builds(lambda y, m, d, t: f"{y:04d}-{m:02d}-{d:02d}{t}", st.integers(0, 9999), st.integers(0, 99),
              st.integers(0, 99), st.sampled_from(["", "T10:00", "T24:60:61Z", "T10:00:00.123456789+03:00",
                                                    "T10:00:00+99:99", "T10:00:00." + "9" * 500 + "Z"])),
    st.builds(lambda p, y: f"{p}{y}", st.sampled_from(["", "ge", "lt", "ap", "sa"]), st.integers(-10, 10**9)))
VALUE = st.one_of(TEXT, PREFIXED_NUMBER, DATE_TEXT)

# A parameter of every search type, with modifiers, chains, _has and the control parameters.
PARAMETERS = [
    ("Patient", "family"), ("Patient", "name:exact"), ("Patient", "family:contains"), ("Patient", "gender"),
    ("Patient", "gender:not"), ("Patient", "identifier"), ("Patient", "identifier:text"),
    ("Patient", "identifier:missing"), ("Patient", "birthdate"), ("Patient", "_id"), ("Patient", "_lastUpdated"),
    ("Patient", "_content"), ("Patient", "_text"), ("Patient", "phonetic"), ("Patient", "general-practitioner"),
    ("Patient", "organization:Organization"), ("Patient", "_has:Observation:patient:code"),
    ("Patient", "_has:Observation:patient:value-quantity"), ("Observation", "value-quantity"),
    ("Observation", "code"), ("Observation", "subject"), ("Observation", "patient"),
    ("Observation", "subject:Patient.name"), ("Observation", "patient.birthdate"), ("Observation", "date"),
    ("Observation", "component-value-quantity"), ("RiskAssessment", "probability"), ("ValueSet", "url"),
    ("ValueSet", "url:below"), ("ValueSet", "url:above"), ("Patient", "_sort"), ("Patient", "_include"),
    ("Patient", "_revinclude"), ("Patient", "_count"), ("Patient", "_cursor"), ("Patient", "_summary"),
    ("Patient", "_elements"), ("Patient", "_total"), ("Patient", "unknown-parameter"),
]


def _encoded(text: str) -> str:
    """Percent-encoded UTF-8; a lone surrogate becomes the bytes a careless client would send (ED A0 80)."""
    return quote(text.encode("utf-8", errors="surrogatepass"), safe="")


def _json(document: Any) -> bytes:
    """JSON with every non-ASCII character escaped: lone surrogates and U+0000 travel as ``\\ud800``, ``\\u0000``."""
    return json.dumps(document, ensure_ascii=True).encode()


def _check(r: httpx.Response) -> None:
    assert r.status_code < 500, f"{r.status_code}: {r.text[:300]}"
    if r.status_code >= 400:
        outcome = r.json()
        assert outcome["resourceType"] == "OperationOutcome", r.text[:300]
        assert outcome["issue"][0]["diagnostics"]


@BOUNDED
@given(target=st.sampled_from(PARAMETERS), value=VALUE, how=st.sampled_from(["url", "form", "bundle"]))
def test_no_search_value_fails_the_server(http: httpx.Client, target: tuple[str, str], value: str, how: str) -> None:
    rtype, name = target
    if how == "url":
        r = http.get(f"/{rtype}?{_encoded(name)}={_encoded(value)}")
    elif how == "form":
        r = http.post(f"/{rtype}/_search", content=f"{_encoded(name)}={_encoded(value)}",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    else:
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": f"{rtype}?{_encoded(name)}={_encoded(value)}"}},
            {"request": {"method": "GET", "url": f"{rtype}?{name}={value}"}}]}
        r = http.post("", content=_json(bundle), headers=FHIR_JSON)
        if r.status_code == 200:
            for entry in r.json()["entry"]:
                assert int(entry["response"]["status"].split()[0]) < 500, entry
    _check(r)


@BOUNDED
@given(kind=st.sampled_from(["decimal", "integer", "quantity-in-component"]), number=JSON_NUMBER,
       how=st.sampled_from(["post", "transaction"]))
def test_no_number_in_a_resource_fails_the_server(http: httpx.Client, kind: str, number: str, how: str) -> None:
    marker = "@@number@@"
    if kind == "decimal":
        resource = {"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
                    "valueQuantity": {"value": marker, "unit": "kg"}}
    elif kind == "integer":
        resource = {"resourceType": "Patient", "multipleBirthInteger": marker}
    else:
        resource = {"resourceType": "Observation", "status": "final", "code": {"text": "bp"},
                    "component": [{"code": {"text": "systolic"}, "valueQuantity": {"value": marker}}]}
    text = json.dumps(resource).replace(f'"{marker}"', number)
    if how == "post":
        r = http.post(f"/{resource['resourceType']}", content=text, headers=FHIR_JSON)
    else:
        r = http.post("", content='{"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": '
                      + text + f', "request": {{"method": "POST", "url": "{resource["resourceType"]}"}}}}]}}',
                      headers=FHIR_JSON)
    _check(r)


ELEMENTS = {
    "string": lambda v: {"resourceType": "Patient", "name": [{"family": v, "given": ["a"]}]},
    "code": lambda v: {"resourceType": "Patient", "gender": v},
    "date": lambda v: {"resourceType": "Patient", "birthDate": v},
    "dateTime": lambda v: {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                           "effectiveDateTime": v},
    "uri": lambda v: {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                      "valueQuantity": {"value": 1, "system": v, "code": "kg"}},
    "identifier": lambda v: {"resourceType": "Patient", "identifier": [{"system": "urn:test", "value": v}]},
    "coding": lambda v: {"resourceType": "Observation", "status": "final",
                         "code": {"coding": [{"system": v, "code": v, "display": v}], "text": v}},
    "reference": lambda v: {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                            "subject": {"reference": v}},
    "markdown": lambda v: {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                           "note": [{"text": v}]},
    "xhtml": lambda v: {"resourceType": "Patient", "text": {
        "status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{v}</div>'}},
    "element name": lambda v: {"resourceType": "Patient", v: "x"},
}


PLAIN = {"Patient": {"resourceType": "Patient"},  # what is patched
         "Observation": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}}


@BOUNDED
@given(kind=st.sampled_from(sorted(ELEMENTS)), value=st.one_of(TEXT, DATE_TEXT),
       how=st.sampled_from(["post", "transaction", "patch"]))
def test_no_text_in_a_resource_fails_the_server(http: httpx.Client, kind: str, value: str, how: str) -> None:
    resource = ELEMENTS[kind](value)
    rtype = resource["resourceType"]
    if how == "post":
        r = http.post(f"/{rtype}", content=_json(resource), headers=FHIR_JSON)
    elif how == "transaction":
        r = http.post("", content=_json({"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": resource, "request": {"method": "POST", "url": rtype}}]}), headers=FHIR_JSON)
    else:
        created = http.post(f"/{rtype}", content=_json(PLAIN[rtype]), headers=FHIR_JSON)
        assert created.status_code == 201, created.text
        ops = [{"op": "add", "path": f"/{key}", "value": item} for key, item in resource.items()
               if key != "resourceType"]
        r = http.patch(f"/{rtype}/{created.json()['id']}", content=_json(ops),
                       headers={"Content-Type": "application/json-patch+json"})
    _check(r)
    if r.status_code in (200, 201) and how != "transaction":
        stored = r.json()
        # what was stored reads back, and searching for the text it holds fails nothing either
        _check(http.get(f"/{rtype}/{stored['id']}"))
        _check(http.post(f"/{rtype}/_search", content=f"_content={_encoded(value)}&_id={stored['id']}",
                         headers={"Content-Type": "application/x-www-form-urlencoded"}))
        if kind in ("string", "identifier"):
            name = "family" if kind == "string" else "identifier"
            _check(http.post(f"/{rtype}/_search", content=f"{name}={_encoded(value)}",
                             headers={"Content-Type": "application/x-www-form-urlencoded"}))
