"""Application-wide behaviour: unexpected errors and logs that never carry patient data."""

from __future__ import annotations

import logging
import sys

import httpx
import pytest

from helpers import body, created_id, post
from medcard import app
from medcard.fhir import interactions


def test_unexpected_error_is_an_operation_outcome_and_its_message_is_not_logged(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object, **kwargs: object) -> interactions.Outcome:
        raise RuntimeError("Смирнова Анна, diagnosis J45")

    monkeypatch.setattr(interactions, "read", broken)
    with caplog.at_level(logging.INFO):
        r = http.get("/Patient/any")
    assert r.status_code == 500
    outcome = body(r)
    assert outcome["resourceType"] == "OperationOutcome"
    assert "Смирнова" not in r.text
    assert "RuntimeError" in caplog.text
    assert "Смирнова" not in caplog.text
    assert "J45" not in caplog.text


def test_access_log_names_the_route_not_the_path_or_query(http: httpx.Client,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    pid = created_id(post(http, "/Patient", {"resourceType": "Patient", "name": [{"family": "Секретова"}]}))
    with caplog.at_level(logging.INFO, logger="medcard.access"):
        http.get("/Patient", params={"family": "Секретова"})
        http.get(f"/Patient/{pid}")
    lines = [r.getMessage() for r in caplog.records if r.name == "medcard.access"]
    assert any("GET /fhir/R4/{rtype} 200" in line for line in lines)
    assert any("GET /fhir/R4/{rtype}/{rid} 200" in line for line in lines)
    assert not any("Секретова" in line or pid in line for line in lines)


def test_responses_carry_a_request_id(http: httpx.Client) -> None:
    r = http.get("/metadata", headers={"X-Request-Id": "abc123"})
    assert r.headers["X-Request-Id"] == "abc123"
    assert len(http.get("/metadata").headers["X-Request-Id"]) == 32


def test_a_started_server_hands_the_gil_to_its_event_loop_every_millisecond(http: httpx.Client) -> None:
    """A document laid out on the renderer thread holds the GIL; pages served meanwhile wait at most the switch
    interval at each await (bench_portal: pages p99 159 -> 107 ms with first-request PDFs, one run each)."""
    assert http.get("/metadata").status_code == 200  # the server (in this process) has started
    assert sys.getswitchinterval() == pytest.approx(app.GIL_SWITCH_SECONDS)
