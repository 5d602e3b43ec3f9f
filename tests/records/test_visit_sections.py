"""The visit form's vitals beyond anthropometry (heart rate, respiratory rate, SpO₂), its anamnesis sections,
what earlier visits wrote in each section («Повторить из прошлого приёма»), and drafts' expiry."""

from __future__ import annotations

import asyncio
import base64
from datetime import date, timedelta
from typing import Any

import httpx
import psycopg

from conftest import FIXED_TODAY, ServerThread
from helpers import body, run_db
from medcard.access.gate import Gate
from medcard.config import Settings
from medcard.core.db import Database
from medcard.documents import build
from medcard.documents.source import Source
from medcard.records import drafts, visit_history, visit_save
from medcard.records.details import protocol_sections
from medcard.worker import purge_drafts
from records.visit_helpers import NOW, Clinic, clinic, form, new_draft, submit

SCHOOLBOY = date(2019, 5, 10)  # 7 years old on the tests' day
LOINC, UCUM = "http://loinc.org", "http://unitsofmeasure.org"


def resources(http: httpx.Client, rtype: str, patient: str) -> list[dict[str, Any]]:
    found = body(http.get(f"/{rtype}", params={"patient": patient, "_count": "100"}))
    return [e["resource"] for e in found.get("entry", [])]


def protocol_of(http: httpx.Client, encounter_id: str) -> str:
    [doc] = body(http.get("/DocumentReference", params={"encounter": encounter_id}))["entry"]
    return base64.b64decode(doc["resource"]["content"][0]["attachment"]["data"]).decode()


def illness(**values: str) -> dict[str, list[str]]:
    return form(**{"kind": "illness", "date": FIXED_TODAY.isoformat(), "diagnosis": "J06.9", **values})


def save(url: str, base: str, c: Clinic, fields: dict[str, list[str]]) -> visit_save.Saved:
    draft = new_draft(url, c, "illness", fields)
    saved = submit(url, base, c, draft.key, fields, FIXED_TODAY)
    assert isinstance(saved, visit_save.Saved), saved
    return saved


def test_heart_rate_respiratory_rate_and_spo2_are_vital_sign_observations_read_back_through_the_api(
        database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, SCHOOLBOY, sex="male")
    saved = save(database_url, server.base, c, illness(temperature="38,1", heart_rate="112", respiratory_rate="26",
                                                       spo2="97", examination="Зев гиперемирован."))

    vitals = {o["code"]["coding"][0]["code"]: o for o in resources(http, "Observation", c.child.id)}
    for code, value, unit, ucum in (("8867-4", 112, "уд/мин", "/min"), ("9279-1", 26, "/мин", "/min"),
                                    ("2708-6", 97, "%", "%")):
        observation = vitals[code]
        assert observation["category"][0]["coding"][0]["code"] == "vital-signs"
        assert observation["code"]["coding"][0]["system"] == LOINC
        assert observation["valueQuantity"] == {"value": value, "unit": unit, "system": UCUM, "code": ucum}
        assert observation["encounter"] == {"reference": f"Encounter/{saved.encounter_id}"}
        assert observation["status"] == "final"
    assert [x["code"] for x in vitals["2708-6"]["code"]["coding"]] == ["2708-6", "59408-5"]  # with pulse oximetry
    by_code = body(http.get("/Observation", params={"patient": c.child.id, "code": f"{LOINC}|8867-4"}))
    assert [e["resource"]["valueQuantity"]["value"] for e in by_code["entry"]] == [112]
    # The protocol PDF (documents.build) prints them in its table of vitals, from the structured record.
    source = Source(body(http.get(f"/Patient/{c.child.id}")))
    for observation in resources(http, "Observation", c.child.id):
        source.add(observation)
    printed = build.visit(source, body(http.get(f"/Encounter/{saved.encounter_id}")), None)["vitals"]
    assert {(v["label"], v["value"]) for v in printed} >= {
        ("Частота сердечных сокращений", "112 /мин"), ("Частота дыхания", "26 /мин"),
        ("Сатурация кислорода", "97 %")}
    text = protocol_of(http, saved.encounter_id)
    for line in ("Частота сердечных сокращений: 112 уд/мин.", "Частота дыхательных движений: 26 /мин.",
                 "Сатурация кислорода (SpO₂): 97 %.", "Объективно: Зев гиперемирован."):
        assert line in text


def test_impossible_vitals_are_refused_next_to_their_fields_and_nothing_is_saved(
        database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, SCHOOLBOY)
    fields = illness(heart_rate="1120", respiratory_rate="4", spo2="101", temperature="36,6")
    draft = new_draft(database_url, c, "illness", fields)

    errors = submit(database_url, server.base, c, draft.key, fields, FIXED_TODAY)

    assert errors == {"heart_rate": "ЧСС должна быть от 30 до 300 уд/мин",
                      "respiratory_rate": "ЧДД должна быть от 8 до 120 в мин",
                      "spo2": "SpO₂ должна быть от 50 до 100 %"}
    fractions = illness(heart_rate="96,5", spo2="девяносто")
    assert submit(database_url, server.base, c, new_draft(database_url, c, "illness", fractions).key, fractions,
                  FIXED_TODAY) == {"heart_rate": "Введите целое число", "spo2": "Введите целое число, например 96"}
    assert resources(http, "Encounter", c.child.id) == []
    assert resources(http, "Observation", c.child.id) == []


def test_the_anamnesis_sections_are_written_in_the_protocol_and_read_back_whole(
        database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, SCHOOLBOY)
    life = "Ребёнок от 1 беременности, роды в срок.\nПривит по календарю.\nПеренесённые: ветряная оспа (2022)."
    saved = save(database_url, server.base, c, illness(
        complaints="Кашель", history="Болеет 2 дня.", life_history=life,
        epidemiology="Контакт с больным ОРВИ в классе.", allergy_history="Аллергия на амоксициллин (сыпь).",
        examination="Зев гиперемирован.\nЛёгкие: дыхание везикулярное."))

    text = protocol_of(http, saved.encounter_id)
    assert ("Жалобы: Кашель.\nАнамнез заболевания: Болеет 2 дня.\nАнамнез жизни: Ребёнок от 1 беременности, роды в "
            "срок.\nПривит по календарю.\nПеренесённые: ветряная оспа (2022).\nЭпиданамнез: Контакт с больным ОРВИ в "
            "классе.\nАллергоанамнез: Аллергия на амоксициллин (сыпь).\n") in text
    sections = dict(protocol_sections(text))
    assert sections["Анамнез жизни"] == life  # all three lines, the third one's colon notwithstanding
    assert sections["Эпиданамнез"] == "Контакт с больным ОРВИ в классе."
    assert sections["Аллергоанамнез"] == "Аллергия на амоксициллин (сыпь)."
    assert sections["Объективно"] == "Зев гиперемирован.\nЛёгкие: дыхание везикулярное."
    assert sections["Заключение"].startswith("J06.9")  # the diagnosis line, as before


def test_a_protocol_is_split_into_its_sections_and_other_labels_close_them() -> None:
    text = ("Протокол приёма врача-педиатра по заболеванию\nДата: 20.11.2026\nВрач-педиатр: Иванова А. П.\n"
            "Жалобы на кашель.\nАнамнез жизни: первая строка\nвторая строка\nТемпература тела: 37,5 °C.\n"
            "Объективно: зев чистый.\nДиагноз: J06.9 ОРВИ.\nРекомендации: питьё.\nЯвка: по необходимости.")
    assert visit_history.split(text, visit_history.FORM_PARTS) == {
        "complaints": "Жалобы на кашель.", "life_history": "первая строка\nвторая строка",
        "examination": "зев чистый.", "advice": "питьё."}


def test_earlier_sections_come_from_the_newest_visit_that_wrote_each(
        database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, SCHOOLBOY)
    first = illness(date="2026-10-01", complaints="Насморк", life_history="Рос и развивался по возрасту.",
                    epidemiology="Контактов не было.")
    save(database_url, server.base, c, first)
    save(database_url, server.base, c, illness(date="2026-11-20", complaints="Кашель", examination="Зев чистый."))

    async def work(conn: Any) -> dict[str, visit_history.Earlier]:
        gate = Gate(conn, c.doctor)
        return await visit_history.earlier_sections(conn, await gate.content_filter(conn, c.child.id), c.child.id)

    earlier = run_db(database_url, work)
    assert earlier["complaints"] == visit_history.Earlier("Кашель.", date(2026, 11, 20))  # the last visit's
    assert earlier["examination"] == visit_history.Earlier("Зев чистый.", date(2026, 11, 20))
    assert earlier["life_history"] == visit_history.Earlier("Рос и развивался по возрасту.", date(2026, 10, 1))
    assert earlier["epidemiology"].day == date(2026, 10, 1)
    assert "allergy_history" not in earlier


def test_complaints_repeated_from_a_protocol_that_words_them_as_a_sentence_are_not_relabelled(
        database_url: str, server: ServerThread, http: httpx.Client) -> None:
    c = clinic(http, database_url, SCHOOLBOY)
    saved = save(database_url, server.base, c, illness(complaints="Жалобы на кашель, насморк"))
    text = protocol_of(http, saved.encounter_id)
    assert "\nЖалобы на кашель, насморк.\n" in text
    assert "Жалобы: Жалобы" not in text
    assert visit_history.split(text, visit_history.FORM_PARTS)["complaints"] == "Жалобы на кашель, насморк."


def _age(url: str, key: str, at: Any) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE visit_draft SET updated_at = %s WHERE id = %s", (at, key))


def test_an_expired_draft_is_not_offered_and_the_worker_deletes_it(
        database_url: str, http: httpx.Client, settings: Settings) -> None:
    c = clinic(http, database_url, SCHOOLBOY)
    old = new_draft(database_url, c, "illness", form(kind="illness", complaints="старый черновик"))
    recent = new_draft(database_url, c, "well-child", form(kind="well-child", complaints="свежий черновик"))
    _age(database_url, old.key, NOW - timedelta(days=31))
    _age(database_url, recent.key, NOW - timedelta(days=29))
    me, lifetime = c.doctor.account_id or "", timedelta(days=settings.visit_draft_days)
    assert settings.visit_draft_days == 30

    async def offered(conn: Any) -> tuple[drafts.Draft | None, drafts.Draft | None]:
        return (await drafts.open_draft(conn, me, c.child.id, "illness", NOW - lifetime),
                await drafts.open_draft(conn, me, c.child.id, "well-child", NOW - lifetime))

    expired, kept = run_db(database_url, offered)
    assert expired is None  # on read: an expired draft is not offered, even before the purge
    assert kept is not None
    assert kept.key == recent.key

    async def one_round() -> None:
        db = Database(database_url, min_size=1, max_size=1)
        await db.open()
        try:
            stopping = asyncio.Event()
            stopping.set()  # one round, then stop
            await purge_drafts(db, settings, stopping, now=lambda: NOW)
        finally:
            await db.close()

    asyncio.run(one_round())
    with psycopg.connect(database_url) as conn:
        left = {row[0] for row in conn.execute("SELECT id::text FROM visit_draft WHERE patient_id = %s",
                                               (c.child.id,))}
    assert left == {recent.key}
