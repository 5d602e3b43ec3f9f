"""A search may ask for bounded work: at most so many criteria, OR values, includes and sort keys (400 beyond)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from conftest import ServerThread
from helpers import FHIR_JSON, bearer, body, post, system_token
from medcard.config import Settings

CRITERIA = Settings.model_fields["max_search_criteria"].default
OR_VALUES = Settings.model_fields["max_search_or_values"].default


def _refused(r: httpx.Response, *named: str) -> None:
    assert r.status_code == 400, r.text
    outcome = body(r)
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["code"] == "too-costly"
    for name in named:
        assert name in issue["diagnostics"], issue["diagnostics"]


def test_the_default_limits_are_sane() -> None:
    assert 10 <= CRITERIA <= 30
    assert 50 <= OR_VALUES <= 200


def test_repetitions_beyond_the_limit_are_400_naming_the_parameter_and_the_limit(http: httpx.Client) -> None:
    post(http, "/Patient", {"resourceType": "Patient", "name": [{"family": "a0"}]})
    within = [("family", "a")] * CRITERIA
    assert len(body(http.get("/Patient", params=within))["entry"]) == 1
    _refused(http.get("/Patient", params=[*within, ("given", "b")]), "'given'", f"at most {CRITERIA}")
    # the runaway of the report: hundreds of repetitions are refused at once, not planned for minutes
    _refused(http.get("/Patient", params=[("family", f"a{i}") for i in range(300)]), "'family'")


def test_chained_and_has_parameters_count_their_parts(http: httpx.Client) -> None:
    chains = [("subject:Patient.name", "a")] * (CRITERIA // 2)
    assert http.get("/Observation", params=chains).status_code == 200
    _refused(http.get("/Observation", params=[*chains, ("code", "x")]), "'code'")
    has = [("_has:Observation:patient:code", "x")] * (CRITERIA // 2 + 1)
    _refused(http.get("/Patient", params=has), "'_has:Observation:patient:code'")


def test_or_values_beyond_the_limit_are_400(http: httpx.Client) -> None:
    values = ",".join(f"c{i}" for i in range(OR_VALUES))
    assert http.get("/Observation", params={"code": values}).status_code == 200
    _refused(http.get("/Observation", params={"code": values + ",one-more"}), "'code'", f"at most {OR_VALUES}")
    # escaped commas do not separate values
    assert http.get("/Observation", params={"code": "\\,".join("x" * (OR_VALUES + 5))}).status_code == 200


def test_includes_and_sort_keys_count_against_the_criteria_limit(http: httpx.Client) -> None:
    includes = ",".join(["Observation:subject"] * CRITERIA)
    assert http.get("/Observation", params={"_include": includes}).status_code == 200
    _refused(http.get("/Observation", params={"_include": includes, "_revinclude": "Provenance:target"}),
             "'_revinclude'")
    _refused(http.get("/Patient", params={"_sort": ",".join(["birthdate"] * (CRITERIA + 1))}), "'_sort'")


def test_the_limits_hold_for_search_forms_bundles_and_conditional_writes(http: httpx.Client) -> None:
    too_many = [("family", f"a{i}") for i in range(CRITERIA + 1)]
    r = http.post("/Patient/_search", content=urlencode(too_many),
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    _refused(r, "'family'")
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient?" + urlencode(too_many)}}]}
    entry = body(post(http, "", bundle))["entry"][0]
    assert entry["response"]["status"].startswith("400")
    assert "at most" in entry["response"]["outcome"]["issue"][0]["diagnostics"]
    _refused(http.delete("/Patient?" + urlencode(too_many)), "'family'")
    _refused(http.put("/Patient?" + urlencode(too_many), content=b'{"resourceType": "Patient"}', headers=FHIR_JSON),
             "'family'")
    _refused(post(http, "/Patient", {"resourceType": "Patient"}, {"If-None-Exist": urlencode(too_many)}),
             "'family'")
    or_values = "identifier=" + ",".join(f"urn:x|{i}" for i in range(OR_VALUES + 1))
    _refused(http.delete("/Patient?" + or_values), "'identifier'")
    assert body(http.get("/Patient", params={"_summary": "count"}))["total"] == 0


@pytest.fixture
def strict_server(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    """A server configured with small limits."""
    with ServerThread(database_url, settings.model_copy(update={"max_search_criteria": 3,
                                                                "max_search_or_values": 2})) as srv:
        yield srv


def test_the_limits_are_settings(strict_server: ServerThread, database_url: str) -> None:
    with httpx.Client(base_url=strict_server.base, headers=bearer(system_token(database_url)), timeout=30) as http:
        params: list[tuple[str, Any]] = [("family", "a")] * 3
        assert http.get("/Patient", params=params).status_code == 200
        _refused(http.get("/Patient", params=[*params, ("gender", "male")]), "'gender'", "at most 3")
        assert http.get("/Patient", params={"gender": "male,female"}).status_code == 200
        _refused(http.get("/Patient", params={"gender": "male,female,other"}), "'gender'", "at most 2")
