"""«Мой день» and the inbox over a small district written through the FHIR API, read by the district
pediatrician through the gate: what each list holds, that the policy decides what is shown, that marking
a result seen is recorded once and audited, and that the lists take a fixed number of queries."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import psycopg
import pytest

from conftest import FIXED_TODAY, ServerThread
from helpers import create_account, run_db
from medcard.access import accounts
from medcard.access.gate import Gate
from medcard.core.errors import NotFound
from medcard.worklists import day, inbox, practice
from worklist_data import CLINIC, DOCTOR, district


def doctor(url: str, username: str = "uchastkovy") -> str:
    return create_account(url, "staff", username, roles=[("pediatrician", CLINIC)], practitioner_id=DOCTOR)


async def _gate(conn: psycopg.AsyncConnection[Any], account_id: str) -> Gate:
    account = await accounts.get(conn, account_id)
    assert account is not None
    return Gate(conn, account.requester(), today=FIXED_TODAY)


def my_day(url: str, account_id: str, on: date = FIXED_TODAY) -> day.Day:
    async def work(conn: psycopg.AsyncConnection[Any]) -> day.Day:
        gate = await _gate(conn, account_id)
        found = await day.my_day(conn, gate, await practice.practice(conn, gate), on)
        await gate.flush(conn)
        return found

    return run_db(url, work)


def mark(url: str, account_id: str, rtype: str, rid: str) -> bool:
    """Mark a result seen as a page does: audit entries in the transaction, or after it when it fails."""
    async def work(conn: psycopg.AsyncConnection[Any]) -> bool:
        gate = await _gate(conn, account_id)
        try:
            marked = await inbox.mark_seen(conn, gate, await practice.practice(conn, gate), rtype, rid)
        except NotFound as error:
            await conn.rollback()
            await gate.flush_failed(conn, error)
            await conn.commit()
            raise
        await gate.flush(conn)
        return marked

    return run_db(url, work)


@pytest.fixture
def world(http: httpx.Client, database_url: str, server: ServerThread) -> str:
    district(http)
    return doctor(database_url)


def test_the_practice_is_the_doctors_district(database_url: str, world: str) -> None:
    async def work(conn: psycopg.AsyncConnection[Any]) -> practice.Practice:
        return await practice.practice(conn, await _gate(conn, world))

    found = run_db(database_url, work)
    assert found.practitioner_id == DOCTOR
    assert [(d.role_id, d.number, d.organization_id) for d in found.districts] == [("role-1", "3", CLINIC)]


def test_examinations_of_this_month_not_done_are_listed(database_url: str, world: str) -> None:
    found = my_day(database_url, world)
    listed = {(e.child.id, e.code, e.status) for e in found.examinations}
    # the baby's 1-month examination (open since 05.11); not the newborn one, missed but superseded
    assert listed == {("baby", "211n-1m", "due")}
    one_month = next(e for e in found.examinations if e.code == "211n-1m")
    assert (one_month.due_from, one_month.due_until) == (date(2026, 11, 5), date(2026, 12, 4))
    assert len(one_month.missing) == 3
    # the toddler's 12-month examination is done (and supersedes the missed 11-month one); the neighbour is
    # the colleague's; the moved child is hidden
    assert not {"toddler", "neighbour", "moved"} & {e.child.id for e in found.examinations}


def test_the_examinations_follow_the_month_asked_for(database_url: str, world: str) -> None:
    found = my_day(database_url, world, date(2026, 12, 10))
    assert {(e.child.id, e.code) for e in found.examinations} == {("baby", "211n-2m")}


def test_overdue_vaccinations_are_the_districts_worklist_as_the_policy_shows_it(database_url: str,
                                                                                world: str) -> None:
    found = my_day(database_url, world)
    children = {v.child.id for v in found.vaccinations}
    # nobody here was vaccinated: the district's children are all overdue, but not the hidden one
    assert children == {"baby", "toddler", "pupil"}
    baby = next(v for v in found.vaccinations if v.child.id == "baby")
    assert "Вирусный гепатит B" in baby.diseases or any("гепатит" in d.lower() for d in baby.diseases)


def test_results_of_the_doctors_orders_are_listed_abnormal_first(database_url: str, world: str) -> None:
    results = my_day(database_url, world).results
    assert [r.id for r in results.results] == ["cbc", "ua"]  # not the colleague's cbc2
    assert results.unseen == 2
    first = results.results[0]
    assert first.level == 1
    assert [(v.name, v.value, v.unit, v.range, v.flag) for v in first.abnormal_values] == [
        ("Гемоглобин", "98", "г/л", "115–150", "L")]


def test_referrals_without_a_consultation_are_listed(database_url: str, world: str) -> None:
    referrals = my_day(database_url, world).referrals
    assert [(r.id, r.child.id, r.title) for r in referrals] == [
        ("ref-open", "pupil", "Консультация врача-невролога")]


def test_marking_a_result_seen_records_it_once_and_it_leaves_the_count(database_url: str, world: str) -> None:
    assert mark(database_url, world, "DiagnosticReport", "cbc") is True
    assert mark(database_url, world, "DiagnosticReport", "cbc") is False  # a double click keeps the first mark
    results = my_day(database_url, world).results
    assert results.unseen == 1
    assert [r.id for r in results.results] == ["ua"]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT practitioner_id, resource_type, resource_id, patient_id, account_id::text "
                            "FROM result_seen").fetchall()
        audit = conn.execute("SELECT subtype, entity, query, outcome FROM audit_event WHERE account_id = %s "
                             "AND entity = 'DiagnosticReport/cbc'", (world,)).fetchall()
    assert rows == [(DOCTOR, "DiagnosticReport", "cbc", "pupil", world)]
    assert audit == [("operation", "DiagnosticReport/cbc", "workspace: mark result seen", "0")] * 2


def test_recently_seen_results_are_listed_after_the_unseen_when_asked(database_url: str, world: str) -> None:
    mark(database_url, world, "DiagnosticReport", "cbc")

    async def work(conn: psycopg.AsyncConnection[Any]) -> inbox.Inbox:
        gate = await _gate(conn, world)
        since = (await (await conn.execute("SELECT now() - interval '1 day'")).fetchone())[0]  # type: ignore[index]
        return await inbox.inbox(conn, gate, await practice.practice(conn, gate), seen_since=since)

    found = run_db(database_url, work)
    assert [(r.id, r.seen_at is not None) for r in found.results] == [("ua", False), ("cbc", True)]
    assert (found.total, found.unseen) == (2, 1)


def test_a_result_the_doctor_may_not_read_cannot_be_marked(http: httpx.Client, database_url: str,
                                                           world: str) -> None:
    from worklist_data import LAB, observation, order, report, write
    write(http, order("moved-order", "moved", LAB, "ОАК"))
    write(http, observation("moved-hb", "moved", "Гемоглобин", 120, "г/л", 115, 150, "N"))
    write(http, report("moved-cbc", "moved", "moved-order", ["moved-hb"], "ОАК"))
    with pytest.raises(NotFound):
        mark(database_url, world, "DiagnosticReport", "moved-cbc")
    with pytest.raises(NotFound):
        mark(database_url, world, "DiagnosticReport", "no-such-report")
    assert "moved-cbc" not in {r.id for r in my_day(database_url, world).results.results}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM result_seen").fetchone() == (0,)
        refused = conn.execute("SELECT outcome FROM audit_event WHERE entity = 'DiagnosticReport/moved-cbc' "
                               "AND account_id = %s", (world,)).fetchall()
    assert refused == [("4",)]


def test_the_day_is_audited_one_entry_per_child_shown(database_url: str, world: str) -> None:
    my_day(database_url, world)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT entity, patient_id FROM audit_event WHERE account_id = %s AND subtype = 'search' "
                            "ORDER BY entity, patient_id", (world,)).fetchall()
    assert ("Encounter", "baby") in rows
    assert ("DiagnosticReport", "pupil") in rows
    assert ("ServiceRequest", "pupil") in rows
    assert {p for _, p in rows} == {"baby", "toddler", "pupil"}  # never the hidden child


def test_the_day_takes_the_same_number_of_queries_for_a_larger_district(http: httpx.Client, database_url: str,
                                                                        world: str) -> None:
    from worklist_data import patient, write

    def count_queries() -> int:
        async def work(conn: psycopg.AsyncConnection[Any]) -> int:
            statements: list[str] = []
            original = conn.execute

            async def counted(query: Any, *args: Any, **kwargs: Any) -> Any:
                statements.append(str(query))
                return await original(query, *args, **kwargs)

            conn.execute = counted  # type: ignore[method-assign]
            gate = await _gate(conn, world)
            await day.my_day(conn, gate, await practice.practice(conn, gate), FIXED_TODAY)
            return len(statements)

        return run_db(database_url, work)

    before = count_queries()
    for n in range(12):
        write(http, patient(f"more-{n}", "Ещёва", f"2026-{10 - n % 9:02d}-0{1 + n % 8}"))
    assert count_queries() == before


def test_the_demo_signs_in_as_the_pediatrician_of_the_busiest_district(database_url: str, world: str) -> None:
    from medcard.worklists import demo

    async def work(conn: psycopg.AsyncConnection[Any]) -> demo.DemoDistrict | None:
        return await demo.busiest_district(conn, CLINIC, FIXED_TODAY)

    found = run_db(database_url, work)
    assert found is not None
    assert (found.practitioner_id, found.number, found.kinds) == (DOCTOR, "3", 4)  # not the colleague's district


@pytest.mark.parametrize("on", [date(2026, 11, 26), date(2026, 2, 28), date(2025, 12, 31), date(2024, 3, 1)])
def test_the_quick_birth_date_test_misses_no_child_with_an_examination_this_month(on: date) -> None:
    from medcard.pediatrics import examinations

    first, last = day.month_of(on)
    near = 0
    for n in range(0, 18 * 366, 3):
        birth = on - timedelta(days=n)
        for sex in ("female", "male"):
            schedule = examinations.examination_schedule(birth, sex, until=last)
            due = any(first <= e.due_from <= last or first <= e.due_until <= last for e in schedule.examinations)
            if due:
                assert day._near(birth, first, last), (birth, sex)
        near += day._near(birth, first, last)
    assert near < 18 * 366 // 3 // 2  # and it leaves most children out
