"""The timeline, what an item opens, and what changed since the last opening."""

from __future__ import annotations

from datetime import date

import httpx
import psycopg
import pytest

from helpers import put
from medcard.access.requester import Requester
from medcard.core.errors import BadRequest, NotFound
from medcard.records import changes, details, timeline
from medcard.records.chart import load_chart
from medcard.records.timeline import Filters, Timeline, load_timeline, parse_filters
from records.chart_data import HOSTILE
from records.records_helpers import DOCTOR, SYSTEM, run_gated

TODAY = date(2026, 11, 26)


def timeline_of(url: str, patient: str, cursor: str = "", requester: Requester = SYSTEM,
                **params: str) -> Timeline:
    filters = parse_filters(params)
    return run_gated(url, requester, lambda conn, gate: load_timeline(conn, gate, patient, TODAY, filters, cursor))


def keys(t: Timeline) -> list[str]:
    return [f"{e.rtype}/{e.id}" for e in t.events]


def test_everything_in_time_order_newest_first_with_the_age_then(database_url: str, record: httpx.Client) -> None:
    t = timeline_of(database_url, "p1")
    assert keys(t) == ["DocumentReference/d3", "Encounter/e2", "DiagnosticReport/r1", "Encounter/e1",
                       "DiagnosticReport/r0", "DocumentReference/pc1", "Immunization/i2", "Immunization/i1"]
    kinds = {e.id: e.kind for e in t.events}
    assert (kinds["e1"], kinds["e2"], kinds["r1"], kinds["i1"], kinds["d3"]) == (
        "visit", "consultation", "result", "immunization", "document")
    e1 = next(e for e in t.events if e.id == "e1")
    assert (e1.age, e1.detail, e1.href) == ("в 1 г. 6 мес.", "H66.9 Средний отит неуточнённый", "timeline/visit/e1")
    assert next(e for e in t.events if e.id == "r1").abnormal
    assert t.next_cursor == ""  # one page holds it all
    assert ("otorhinolaryngologist", "Врач-оториноларинголог") in t.specialties


def test_filters_by_kind_specialty_dates_and_icd10_chapter(database_url: str, record: httpx.Client) -> None:
    assert keys(timeline_of(database_url, "p1", kind="consultation")) == ["Encounter/e2"]
    assert keys(timeline_of(database_url, "p1", kind="visit")) == ["Encounter/e1"]
    assert keys(timeline_of(database_url, "p1", kind="result")) == ["DiagnosticReport/r1", "DiagnosticReport/r0"]
    assert keys(timeline_of(database_url, "p1", specialty="otorhinolaryngologist")) == ["Encounter/e2"]
    assert keys(timeline_of(database_url, "p1", **{"from": "2026-03-01", "to": "2026-03-03"})) == [
        "DiagnosticReport/r1", "Encounter/e1"]
    # chapter VIII (H60-H95, the ear): the visit with otitis and what belongs to it
    assert keys(timeline_of(database_url, "p1", chapter="VIII")) == [
        "DiagnosticReport/r1", "Encounter/e1", "DiagnosticReport/r0"]
    assert keys(timeline_of(database_url, "p1", chapter="X")) == []


def test_search_inside_the_record_with_russian_stemming_and_escaped_snippets(database_url: str,
                                                                             record: httpx.Client) -> None:
    found = timeline_of(database_url, "p1", q="аденоиды")  # the note says «аденоидов»
    assert keys(found) == ["Encounter/e2"]
    assert found.events[0].snippet is not None
    assert "<mark>аденоидов</mark>" in found.events[0].snippet
    hostile = timeline_of(database_url, "p1", q="перепонка")
    assert keys(hostile) == ["Encounter/e1"]
    snippet = str(hostile.events[0].snippet)
    assert "<mark>перепонка</mark>" in snippet
    assert "<script>" not in snippet
    assert HOSTILE not in snippet
    assert "t &lt; 38 &amp; ok" in snippet  # the text as text
    assert "<" not in snippet.replace("<mark>", "").replace("</mark>", "")  # no markup but the highlight
    assert keys(timeline_of(database_url, "p1", q="пневмония")) == []


def test_keyset_pages_of_fifty_without_gaps_or_repeats(database_url: str, record: httpx.Client) -> None:
    weights = [{"resourceType": "Immunization", "id": f"x{n}", "status": "completed", "vaccineCode": {"text": "Грипп"},
                "patient": {"reference": "Patient/p1"}, "occurrenceDateTime": "2025-10-01T10:00:00+03:00"}
               for n in range(60)]  # 60 events at the very same moment: the keyset's tie-breakers matter
    for w in weights:
        assert put(record, f"/Immunization/{w['id']}", w).status_code == 201
    first = timeline_of(database_url, "p1")
    assert len(first.events) == timeline.PAGE
    assert first.next_cursor
    second = timeline_of(database_url, "p1", first.next_cursor)
    assert second.next_cursor == ""
    seen = keys(first) + keys(second)
    assert len(seen) == len(set(seen)) == 68
    assert seen[-2:] == ["Immunization/i2", "Immunization/i1"]


@pytest.mark.parametrize(("params", "says"), [
    ({"kind": "surgery"}, "kind must be one of"), ({"chapter": "XXX"}, "chapter must be"),
    ({"from": "2026-13-01"}, "from must be a date"), ({"from": "2026-03-02", "to": "2026-03-01"}, "ends before"),
    ({"specialty": "ent'; drop"}, "specialty must be"), ({"q": "а" * 201}, "longer than")])
def test_bad_filters_say_which_and_why(params: dict[str, str], says: str) -> None:
    with pytest.raises(BadRequest, match=says):
        parse_filters(params)


def test_an_edited_paging_token_is_a_400(database_url: str, record: httpx.Client) -> None:
    with pytest.raises(BadRequest, match="paging token"):
        timeline_of(database_url, "p1", "bm90LWEtdG9rZW4")


def test_a_visit_opens_with_its_protocol_diagnoses_prescriptions_and_orders(database_url: str,
                                                                            record: httpx.Client) -> None:
    v = run_gated(database_url, SYSTEM, lambda conn, gate: details.load_visit(conn, gate, "p1", "e1", TODAY))
    assert (v.title, v.day, v.who) == ("Приём по заболеванию", date(2026, 3, 2), "Иванова Анна Петровна")
    sections = dict(v.sections)
    assert sections["Жалобы"] == "Жалобы на боль в ухе."
    assert sections["Объективно"].startswith("барабанная перепонка гиперемирована.")
    assert sections["Заключение"] == "H66.9 Средний отит."
    assert [d.title for d in v.diagnoses] == ["H66.9 Средний отит неуточнённый"]
    assert [p.title for p in v.prescriptions] == ["Ибупрофен, суспензия"]
    assert [o.title for o in v.orders] == ["Консультация врача-оториноларинголога"]
    assert {r[0] for r in v.reports} == {"r0", "r1"}


def test_a_lab_report_opens_with_each_value_and_its_trend(database_url: str, record: httpx.Client) -> None:
    r = run_gated(database_url, SYSTEM,
                  lambda conn, gate: details.load_report(conn, gate, "p1", "DiagnosticReport", "r1", TODAY))
    assert [(x.value.name, x.value.value, x.value.range, x.value.flag) for x in r.lines] == [
        ("Гемоглобин", "98 г/л", "110–140 г/л", "L"), ("Лейкоциты", "19,4 ×10⁹/л", "6,0–17,5 ×10⁹/л", "H"),
        ("Тромбоциты", "250 ×10⁹/л", "150–400 ×10⁹/л", "N")]
    hb = r.lines[0]
    assert hb.history == ((date(2026, 3, 3), "98 г/л"), (date(2025, 6, 1), "121 г/л"))
    assert str(hb.trend).startswith('<svg class="trend"')
    assert 'class="out"' in hb.trend  # 98 is below the range
    assert r.lines[1].trend == ""  # one value: no trend to draw


def test_an_item_of_another_record_is_not_found(database_url: str, record: httpx.Client) -> None:
    with pytest.raises(NotFound):
        run_gated(database_url, SYSTEM, lambda conn, gate: details.load_visit(conn, gate, "p2", "e1", TODAY))
    with pytest.raises(NotFound):
        run_gated(database_url, SYSTEM,
                  lambda conn, gate: details.load_report(conn, gate, "p3", "DiagnosticReport", "r1", TODAY))
    with pytest.raises(NotFound):
        run_gated(database_url, SYSTEM, lambda conn, gate: details.load_document(conn, gate, "p2", "d3", TODAY))


def test_changes_since_this_doctor_last_opened_the_chart(database_url: str, record: httpx.Client) -> None:
    def changes_now() -> changes.Changes:
        return run_gated(database_url, DOCTOR, lambda conn, gate: changes.load_changes(conn, gate, "p1", TODAY))

    first = changes_now()
    assert first.since is None  # never opened before
    assert first.count == 0
    chart = run_gated(database_url, DOCTOR, lambda conn, gate: load_timeline(conn, gate, "p1", TODAY, Filters()))
    assert chart.events  # the timeline is not an opening of the chart
    assert changes_now().since is None
    run_gated(database_url, DOCTOR, lambda conn, gate: load_chart(conn, gate, "p1", TODAY))
    # meanwhile: a new result, a new diagnosis, and the ENT's note corrected
    new = {"resourceType": "DiagnosticReport", "id": "r2", "status": "final", "code": {"text": "Общий анализ мочи"},
           "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2026-11-25", "conclusion": "Без изменений"}
    diagnosis = {"resourceType": "Condition", "id": "c9", "subject": {"reference": "Patient/p1"},
                 "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J06.9"}], "text": "ОРВИ"}}
    for r in (new, diagnosis):
        assert put(record, f"/{r['resourceType']}/{r['id']}", r).status_code == 201
    after = changes_now()
    assert after.since is not None
    assert {g: [c.id for c in items] for g, items in after.groups.items()} == {
        "results": ["r2"], "diagnoses": ["c9"]}
    assert after.groups["diagnoses"][0].title == "J06.9 ОРВИ"
    with psycopg.connect(database_url) as conn:
        openings = conn.execute("SELECT count(*) FROM audit_event WHERE patient_id = 'p1' AND query = 'chart' "
                                "AND account_id = %s", (DOCTOR.account_id,)).fetchone()
    assert openings == (1,)
