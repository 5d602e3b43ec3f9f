"""The web layer over HTTP: sign-in redirects with the deep link, CSRF, the page gate and its audit,
break-glass, error pages, static files, the language switch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
from pages_helpers import clinic_and_child, hidden_fields, sign_in_client
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from conftest import ServerThread
from helpers import bearer, system_token
from medcard.config import Settings
from medcard.core.errors import NotFound
from medcard.fhir import store
from medcard.web.gate import CHART_MISSING, open_chart, page_gate
from medcard.web.session import require_staff

SignIn = Callable[..., httpx.Client]


async def chart(request: Request) -> Response:
    """A stand-in for the chart page: the page gate and the audited opening of the chart."""
    patient_id = request.path_params["patient_id"]
    user = await require_staff(request)
    async with page_gate(request, user, patient_id=patient_id) as (conn, gate):
        await open_chart(gate, patient_id)
        stored = await store.read_current(conn, "Patient", patient_id)
        if stored is None or stored.deleted:
            raise NotFound(CHART_MISSING)
    return PlainTextResponse("chart of " + patient_id)


async def boom(request: Request) -> Response:
    raise RuntimeError("a bug")


@pytest.fixture(scope="module")
def site(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    plain = settings.model_copy(update={"secure_cookies": False, "second_factor_roles": ""})
    srv = ServerThread(database_url, plain)
    srv.app.add_route("/app/test-chart/{patient_id}", chart)  # under /app: the page error handlers apply
    srv.app.add_route("/app/test-boom", boom)
    with srv:
        yield srv


@pytest.fixture
def root(site: ServerThread) -> str:
    return f"http://127.0.0.1:{site.port}"


@pytest.fixture
def signed_in(root: str, database_url: str) -> Iterator[Callable[..., httpx.Client]]:
    """``signed_in(username, roles=..., kind=...)``: a signed-in client, closed after the test."""
    clients: list[httpx.Client] = []

    def sign(username: str, **how: Any) -> httpx.Client:
        clients.append(sign_in_client(root, database_url, username, **how))
        return clients[-1]

    yield sign
    for client in clients:
        client.close()


@pytest.fixture
def api(site: ServerThread, database_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{site.port}/fhir/R4", timeout=60,
                      headers=bearer(system_token(database_url))) as client:
        yield client


def audit_rows(database_url: str, patient_id: str) -> list[tuple[str, str, str, str | None]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT subtype, outcome, purpose, break_glass FROM audit_event WHERE patient_id = %s "
                            "ORDER BY recorded", (patient_id,)).fetchall()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_a_page_sends_an_anonymous_visitor_to_sign_in_with_the_deep_link(root: str, signed_in: SignIn) -> None:
    with httpx.Client(base_url=root) as anonymous:
        response = anonymous.get("/app/patients?q=Сок&page=2")
    assert response.status_code == 303
    asked = "/app/patients?q=%D0%A1%D0%BE%D0%BA&page=2"
    assert response.headers["location"] == "/auth/login?" + urlencode({"next": asked})
    client = signed_in("dr.deep", roles=[("pediatrician", "org-x")])
    with httpx.Client(base_url=root) as anonymous:
        fragment = anonymous.get("/app/patients?q=Сок&page=2", headers={"HX-Request": "true"})
    assert fragment.headers["hx-redirect"] == response.headers["location"]  # htmx loads sign-in as a whole page
    login = client.get(response.headers["location"])  # already signed in: straight to the page asked for
    assert login.headers["location"] == asked


def test_staff_land_on_the_workspace_and_families_on_the_portal(signed_in: SignIn) -> None:
    staff = signed_in("dr.home", roles=[("pediatrician", "org-x")])
    home = staff.get("/app/")
    assert home.status_code == 200
    assert "Dr.Home" in home.text
    assert "data-search" in home.text
    assert staff.get("/my/").status_code == 403
    family = signed_in("mother", kind="family")
    assert "Mother" in family.get("/my/").text
    forbidden = family.get("/app/")
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("text/html")
    assert "Нет доступа" in forbidden.text


def test_opening_a_chart_is_an_audited_read_and_a_refusal_looks_like_a_missing_chart(
        database_url: str, api: httpx.Client, signed_in: SignIn) -> None:
    clinic, child = clinic_and_child(api)
    mine = signed_in("dr.mine", roles=[("pediatrician", clinic)])
    assert mine.get(f"/app/test-chart/{child}").text == f"chart of {child}"
    assert audit_rows(database_url, child)[-1] == ("read", "0", "TREAT", None)

    other = signed_in("dr.other", roles=[("pediatrician", "org-elsewhere")])
    refused, missing = other.get(f"/app/test-chart/{child}"), other.get("/app/test-chart/no-such-child")
    assert refused.status_code == missing.status_code == 404
    assert refused.text.replace(child, "ID") == missing.text.replace("no-such-child", "ID")  # nothing tells them apart
    assert audit_rows(database_url, child)[-1][:2] == ("read", "4")  # the refusal is audited


def test_break_glass_states_a_reason_then_the_chart_opens_as_emergency_access(
        database_url: str, api: httpx.Client, signed_in: SignIn) -> None:
    _, child = clinic_and_child(api)
    doctor = signed_in("dr.er", roles=[("pediatrician", "org-elsewhere")])
    refused = doctor.get(f"/app/patients/{child}")
    assert f'href="/app/patients/{child}/break-glass"' in refused.text  # offered on every not-found chart

    form = doctor.get(f"/app/patients/{child}/break-glass")
    assert form.status_code == 200
    assert 'name="reason"' in form.text
    empty = doctor.post(f"/app/patients/{child}/break-glass", data={**hidden_fields(form.text), "reason": "  "})
    assert empty.status_code == 400
    assert "Укажите причину" in empty.text
    no_csrf = doctor.post(f"/app/patients/{child}/break-glass", data={"reason": "Анафилаксия"})
    assert no_csrf.status_code == 403
    assert "Форма устарела" in no_csrf.text
    stated = doctor.post(f"/app/patients/{child}/break-glass",
                         data={**hidden_fields(form.text), "reason": "Анафилаксия на приёме"})
    assert stated.status_code == 303
    assert stated.headers["location"] == f"/app/patients/{child}"

    assert doctor.get(f"/app/test-chart/{child}").status_code == 200
    assert audit_rows(database_url, child)[-1] == ("read", "0", "ETREAT", "Анафилаксия на приёме")


def test_only_clinicians_may_break_the_glass(database_url: str, api: httpx.Client, signed_in: SignIn) -> None:
    _, child = clinic_and_child(api)
    registrar = signed_in("registrar", roles=[("registrar", "org-elsewhere")])
    assert "break-glass" not in registrar.get(f"/app/patients/{child}").text
    form = registrar.get(f"/app/patients/{child}/break-glass")
    assert form.status_code == 403
    home = registrar.get("/app/")
    stated = registrar.post(f"/app/patients/{child}/break-glass",
                            data={**hidden_fields(home.text), "reason": "любопытство"})
    assert stated.status_code == 403
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM web_break_glass").fetchone() == (0,)


def test_errors_under_app_are_pages_and_the_api_keeps_its_outcomes(api: httpx.Client, signed_in: SignIn) -> None:
    client = signed_in("dr.err", roles=[("nurse", "org-x")])
    page = client.get("/app/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert '<main id="main"' in page.text
    assert "Не найдено" in page.text
    crashed = client.get("/app/test-boom")
    assert crashed.status_code == 500
    assert crashed.headers["content-type"].startswith("text/html")
    assert "Ошибка сервера" in crashed.text
    assert "a bug" not in crashed.text
    outcome = api.get("/no-such-type/1")
    assert outcome.status_code == 404
    assert outcome.headers["content-type"].startswith("application/fhir+json")


def test_every_page_has_the_csp_and_static_files_are_immutable(signed_in: SignIn) -> None:
    client = signed_in("dr.csp", roles=[("nurse", "org-x")])
    home = client.get("/app/")
    assert home.headers["content-security-policy"].startswith("default-src 'self'")
    assert home.headers["cache-control"] == "no-store"
    for name in ("app.css", "app.js", "htmx.min.js"):
        url = home.text.split(f"/static/{name}?v=")[1].split('"')[0]
        static = client.get(f"/static/{name}?v={url}")
        assert static.status_code == 200
        assert static.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/static/../config.py").status_code == 404
    assert client.get("/static/nothing.css").status_code == 404
    assert "<script>" not in home.text
    assert " style=" not in home.text


def test_the_language_is_switched_per_person_and_remembered(signed_in: SignIn) -> None:
    client = signed_in("dr.lang", roles=[("nurse", "org-x")])
    assert "Рабочее место врача" in client.get("/app/").text
    english = client.get("/app/?lang=en")
    assert "Clinician's workspace" in english.text
    assert english.headers["content-language"] == "en"
    assert "Clinician's workspace" in client.get("/app/").text  # the cookie keeps the choice
    assert "Рабочее место врача" in client.get("/app/?lang=ru").text
    assert "Рабочее место врача" in client.get("/app/").text
