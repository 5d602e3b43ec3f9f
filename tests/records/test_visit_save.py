"""Saving a visit: one transaction through the store and the gate, readable through the FHIR API at once;
bad values refused field by field with nothing saved; a double submit saves once; a stale chart says so."""

from __future__ import annotations

import asyncio
import base64
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from conftest import FIXED_TODAY, ServerThread
from helpers import body, post, run_db
from medcard.access.gate import Gate
from medcard.core.errors import Forbidden
from medcard.records import drafts, visit_save
from medcard.records.visit import Child, check, due_examination, prefill
from records.visit_helpers import NOW, Clinic, clinic, form, new_draft, submit

ONE_YEAR_OLD = date(2025, 11, 20)  # 1 year and 6 days old on the tests' day
OFFERED = NOW - timedelta(days=30)  # drafts changed since then are offered (the default lifetime)


def resources(http: httpx.Client, rtype: str, patient: str) -> list[dict[str, Any]]:
    found = body(http.get(f"/{rtype}", params={"patient": patient, "_count": "100"}))
    return [e["resource"] for e in found.get("entry", [])]


def well_child_fields(url: str, c: Clinic) -> dict[str, list[str]]:
    async def work(conn: Any) -> dict[str, list[str]]:
        return await prefill(conn, "well-child", c.child, FIXED_TODAY)

    fields = run_db(url, work)
    fields.update(form(weight="10,2", height="76.5", head="46", complaints="Жалоб нет",
                       examination="Состояние удовлетворительное. Кожа чистая.", health_group="I",
                       conclusion="Физическое развитие среднее, гармоничное"))
    return fields


def test_a_well_child_visit_is_saved_as_one_transaction_and_read_through_the_api(
        database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, ONE_YEAR_OLD)
    fields = well_child_fields(database_url, c)
    assert fields["diagnosis"] == ["Z00.1 Рутинное обследование состояния здоровья ребенка"]
    exam = due_examination(c.child, FIXED_TODAY)
    assert exam is not None
    assert exam.visit.code == "211n-12m"
    assert fields["referral"] == [r.code for r in exam.specialists if r.code != "pediatrician"]
    assert "neurologist" in fields["referral"]
    assert fields["test"] == [t.code for t in exam.tests]
    draft = new_draft(database_url, c, "well-child", fields)

    saved = submit(database_url, server.base, c, draft.key, fields, FIXED_TODAY)

    assert isinstance(saved, visit_save.Saved)
    assert not saved.again
    encounter = body(http.get(f"/Encounter/{saved.encounter_id}"))
    assert encounter["type"][0]["coding"][0]["code"] == "preventive-examination"
    assert encounter["subject"]["reference"] == f"Patient/{c.child.id}"
    assert encounter["period"]["start"] == "2026-11-26T10:30:00+03:00"
    assert encounter["reasonCode"] == [{"text": "Профилактический медицинский осмотр в 1 год (211н)"}]
    part = [e for e in resources(http, "Encounter", c.child.id) if "partOf" in e]
    assert [p["serviceType"]["coding"][0]["code"] for p in part] == ["pediatrician"]
    [condition] = resources(http, "Condition", c.child.id)
    assert condition["code"]["coding"][0] == {"system": "http://hl7.org/fhir/sid/icd-10", "version":
                                              condition["code"]["coding"][0]["version"], "code": "Z00.1",
                                              "display": "Рутинное обследование состояния здоровья ребенка"}
    assert condition["code"]["coding"][0]["version"]
    assert encounter["diagnosis"] == [{"condition": {"reference": f"Condition/{condition['id']}"}, "rank": 1}]
    vitals = {o["code"]["coding"][0]["code"]: o["valueQuantity"] for o in resources(http, "Observation", c.child.id)
              if o["category"][0]["coding"][0]["code"] == "vital-signs"}
    assert vitals["29463-7"] == {"value": Decimal("10.2"), "unit": "кг", "system": "http://unitsofmeasure.org",
                                 "code": "kg"}
    assert vitals["8306-3"]["value"] == Decimal("76.5")  # length, lying, under 2 years
    assert vitals["9843-4"]["value"] == 46
    assert "39156-5" not in vitals  # no BMI under 2 years
    orders = resources(http, "ServiceRequest", c.child.id)
    assert len(orders) == len(fields["referral"]) + len(fields["test"])
    [doc] = resources(http, "DocumentReference", c.child.id)
    text = base64.b64decode(doc["content"][0]["attachment"]["data"]).decode()
    assert text.startswith("Протокол: профилактический медицинский осмотр в 1 год\nДата: 26.11.2026\n"
                           "Врач-педиатр: Иванова Анна Петровна\nЖалобы: Жалоб нет.")
    for line in ("Масса тела: 10,2 кг.", "Длина тела: 76,5 см.", "Окружность головы: 46 см.",
                 "Диагноз: Z00.1 Рутинное обследование состояния здоровья ребенка.", "Группа здоровья: I."):
        assert line in text
    assert doc["context"]["encounter"] == [{"reference": f"Encounter/{saved.encounter_id}"}]


def test_an_illness_visit_carries_prescriptions_orders_and_the_next_visit(
        database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, date(2020, 3, 1), sex="male")
    fields = form(kind="illness", date="2026-11-26", temperature="38,4", weight="21", height="116",
                  complaints="Кашель, насморк, температура до 38,4 °C", diagnosis="J06.9",
                  diagnosis_other=["", "K59.0 Запор"], drug=["Ибупрофен суспензия", ""],
                  dose=["По 200 мг при температуре выше 38,5 °C, не чаще 3 раз в сутки", ""],
                  test=["cbc"], referral=["otorhinolaryngologist"], next_visit="01.12.2026")
    draft = new_draft(database_url, c, "illness", fields)

    saved = submit(database_url, server.base, c, draft.key, fields, FIXED_TODAY)

    assert isinstance(saved, visit_save.Saved)
    conditions = {r["code"]["coding"][0]["code"]: r for r in resources(http, "Condition", c.child.id)}
    assert set(conditions) == {"J06.9", "K59.0"}
    encounter = body(http.get(f"/Encounter/{saved.encounter_id}"))
    assert encounter["type"][0]["text"] == "Приём по заболеванию"
    assert [d["rank"] for d in encounter["diagnosis"]] == [1, 2]
    assert encounter["diagnosis"][0]["condition"]["reference"] == f"Condition/{conditions['J06.9']['id']}"
    [prescription] = resources(http, "MedicationRequest", c.child.id)
    assert prescription["medicationCodeableConcept"]["text"] == "Ибупрофен суспензия"
    assert prescription["reasonReference"] == [{"reference": f"Condition/{conditions['J06.9']['id']}"}]
    requests = {r["category"][0]["coding"][0]["code"]: r for r in resources(http, "ServiceRequest", c.child.id)}
    assert requests["108252007"]["code"]["coding"][0]["code"] == "58410-2"  # the CBC panel
    assert requests["3457005"]["performerType"]["coding"][0]["code"] == "otorhinolaryngologist"
    temperature = [o for o in resources(http, "Observation", c.child.id) if o["code"]["coding"][0]["code"] == "8310-5"]
    assert temperature[0]["valueQuantity"]["code"] == "Cel"
    assert temperature[0]["valueQuantity"]["value"] == Decimal("38.4")
    bmi = [o for o in resources(http, "Observation", c.child.id) if o["code"]["coding"][0]["code"] == "39156-5"]
    assert bmi[0]["valueQuantity"]["value"] == Decimal("15.6")  # 21 / 1.16², from 2 years
    appointment = body(http.get("/Appointment", params={"patient": c.child.id}))["entry"][0]["resource"]
    assert appointment["status"] == "proposed"
    assert appointment["requestedPeriod"][0]["start"] == "2026-12-01"
    [doc] = resources(http, "DocumentReference", c.child.id)
    text = base64.b64decode(doc["content"][0]["attachment"]["data"]).decode()
    assert "Сопутствующий: K59.0 Запор." in text
    assert "Явка: 01.12.2026." in text
    assert "Назначения: Ибупрофен суспензия — По 200 мг" in text


def test_bad_values_are_named_by_field_and_nothing_is_saved(
        database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, ONE_YEAR_OLD)
    fields = form(kind="well-child", date="2026-11-27", weight="0", height="900", head="abc",
                  temperature="36,66", diagnosis="X99.99 Несуществующий", diagnosis_other=["Z00.1"],
                  complaints="к" * 4001, drug=["Амоксициллин"], dose=[""], next_visit="2026-11-20",
                  referral=["astrologer"], health_group="VII")
    draft = new_draft(database_url, c, "well-child", fields)

    errors = submit(database_url, server.base, c, draft.key, fields, FIXED_TODAY)

    assert errors == {
        "date": "Дата приёма не может быть в будущем",
        "weight": "Вес должен быть от 0,3 до 200 кг",
        "height": "Рост должен быть от 25 до 230 см",
        "head": "Введите число, например 12,5",
        "temperature": "Не больше 1 знака после запятой",
        "complaints": "Не больше 4000 знаков (сейчас 4001)",
        "diagnosis": "Кода X99.99 нет в МКБ-10; выберите диагноз из списка",
        "dose.0": "Укажите дозировку, кратность и длительность",
        "referral": "Выберите из списка",
        "health_group": "Выберите из списка",
    }  # the next visit is not compared with a visit date that is itself wrong
    assert resources(http, "Encounter", c.child.id) == []
    assert resources(http, "Observation", c.child.id) == []


def test_a_well_child_visit_needs_weight_height_and_a_diagnosis(
        database_url: str, http: httpx.Client) -> None:
    c = clinic(http, database_url, ONE_YEAR_OLD)

    async def work(conn: Any) -> Any:
        return await check(conn, form(kind="well-child", date="26.11.2026"), c.child, FIXED_TODAY)

    assert run_db(database_url, work) == {"weight": "Вес обязателен при профилактическом осмотре",
                                          "height": "Рост обязателен при профилактическом осмотре",
                                          "diagnosis": "Укажите основной диагноз по МКБ-10"}


def test_a_visit_before_the_birth_or_a_next_visit_before_it_is_refused(database_url: str, http: httpx.Client) -> None:
    c = clinic(http, database_url, ONE_YEAR_OLD)

    async def work(conn: Any) -> Any:
        return (await check(conn, form(kind="illness", date="2025-11-19", diagnosis="J06.9"), c.child, FIXED_TODAY),
                await check(conn, form(kind="illness", date="2026-11-25", diagnosis="J06.9", next_visit="2026-11-25"),
                            c.child, FIXED_TODAY),
                await check(conn, form(kind="illness", date="2026-11-25", diagnosis="J06.9", next_visit="2026-12-01",
                                       next_visit_prn="1"), c.child, FIXED_TODAY))

    before_birth, next_same_day, both = run_db(database_url, work)
    assert before_birth == {"date": "Дата приёма раньше даты рождения ребёнка"}
    assert next_same_day == {"next_visit": "Дата явки должна быть позже даты приёма"}
    assert both == {"next_visit": "Укажите дату явки или «по необходимости», но не то и другое"}


def test_a_double_submit_saves_once(database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, ONE_YEAR_OLD)
    fields = well_child_fields(database_url, c)
    draft = new_draft(database_url, c, "well-child", fields)

    first = submit(database_url, server.base, c, draft.key, fields, FIXED_TODAY)
    second = submit(database_url, server.base, c, draft.key, fields, FIXED_TODAY)

    assert isinstance(first, visit_save.Saved)
    assert isinstance(second, visit_save.Saved)
    assert second == visit_save.Saved(first.encounter_id, again=True)
    assert len([e for e in resources(http, "Encounter", c.child.id) if "partOf" not in e]) == 1
    assert len(resources(http, "DocumentReference", c.child.id)) == 1


def test_two_submits_at_the_same_moment_save_once(database_url: str, server: ServerThread, http: httpx.Client) -> None:
    """The draft's row lock makes the second wait for the first and find its Encounter."""
    c = clinic(http, database_url, ONE_YEAR_OLD)
    fields = well_child_fields(database_url, c)
    draft = new_draft(database_url, c, "well-child", fields)

    async def one() -> Any:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            checked = await check(conn, fields, c.child, FIXED_TODAY)
            assert not isinstance(checked, dict)
            gate = Gate(conn, c.doctor)
            result = await visit_save.save(conn, gate, server.base, c.doctor.account_id or "", draft.key, checked,
                                           c.child, c.author, NOW)
            await gate.flush(conn)
            await conn.commit()
            return result

    async def both() -> list[Any]:
        return list(await asyncio.gather(one(), one()))

    results = asyncio.run(both())
    assert sorted(r.again for r in results) == [False, True]
    assert results[0].encounter_id == results[1].encounter_id
    assert len([e for e in resources(http, "Encounter", c.child.id) if "partOf" not in e]) == 1


def test_a_chart_changed_meanwhile_is_reported_and_not_written_over(
        database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, ONE_YEAR_OLD)
    fields = well_child_fields(database_url, c)
    draft = new_draft(database_url, c, "well-child", fields)
    # Another clinician records a visit with a diagnosis while this form is open.
    other = post(http, "/Encounter", {"resourceType": "Encounter", "status": "finished", "class": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{c.child.id}"}})
    assert other.status_code == 201
    post(http, "/Condition", {"resourceType": "Condition", "subject": {"reference": f"Patient/{c.child.id}"},
                              "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J06.9"}]}})

    stale = submit(database_url, server.base, c, draft.key, fields, FIXED_TODAY)

    assert isinstance(stale, visit_save.Stale)
    assert stale.changes == {"Condition": 1, "Encounter": 1}
    assert "появились изменения: диагнозы (1), приёмы (1)" in stale.message
    assert len(resources(http, "Encounter", c.child.id)) == 1  # only the other clinician's
    # Having been told, the clinician saves again: now it goes through.
    saved = submit(database_url, server.base, c, draft.key, fields, FIXED_TODAY)
    assert isinstance(saved, visit_save.Saved)
    assert not saved.again


def test_a_doctor_of_another_clinic_cannot_save_a_visit_and_nothing_is_written(
        database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, ONE_YEAR_OLD)
    stranger = clinic(http, database_url, ONE_YEAR_OLD, username="dr.petrov")
    intruder = Clinic(stranger.organization, stranger.practitioner, c.child, stranger.doctor)
    fields = well_child_fields(database_url, c)
    draft = new_draft(database_url, intruder, "well-child", fields)

    with pytest.raises(Forbidden):
        submit(database_url, server.base, intruder, draft.key, fields, FIXED_TODAY)

    assert resources(http, "Encounter", c.child.id) == []


def test_a_draft_is_kept_restored_and_private_to_its_author(database_url: str, http: httpx.Client) -> None:
    c = clinic(http, database_url, ONE_YEAR_OLD)
    draft = new_draft(database_url, c, "illness", form(kind="illness"))
    me = c.doctor.account_id
    them = clinic(http, database_url, ONE_YEAR_OLD, username="dr.petrov").doctor.account_id

    async def work(conn: Any) -> Any:
        typed = form(kind="illness", complaints="Кашель 3 дня", weight="10,")  # a number half typed
        kept = await drafts.autosave(conn, me, draft.key, c.child.id, typed)
        foreign = await drafts.autosave(conn, them, draft.key, c.child.id, form(complaints="x"))
        other_child = await drafts.autosave(conn, me, draft.key, "another-child", form(complaints="x"))
        reopened = await drafts.open_draft(conn, me, c.child.id, "illness", OFFERED)
        theirs = await drafts.open_draft(conn, them, c.child.id, "illness", OFFERED)
        bad_key = await drafts.get(conn, me, "not-a-uuid")
        return kept, foreign, other_child, reopened, theirs, bad_key

    kept, foreign, other_child, reopened, theirs, bad_key = run_db(database_url, work)
    assert (kept, foreign, other_child) == (True, False, False)
    assert reopened is not None
    assert reopened.key == draft.key
    assert reopened.fields == form(kind="illness", complaints="Кашель 3 дня", weight="10,")
    assert theirs is None
    assert bad_key is None


def test_a_saved_draft_keeps_no_fields_and_is_not_reopened(
        database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, ONE_YEAR_OLD)
    fields = well_child_fields(database_url, c)
    draft = new_draft(database_url, c, "well-child", fields)
    saved = submit(database_url, server.base, c, draft.key, fields, FIXED_TODAY)
    assert isinstance(saved, visit_save.Saved)
    me = c.doctor.account_id

    async def work(conn: Any) -> Any:
        return (await drafts.open_draft(conn, me, c.child.id, "well-child", OFFERED),
                await drafts.get(conn, me, draft.key))

    reopened, kept = run_db(database_url, work)
    assert reopened is None
    assert kept.fields == {}
    assert kept.encounter_id == saved.encounter_id


def test_prefill_of_an_illness_visit_is_the_date_only(database_url: str) -> None:
    child = Child("x", ONE_YEAR_OLD, "female", None)

    async def work(conn: Any) -> Any:
        return await prefill(conn, "illness", child, FIXED_TODAY)

    assert run_db(database_url, work) == {"kind": ["illness"], "date": ["2026-11-26"]}
