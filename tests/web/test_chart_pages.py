"""The chart pages over HTTP: the chart on one screen, the timeline (filters, htmx paging, search),
what an entry opens, what changed; the gate, the audit log and the 404 that a refusal shares."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
from pages_helpers import sign_in_client

from conftest import ServerThread
from helpers import bearer, post, put, system_token
from medcard.config import Settings
from records.chart_data import transaction

SignIn = Callable[..., httpx.Client]
ANCHORS = ("problems", "allergies", "medications", "vaccinations", "growth", "visits", "results", "consultations",
           "documents", "paper-card")


@pytest.fixture(scope="module")
def site(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    plain = settings.model_copy(update={"secure_cookies": False, "second_factor_roles": ""})
    with ServerThread(database_url, plain) as srv:
        yield srv


@pytest.fixture
def root(site: ServerThread) -> str:
    return f"http://127.0.0.1:{site.port}"


@pytest.fixture
def record(site: ServerThread, database_url: str) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{site.port}/fhir/R4", timeout=60,
                      headers=bearer(system_token(database_url))) as api:
        assert post(api, "", transaction()).status_code == 200


@pytest.fixture
def doctor(root: str, database_url: str, record: None) -> Iterator[httpx.Client]:
    """A district pediatrician of org1, the clinic p1 (and p3) is attached to; p2 is another clinic's."""
    client = sign_in_client(root, database_url, "dr.ivanova", roles=[("pediatrician", "org1")])
    yield client
    client.close()


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_chart_on_one_screen(doctor: httpx.Client) -> None:
    r = doctor.get("/app/patients/p1")
    assert r.status_code == 200
    page = r.text
    assert "<title>СМИРНОВА Анна Сергеевна" in page
    for anchor in ANCHORS:
        assert f'id="{anchor}"' in page, anchor
    text = text_of(page)
    assert "2 г. 3 мес." in text
    assert "10.08.2024" in text
    assert "Аллергии: Амоксициллин" in text
    assert 'href="tel:+79251112233"' in page
    assert "ещё 1" in text
    assert "Гемоглобин 98 г/л 110–140 г/л ↓ ниже нормы" in text  # the last blood count's abnormal value
    assert "Заключение: Гипертрофия аденоидов I степени." in text  # the ENT's conclusion
    assert "Корь" in text
    assert "просрочена" in text
    assert '<svg' in page
    assert 'class="point"' in page
    assert "7-000123" in text
    assert "2024–2024" in text
    assert re.match(r"app;dur=\d+\.\d, session;dur=", r.headers["server-timing"])
    assert len(r.content) < 200 * 1024


def test_opening_the_chart_is_audited_and_a_refusal_looks_like_a_missing_child(doctor: httpx.Client,
                                                                                database_url: str) -> None:
    assert doctor.get("/app/patients/p1").status_code == 200
    refused, missing = doctor.get("/app/patients/p2"), doctor.get("/app/patients/nobody")
    assert refused.status_code == missing.status_code == 404
    assert refused.text.replace("/p2", "/ID") == missing.text.replace("/nobody", "/ID")  # but for the address
    assert 'href="/app/patients/p2/break-glass"' in refused.text
    assert doctor.get("/app/patients/bad%20id").status_code == 404
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT patient_id, outcome, query FROM audit_event WHERE agent_name = 'Dr.Ivanova' "
                            "AND patient_id IS NOT NULL ORDER BY recorded").fetchall()
    assert rows == [("p1", "0", "chart"), ("p2", "4", "chart"), ("nobody", "4", "chart")]


def test_the_timeline_filters_pages_and_searches(doctor: httpx.Client, root: str, database_url: str) -> None:
    page = doctor.get("/app/patients/p1/timeline")
    assert page.status_code == 200
    assert 'href="/app/patients/p1/timeline/visit/e1"' in page.text
    assert "в 1 г. 6 мес." in page.text
    ent = doctor.get("/app/patients/p1/timeline", params={"kind": "consultation"})
    assert "Врач-оториноларинголог" in ent.text
    assert "timeline/visit/e1" not in ent.text
    found = doctor.get("/app/patients/p1/timeline", params={"q": "перепонка"})
    assert "<mark>перепонка</mark>" in found.text
    assert "<script>alert(1)</script>" not in found.text
    assert "t &lt; 38 &amp; ok" in found.text
    bad = doctor.get("/app/patients/p1/timeline", params={"from": "вчера"})
    assert bad.status_code == 400
    assert "<html" in bad.text


def test_the_next_fifty_come_as_a_fragment_for_htmx(doctor: httpx.Client, database_url: str, root: str) -> None:
    with httpx.Client(base_url=f"{root}/fhir/R4", headers=bearer(system_token(database_url))) as api:
        for n in range(55):
            flu = {"resourceType": "Immunization", "id": f"f{n}", "status": "completed",
                   "vaccineCode": {"text": "Грипп"}, "patient": {"reference": "Patient/p1"},
                   "occurrenceDateTime": f"2025-10-{1 + n % 28:02d}"}
            assert put(api, f"/Immunization/{flu['id']}", flu).status_code == 201
    first = doctor.get("/app/patients/p1/timeline", params={"kind": "immunization"})
    more = re.search(r'hx-get="([^"]+)" hx-trigger="revealed"', first.text)
    assert more is not None
    fragment = doctor.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "banner" not in fragment.text
    assert fragment.text.count('class="event"') == 57 - 50
    assert "revealed" not in fragment.text  # the last page


def test_entries_open_their_detail(doctor: httpx.Client) -> None:
    visit = text_of(doctor.get("/app/patients/p1/timeline/visit/e1").text)
    assert "Жалобы Жалобы на боль в ухе." in visit
    assert "H66.9 Средний отит неуточнённый" in visit
    assert "Ибупрофен, суспензия" in visit
    assert "Консультация врача-оториноларинголога" in visit
    report = doctor.get("/app/patients/p1/timeline/report/r1")
    assert '<svg class="trend"' in report.text
    assert "19,4 ×10⁹/л" in report.text
    assert "выше нормы" in report.text
    document = doctor.get("/app/patients/p1/timeline/document/d2")
    assert "Гипертрофия аденоидов" in document.text
    assert doctor.get("/app/patients/p2/timeline/visit/e1").status_code == 404  # p1's visit under p2
    assert doctor.get("/app/patients/p1/timeline/surgery/e1").status_code == 404


def test_what_changed_since_the_last_opening(doctor: httpx.Client, root: str, database_url: str) -> None:
    assert "ещё не открывали" in doctor.get("/app/patients/p1/changes").text
    doctor.get("/app/patients/p1")
    with httpx.Client(base_url=f"{root}/fhir/R4", headers=bearer(system_token(database_url))) as api:
        result = {"resourceType": "DiagnosticReport", "id": "r9", "status": "final",
                  "code": {"text": "Общий анализ мочи"}, "subject": {"reference": "Patient/p1"},
                  "effectiveDateTime": "2026-11-25"}
        assert put(api, "/DiagnosticReport/r9", result).status_code == 201
    again = doctor.get("/app/patients/p1")  # the chart links to what changed since the opening before
    link = re.search(r'href="(/app/patients/p1/changes\?since=[0-9a-f-]+)"', again.text)
    assert link is not None
    changed = text_of(doctor.get(link.group(1)).text)
    assert "Новые результаты" in changed
    assert "Общий анализ мочи" in changed


def test_family_accounts_and_strangers_do_not_get_the_chart(root: str, database_url: str, record: None) -> None:
    with httpx.Client(base_url=root) as anonymous:
        r = anonymous.get("/app/patients/p1/timeline?kind=visit")
        assert r.status_code == 303
        assert "/auth/login?next=" in r.headers["location"]
    parent = sign_in_client(root, database_url, "parent-1", kind="family")
    assert parent.get("/app/patients/p1").status_code == 403
    parent.close()
