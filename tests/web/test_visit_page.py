"""The visit form over HTTP: the form and its labels, the draft kept and restored, bad values next to their
fields, a double submit, a stale chart, the patient id checked, the save audited and visible at once."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from pages_helpers import hidden_fields, sign_in_client

from conftest import ServerThread
from helpers import bearer, body, created_id, post, put, system_token
from medcard.config import Settings

LABELS = ("Вес, кг", "Рост, см", "Окружность головы, см", "Температура, °C", "Жалобы", "Объективно", "Заключение",
          "Диагноз (МКБ-10)")


@pytest.fixture(scope="module")
def site(database_url: str, settings: Settings) -> Iterator[ServerThread]:
    plain = settings.model_copy(update={"secure_cookies": False, "second_factor_roles": ""})
    with ServerThread(database_url, plain) as srv:
        yield srv


@pytest.fixture
def root(site: ServerThread) -> str:
    return f"http://127.0.0.1:{site.port}"


@pytest.fixture
def api(site: ServerThread, database_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{site.port}/fhir/R4", timeout=60,
                      headers=bearer(system_token(database_url))) as client:
        yield client


@pytest.fixture
def child(api: httpx.Client) -> str:
    """A girl of one year and six days in clinic org-7."""
    assert put(api, "/Organization/org-7", {"resourceType": "Organization", "id": "org-7",
                                             "name": "ДГП № 7"}).status_code in (200, 201)
    return created_id(post(api, "/Patient", {
        "resourceType": "Patient", "birthDate": "2025-11-20", "gender": "female",
        "name": [{"family": "Соколова", "given": ["Вера"]}],
        "managingOrganization": {"reference": "Organization/org-7"}}))


@pytest.fixture
def doctor(root: str, database_url: str) -> Iterator[httpx.Client]:
    client = sign_in_client(root, database_url, "dr.visit", roles=[("pediatrician", "org-7")])
    yield client
    client.close()


def fields_of(page: str) -> dict[str, list[str]]:
    """What the browser would post: hidden fields, text inputs with values, checked boxes, textareas."""
    out: dict[str, list[str]] = {}
    for name, value in hidden_fields(page).items():
        out[name] = [value]
    for tag in re.findall(r"<input [^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if not name or 'type="hidden"' in tag:
            continue
        if 'type="checkbox"' in tag and " checked" not in tag:
            continue
        out.setdefault(name.group(1), []).append(html.unescape(value.group(1)) if value else "")
    for name, text in re.findall(r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        out.setdefault(name, []).append(html.unescape(text))
    for name, options in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        out.setdefault(name, []).append(chosen.group(1) if chosen else "")
    return out


def with_values(fields: dict[str, list[str]], **values: str) -> dict[str, list[str]]:
    return {**fields, **{k: [v] for k, v in values.items()}}


def open_form(doctor: httpx.Client, child: str, kind: str = "well-child") -> str:
    response = doctor.get(f"/app/patients/{child}/visits/new", params={"kind": kind})
    assert response.status_code == 200, response.text
    return response.text


def test_the_form_has_its_labels_and_a_well_child_visit_is_prefilled_from_the_schedule(
        doctor: httpx.Client, child: str) -> None:
    page = open_form(doctor, child)
    for label in LABELS:
        assert f">{label}</label>" in page, label
    assert ">Сохранить</button>" in page
    fields = fields_of(page)
    assert fields["diagnosis"] == ["Z00.1 Рутинное обследование состояния здоровья ребенка"]
    assert "neurologist" in fields["referral"]
    assert "cbc" in fields["test"]
    assert fields["date"] == ["2026-11-26"]
    assert "<title>Профилактический осмотр: СОКОЛОВА Вера — medcard</title>" in page


def test_a_visit_is_saved_and_the_browser_goes_to_the_chart_and_the_api_shows_it(
        doctor: httpx.Client, child: str, api: httpx.Client, database_url: str) -> None:
    fields = fields_of(open_form(doctor, child))
    saved = doctor.post(f"/app/patients/{child}/visits/new",
                        data=with_values(fields, weight="10,2", height="76", complaints="Жалоб нет"))
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"/app/patients/{child}#visits"
    encounters = body(api.get("/Encounter", params={"patient": child, "type": "preventive-examination"}))
    assert len([e for e in encounters["entry"] if "partOf" not in e["resource"]]) == 1
    with psycopg.connect(database_url) as conn:
        writes = conn.execute("SELECT count(*) FROM audit_event WHERE patient_id = %s AND subtype = 'create'",
                              (child,)).fetchone()
    assert writes is not None
    assert writes[0] >= 5
    # A second submit of the same form (a double click, a retried request) saves nothing more.
    again = doctor.post(f"/app/patients/{child}/visits/new",
                        data=with_values(fields, weight="10,2", height="76", complaints="Жалоб нет"))
    assert again.status_code == 303
    encounters = body(api.get("/Encounter", params={"patient": child, "type": "preventive-examination"}))
    assert len([e for e in encounters["entry"] if "partOf" not in e["resource"]]) == 1


def test_bad_values_come_back_next_to_their_fields_with_what_was_typed(
        doctor: httpx.Client, child: str, api: httpx.Client) -> None:
    fields = fields_of(open_form(doctor, child))
    answer = doctor.post(f"/app/patients/{child}/visits/new",
                         data=with_values(fields, weight="900", height="0", date="2026-12-24",
                                          diagnosis="Q99.99 выдумка", conclusion="ж" * 4001))
    assert answer.status_code == 422
    page = answer.text
    for field, message in (("weight", "Вес должен быть от 0,3 до 200 кг"),
                           ("height", "Рост должен быть от 25 до 230 см"),
                           ("date", "Дата приёма не может быть в будущем"),
                           ("diagnosis", "Кода Q99.99 нет в МКБ-10; выберите диагноз из списка"),
                           ("conclusion", "Не больше 4000 знаков (сейчас 4001)")):
        assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true" aria-describedby="e-{field}', page), field
        assert f'<p class="error" id="e-{field}"><span aria-hidden="true">⚠ </span>{message}</p>' in page
    assert 'value="900"' in page  # what was typed stays in the form
    assert body(api.get("/Encounter", params={"patient": child})).get("entry") is None


def test_the_draft_is_kept_and_comes_back_when_the_form_is_opened_again(doctor: httpx.Client, child: str) -> None:
    fields = fields_of(open_form(doctor, child, "illness"))
    kept = doctor.post(f"/app/patients/{child}/visits/draft",
                       data=with_values(fields, complaints="Кашель третий день", weight="12,"))
    assert kept.status_code == 200
    assert "Черновик сохранён в" in kept.text
    again = fields_of(open_form(doctor, child, "illness"))
    assert again["key"] == fields["key"]
    assert again["complaints"] == ["Кашель третий день"]
    assert again["weight"] == ["12,"]


def test_the_z_scores_are_computed_on_the_server(doctor: httpx.Client, child: str) -> None:
    fields = fields_of(open_form(doctor, child))
    answer = doctor.post(f"/app/patients/{child}/visits/scores", data=with_values(fields, weight="9,5", height="75"))
    assert answer.status_code == 200
    assert "Масса тела к возрасту" in answer.text
    assert "Длина тела к возрасту" in answer.text


def test_a_chart_changed_meanwhile_is_reported_instead_of_saved_over(
        doctor: httpx.Client, child: str, api: httpx.Client) -> None:
    fields = fields_of(open_form(doctor, child, "illness"))
    post(api, "/Condition", {"resourceType": "Condition", "subject": {"reference": f"Patient/{child}"},
                             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J45.0"}]}})
    answer = doctor.post(f"/app/patients/{child}/visits/new", data=with_values(fields, diagnosis="J06.9"))
    assert answer.status_code == 409
    assert "появились изменения: диагнозы (1)" in answer.text
    assert body(api.get("/Encounter", params={"patient": child})).get("entry") is None
    assert doctor.post(f"/app/patients/{child}/visits/new",
                       data=with_values(fields, diagnosis="J06.9")).status_code == 303


def test_a_form_posted_for_another_patient_or_without_csrf_is_refused(doctor: httpx.Client, child: str,
                                                                      api: httpx.Client) -> None:
    fields = fields_of(open_form(doctor, child, "illness"))
    other = doctor.post(f"/app/patients/{child}/visits/new", data=with_values(fields, patient="someone-else",
                                                                              diagnosis="J06.9"))
    assert other.status_code == 400
    forged = {k: v for k, v in fields.items() if k != "csrf"}
    assert doctor.post(f"/app/patients/{child}/visits/new",
                       data=with_values(forged, diagnosis="J06.9")).status_code == 403
    assert body(api.get("/Encounter", params={"patient": child})).get("entry") is None


def test_a_registrar_may_not_open_the_form(root: str, database_url: str, child: str) -> None:
    client = sign_in_client(root, database_url, "reg.visit", roles=[("registrar", "org-7")])
    try:
        assert client.get(f"/app/patients/{child}/visits/new").status_code == 403
    finally:
        client.close()




def saved_visit(doctor: httpx.Client, child: str, api: httpx.Client, **values: str) -> str:
    """An illness visit saved through the form; its Encounter's id."""
    fields = fields_of(open_form(doctor, child, "illness"))
    saved = doctor.post(f"/app/patients/{child}/visits/new", data=with_values(fields, diagnosis="J06.9", **values))
    assert saved.status_code == 303, saved.text
    [encounter] = body(api.get("/Encounter", params={"patient": child}))["entry"]
    return str(encounter["resource"]["id"])


def test_the_form_has_the_chart_banner_vitals_and_anamnesis_sections(doctor: httpx.Client, child: str) -> None:
    page = open_form(doctor, child, "illness")
    assert '<section class="banner" aria-label="Пациент">' in page  # the chart's banner (ux.md §2)
    assert "Аллергии: сведений нет (не внесены)" in page
    assert '<span class="label">Законный представитель:</span> не указано' in page
    for label in ("ЧСС, уд/мин", "ЧДД, в мин", "SpO₂, %", "Анамнез заболевания", "Анамнез жизни", "Эпиданамнез",
                  "Аллергоанамнез", *LABELS):
        assert f">{label}</label>" in page, label
    assert re.search(r'<details class="fold">\s*<summary>Анамнез жизни', page)  # folded
    assert "Повторить из прошлого приёма" not in page  # no earlier visit: nothing to repeat


def test_impossible_vitals_come_back_next_to_their_fields_and_nothing_is_saved(
        doctor: httpx.Client, child: str, api: httpx.Client) -> None:
    fields = fields_of(open_form(doctor, child, "illness"))
    answer = doctor.post(f"/app/patients/{child}/visits/new",
                         data=with_values(fields, diagnosis="J06.9", heart_rate="1200", respiratory_rate="2",
                                          spo2="110"))
    assert answer.status_code == 422
    for field, message in (("heart_rate", "ЧСС должна быть от 30 до 300 уд/мин"),
                           ("respiratory_rate", "ЧДД должна быть от 8 до 120 в мин"),
                           ("spo2", "SpO₂ должна быть от 50 до 100 %")):
        assert re.search(rf'id="f-{field}"[^>]*aria-invalid="true" aria-describedby="e-{field}', answer.text), field
        assert f'<p class="error" id="e-{field}"><span aria-hidden="true">⚠ </span>{message}</p>' in answer.text
    assert 'value="1200"' in answer.text
    assert body(api.get("/Encounter", params={"patient": child})).get("entry") is None
    assert body(api.get("/Observation", params={"patient": child})).get("entry") is None


def test_the_next_visit_offers_each_section_again_and_prefills_the_life_history(
        doctor: httpx.Client, child: str, api: httpx.Client) -> None:
    life = "Ребёнок от 1 беременности.\nПривита по календарю."
    saved_visit(doctor, child, api, complaints="Кашель", life_history=life, epidemiology="Контактов не было",
                heart_rate="120", examination="Зев гиперемирован")
    page = open_form(doctor, child, "illness")
    fields = fields_of(page)
    assert fields["life_history"] == [life]  # prefilled from the earlier visit
    assert fields["complaints"] == [""]  # never a whole note forward: the other sections stay empty
    assert fields["heart_rate"] == [""]
    assert ('id="f-life_history" name="life_history" rows="4" maxlength="5000" class="repeated"'
            ' aria-describedby="r-life_history"') in page
    assert re.search(r'<p class="hint repeated-note" id="r-life_history"><span aria-hidden="true">↻ </span>'
                     r'Текст повторён из приёма 26\.11\.2026', page)
    for name, label, text in (("complaints", "Жалобы", "Кашель."), ("epidemiology", "Эпиданамнез", "Контактов не было"),
                              ("examination", "Объективно", "Зев гиперемирован")):
        assert (f'<button type="button" class="repeat" data-repeat-for="f-{name}"\n      aria-label="Повторить из '
                f'прошлого приёма: {label}">Повторить из прошлого приёма</button>') in page, name
        assert f'<template id="was-{name}">{html.escape(text, quote=False)}</template>' in page
        assert re.search(rf'<p class="hint repeated-note" id="r-{name}" hidden>', page)  # not repeated yet
        assert f'aria-describedby="r-{name}"' not in page  # nor read out with the field
    assert 'data-repeat-for="f-allergy_history"' not in page  # the earlier visit did not write it
    # The browser posts a textarea's line breaks as CRLF: the same text is still the earlier visit's, still marked.
    doctor.post(f"/app/patients/{child}/visits/draft",
                data=with_values(fields, life_history=life.replace("\n", "\r\n"), complaints="Кашель."))
    again = open_form(doctor, child, "illness")
    assert fields_of(again)["life_history"] == [life]
    assert 'name="life_history" rows="4" maxlength="5000" class="repeated"' in again
    assert 'name="complaints" rows="3" maxlength="5000" class="repeated"' in again  # repeated by hand, as typed
    edited = with_values(fields, life_history=life + " Аллергия на пенициллин.", complaints="Кашель.")
    doctor.post(f"/app/patients/{child}/visits/draft", data=edited)
    changed = open_form(doctor, child, "illness")
    assert 'name="life_history" rows="4" maxlength="5000">' in changed  # edited: not marked, no note read out
    assert '<span class="fold-state" id="fs-life_history-repeated" hidden>' in changed


def test_the_visit_page_shows_the_new_sections_and_vitals(doctor: httpx.Client, child: str, api: httpx.Client) -> None:
    encounter = saved_visit(doctor, child, api, life_history="Первая строка.\nВторая строка.",
                            allergy_history="Аллергия на пенициллин", epidemiology="Контакт с ОРВИ",
                            heart_rate="118", respiratory_rate="28", spo2="96")
    page = doctor.get(f"/app/patients/{child}/timeline/visit/{encounter}")
    assert page.status_code == 200
    for label, text in (("Анамнез жизни", "Первая строка.\nВторая строка."), ("Эпиданамнез", "Контакт с ОРВИ"),
                        ("Аллергоанамнез", "Аллергия на пенициллин")):
        assert f"<dt>{label}</dt><dd>{text}</dd>" in page.text, label
    for line in ("Частота сердечных сокращений: <strong>118 уд/мин</strong>",
                 "Частота дыхательных движений: <strong>28 /мин</strong>",
                 "Сатурация кислорода (SpO₂): <strong>96 %</strong>"):
        assert line in page.text, line


def test_a_draft_untouched_for_the_configured_days_is_not_offered(
        doctor: httpx.Client, child: str, database_url: str) -> None:
    fields = fields_of(open_form(doctor, child, "illness"))
    doctor.post(f"/app/patients/{child}/visits/draft", data=with_values(fields, complaints="Кашель третий день"))
    with psycopg.connect(database_url) as conn:  # its last change moved back past the lifetime (30 days)
        conn.execute("UPDATE visit_draft SET updated_at = updated_at - interval '30 days 1 minute' WHERE id = %s",
                     (fields["key"][0],))
    again = fields_of(open_form(doctor, child, "illness"))
    assert again["key"] != fields["key"]  # a new form
    assert again["complaints"] == [""]
