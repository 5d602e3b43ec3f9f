"""The chart's view model: the banner and every section, read through the gate in a fixed number of statements."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import httpx
import psycopg
import pytest

from medcard.access.requester import Requester
from medcard.access.scopes import Scopes
from medcard.core.db import Database
from medcard.core.errors import NotFound
from medcard.fhir.bulk.importer import Importer
from medcard.records.ages import age_at, age_text
from medcard.records.chart import Chart, load_chart
from medcard.synth import CitySize, write_ndjson
from records.chart_data import ENP_P1, HOSTILE, SNILS_P1
from records.records_helpers import DOCTOR, DOCTOR_ID, SYSTEM, run_gated

TODAY = date(2026, 11, 26)


def chart_of(url: str, patient: str, requester: Requester = SYSTEM, count: list[int] | None = None) -> Chart:
    return run_gated(url, requester, lambda conn, gate: load_chart(conn, gate, patient, TODAY), count=count)


def test_the_banner_says_who_the_child_is(database_url: str, record: httpx.Client) -> None:
    b = chart_of(database_url, "p1").banner
    assert b.name == "СМИРНОВА Анна Сергеевна"
    assert (b.birth_date, b.age, b.sex) == (date(2024, 8, 10), "2 г. 3 мес.", "женский")
    assert (b.policy, b.snils) == (ENP_P1, f"{SNILS_P1[:3]}-{SNILS_P1[3:6]}-{SNILS_P1[6:9]} {SNILS_P1[9:]}")
    assert (b.clinic, b.district, b.health_group) == ("ДГП № 7", "№ 12", "II")
    assert b.pe_group == "не указано"  # never blank
    assert (b.allergy_state, b.allergies) == ("known", ["Амоксициллин"])
    first = b.representatives[0]
    assert (first.name, first.relation, first.phone_uri) == ("Смирнова Ольга Ивановна", "Мать", "tel:+79251112233")
    assert len(b.representatives) == 2
    assert b.representatives[1].phone == ""
    assert b.dispensary == ["Диспансерное наблюдение: атопический дерматит"]


def test_the_allergy_strip_has_four_states_and_is_never_blank(database_url: str, record: httpx.Client) -> None:
    assert chart_of(database_url, "p2").banner.allergy_state == "not-recorded"
    none_known = chart_of(database_url, "p3")
    assert none_known.banner.allergy_state == "none"
    assert none_known.allergies == []  # "no known allergy" is a state, not an allergy to list
    scopes = Scopes.parse("system/Patient.read system/Observation.read")
    no_allergies = Requester(kind="system", name="narrow", scopes=scopes)
    narrow = chart_of(database_url, "p1", no_allergies)
    assert narrow.banner.allergy_state == "unavailable"
    assert narrow.allergies == []
    assert "диагнозы" in narrow.hidden


def test_an_empty_record_gives_empty_sections_and_not_given_fields(database_url: str, record: httpx.Client) -> None:
    c = chart_of(database_url, "p2")
    assert (c.banner.policy, c.banner.snils, c.banner.district, c.banner.health_group) == ("не указано",) * 4
    assert c.banner.representatives == []
    assert not (c.problems)
    assert not (c.visits)
    assert not (c.reports)
    assert not (c.consultations)
    assert not (c.documents)
    assert not (c.growth)
    assert c.paper_card is None
    assert c.growth_svg == ""


def test_sections_show_problems_medications_and_visits(database_url: str, record: httpx.Client) -> None:
    c = chart_of(database_url, "p1")
    assert [(p.title, p.detail) for p in c.problems] == [("Атопический дерматит", "L20.8")]
    assert [d.title for d in c.dispensary] == ["Диспансерное наблюдение: атопический дерматит"]
    assert [a.title for a in c.allergies] == ["Амоксициллин"]
    assert "Крапивница" in c.allergies[0].detail
    assert [m.title for m in c.medications] == ["Эмолент, крем"]  # the completed one is not current
    assert [(v.title, v.detail, v.ref_id) for v in c.visits] == [
        ("Консультация специалиста", "Консультация по направлению: H66.9", "e2"),
        ("Приём по заболеванию", "H66.9 Средний отит неуточнённый", "e1")]
    assert c.visits[1].age == "в 1 г. 6 мес."
    assert "Иванова Анна Петровна" in c.visits[1].who


def test_results_have_units_ranges_and_flags(database_url: str, record: httpx.Client) -> None:
    c = chart_of(database_url, "p1")
    cbc = c.reports[0]  # the latest blood count, not the older one
    assert (cbc.id, cbc.day, cbc.title) == ("r1", date(2026, 3, 3), "Общий (клинический) анализ крови")
    assert [(v.name, v.value, v.range, v.flag_text) for v in cbc.values] == [
        ("Гемоглобин", "98 г/л", "110–140 г/л", "ниже нормы"),
        ("Лейкоциты", "19,4 ×10⁹/л", "6,0–17,5 ×10⁹/л", "выше нормы"),
        ("Тромбоциты", "250 ×10⁹/л", "150–400 ×10⁹/л", "в норме")]
    assert [v.name for v in cbc.abnormal] == ["Гемоглобин", "Лейкоциты"]


def test_consultations_documents_and_the_paper_card(database_url: str, record: httpx.Client) -> None:
    c = chart_of(database_url, "p1")
    assert [(x.title, x.detail, x.who, x.ref_id) for x in c.consultations] == [
        ("Врач-оториноларинголог", "Гипертрофия аденоидов I степени.", "Лапшин Фёдор Павлович", "e2")]
    # visit protocols and consult notes open with their visits, not here
    assert [d.title for d in c.documents] == ["Медицинская справка для поступления в детский сад"]
    assert c.paper_card is not None
    assert (c.paper_card.number, c.paper_card.period, c.paper_card.where) == ("7-000123", "2024–2024", "архив: ДГП № 7")


def test_vaccinations_come_from_the_forecast(database_url: str, record: httpx.Client) -> None:
    c = chart_of(database_url, "p1")
    assert c.vaccinations_done_count == 2
    assert c.vaccinations_done[0].day == date(2024, 9, 10)
    statuses = {v.disease: v.status for v in c.vaccinations_open}
    assert statuses["Корь"] == "overdue"  # due at 12 months, none given
    order = [v.status for v in c.vaccinations_open]
    assert order == sorted(order, key={"overdue": 0, "due": 1, "not-due": 2}.__getitem__)
    assert c.next_vaccination is c.vaccinations_open[0]


def test_growth_has_the_chart_and_z_scores_of_the_last_measurements(database_url: str, record: httpx.Client) -> None:
    c = chart_of(database_url, "p1")
    assert c.growth_svg.startswith("<svg")
    assert c.growth_svg.count('class="point"') == 3
    weight = next(m for m in c.growth if m.name == "Масса тела")
    assert (weight.value, weight.day) == ("12,0 кг", date(2026, 8, 11))
    assert weight.z.startswith("z = ")


def test_a_refused_chart_is_not_found_like_a_missing_one_and_both_are_audited(database_url: str,
                                                                              record: httpx.Client) -> None:
    assert chart_of(database_url, "p1", DOCTOR).banner.name.startswith("СМИРНОВА")  # attached to the doctor's clinic
    with pytest.raises(NotFound) as refused:
        chart_of(database_url, "p2", DOCTOR)  # another clinic's child
    with pytest.raises(NotFound) as missing:
        chart_of(database_url, "nobody", DOCTOR)
    assert str(refused.value) == str(missing.value)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT patient_id, outcome, query FROM audit_event WHERE account_id = %s "
                            "ORDER BY recorded", (DOCTOR_ID,)).fetchall()
    assert [(p, o) for p, o, _ in rows] == [("p1", "0"), ("p2", "4"), ("nobody", "4")]
    assert rows[0][2] == "chart"


def test_nothing_of_the_record_is_left_unescaped_for_the_page(database_url: str, record: httpx.Client) -> None:
    """The view model holds text, never markup: templates escape it (the protocol's script stays text)."""
    c = chart_of(database_url, "p1")
    assert all(HOSTILE not in line.detail for line in c.visits)


def test_ages_as_the_banner_writes_them() -> None:
    birth = date(2024, 1, 31)
    assert age_text(birth, date(2024, 2, 12)) == "12 дн."
    assert age_text(birth, date(2024, 2, 29)) == "1 мес."  # the last day of a shorter month
    assert age_text(birth, date(2025, 5, 31)) == "1 г. 4 мес."
    assert age_text(birth, date(2026, 1, 31)) == "2 г."
    assert age_text(birth, date(2031, 2, 1)) == "7 лет"
    assert age_text(birth, date(2045, 3, 1)) == "21 год"
    assert age_at(birth, date(2024, 7, 31)) == "в 6 мес."
    assert age_at(birth, None) == ""


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    write_ndjson(out, 3, CitySize(children=6, clinics=1, demographic=0), TODAY)
    return out


def test_the_chart_takes_the_same_few_statements_whatever_the_record_size(database_url: str, city: Path,
                                                                          server: object) -> None:
    async def load() -> list[tuple[str, int]]:
        db = Database(database_url, min_size=1, max_size=2)
        await db.open()
        try:
            await Importer(db, on_error="stop").run([city])
            async with db.connection() as conn:
                cur = await conn.execute("SELECT patient_id, count(*) FROM resource WHERE patient_id IS NOT NULL "
                                         "GROUP BY 1 ORDER BY 2")
                return [(p, n) for p, n in await cur.fetchall()]
        finally:
            await db.close()

    sizes = asyncio.run(load())
    (small, small_size), (large, large_size) = sizes[0], sizes[-1]
    assert large_size > 2 * small_size
    counts: list[int] = []
    big = chart_of(database_url, large, count=counts)
    chart_of(database_url, small, count=counts)
    assert big.visits
    assert big.vaccinations_done
    assert big.growth
    assert counts[0] == counts[1] == 2, counts  # everything the chart shows in one statement, names in one
