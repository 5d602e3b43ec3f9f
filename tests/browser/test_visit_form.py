"""Writing a visit in a real Chromium at 1366×768 and 768×1024: the form prefilled for a well-child visit,
bad values shown next to their fields, the z-scores as the vitals are typed, the save, and the visit
through the FHIR API (fhirpy); axe on each state; screenshots of each."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirpy import SyncFHIRClient
from playwright.sync_api import Page, expect

from browser.conftest import off_loop
from helpers import bearer, created_id, post, put, system_token

SignedIn = Callable[..., Page]
VIEWPORTS = {"desktop": {"width": 1366, "height": 768}, "tablet": {"width": 768, "height": 1024}}


@pytest.fixture
def api(server: Any, database_url: str) -> Iterator[tuple[httpx.Client, SyncFHIRClient]]:
    """The FHIR API as a backend service, by httpx and by fhirpy (the token made off Playwright's event loop)."""
    token = off_loop(lambda: system_token(database_url))
    with httpx.Client(base_url=server.base, timeout=60, headers=bearer(token)) as client:
        yield client, SyncFHIRClient(server.base, authorization=f"Bearer {token}",
                                     extra_headers={"Accept": "application/fhir+json"})


def child_in_org_1(http: httpx.Client) -> str:
    """A girl of one year and six days (on the tests' day) attached to clinic org-1."""
    assert put(http, "/Organization/org-1", {"resourceType": "Organization", "id": "org-1",
                                              "name": "ДГП № 1"}).status_code in (200, 201)
    return created_id(post(http, "/Patient", {
        "resourceType": "Patient", "birthDate": "2025-11-20", "gender": "female",
        "name": [{"family": "Соколова", "given": ["Вера", "Андреевна"]}],
        "managingOrganization": {"reference": "Organization/org-1"}}))


@pytest.mark.parametrize("screen", list(VIEWPORTS))
def test_a_pediatrician_records_a_well_child_visit(
        screen: str, signed_in_page: SignedIn, api: tuple[httpx.Client, SyncFHIRClient],
        check_axe: Callable[[Page], None], shot: Callable[[Page, str], Path]) -> None:
    http, fhir = api
    child = child_in_org_1(http)
    page = signed_in_page(next_path=f"/app/patients/{child}/visits/new?kind=well-child")
    page.set_viewport_size(VIEWPORTS[screen])  # type: ignore[arg-type]
    expect(page.get_by_role("heading", name="Профилактический осмотр")).to_be_visible()
    expect(page.get_by_label("Диагноз (МКБ-10)", exact=True)).to_have_value(
        "Z00.1 Рутинное обследование состояния здоровья ребенка")
    expect(page.get_by_label("Врач-невролог")).to_be_checked()  # the 1-year examination's specialists
    check_axe(page)
    shot(page, f"visit-{screen}-1-new")

    # Bad values: the form comes back with each problem next to its field, nothing saved.
    page.get_by_label("Вес, кг").fill("900")
    page.get_by_label("Рост, см").fill("76")
    page.get_by_label("Сопутствующий диагноз (МКБ-10)", exact=True).fill("Q99.99")
    page.get_by_role("button", name="Сохранить").click()
    expect(page.locator("#e-weight")).to_have_text("⚠ Вес должен быть от 0,3 до 200 кг")
    expect(page.locator("#e-diagnosis_other-0")).to_contain_text("Кода Q99.99 нет в МКБ-10")
    expect(page.get_by_label("Вес, кг")).to_have_attribute("aria-invalid", "true")
    assert fhir.resources("Encounter").search(patient=child).fetch() == []
    check_axe(page)
    shot(page, f"visit-{screen}-2-errors")

    # Good values: the z-scores appear as they are typed (computed by the server).
    page.get_by_label("Вес, кг").fill("10,2")
    page.get_by_label("Окружность головы, см").fill("46")
    expect(page.locator("#zscores")).to_contain_text("Масса тела к возрасту")
    expect(page.locator("#zscores")).to_contain_text("Окружность головы к возрасту")
    # The comorbid diagnosis through the ICD-10 picker: typed, chosen from the options.
    comorbid = page.get_by_label("Сопутствующий диагноз (МКБ-10)", exact=True)
    comorbid.fill("")
    comorbid.press_sequentially("L20.", delay=30)
    option = page.locator("#f-diagnosis_other-0-options a[data-code='L20.8']")
    expect(option).to_be_visible()
    shot(page, f"visit-{screen}-3-picker")
    option.click()
    expect(comorbid).to_have_value("L20.8 Другие атопические дерматиты")
    page.get_by_label("Жалобы").fill("Жалоб нет")
    page.get_by_label("Объективно").fill("Состояние удовлетворительное. Кожа чистая, сухая на щеках.")
    page.get_by_label("Заключение").fill("Физическое развитие среднее, гармоничное. Атопический дерматит, ремиссия.")
    page.get_by_label("Группа здоровья").select_option("II")
    expect(page.locator("#draft-status")).to_contain_text("Черновик сохранён")  # autosaved on change
    check_axe(page)
    shot(page, f"visit-{screen}-4-filled")
    page.get_by_role("button", name="Сохранить").click()
    page.wait_for_url(f"**/app/patients/{child}#visits")

    encounters = [e for e in fhir.resources("Encounter").search(patient=child).fetch() if "partOf" not in e]
    assert len(encounters) == 1
    assert encounters[0]["type"][0]["coding"][0]["code"] == "preventive-examination"
    codes = sorted(c["code"]["coding"][0]["code"] for c in fhir.resources("Condition").search(patient=child).fetch())
    assert codes == ["L20.8", "Z00.1"]
    weights = fhir.resources("Observation").search(patient=child, code="http://loinc.org|29463-7").fetch()
    assert [str(w["valueQuantity"]["value"]) for w in weights] == ["10.2"]
    assert [w["encounter"]["reference"] for w in weights] == [f"Encounter/{encounters[0]['id']}"]


def earlier_protocol(http: httpx.Client, child: str) -> None:
    """An earlier visit's protocol (as medcard writes them), an allergy and a mother with a phone."""
    text = ("Протокол приёма врача-педиатра по заболеванию\nДата: 20.11.2026\nВрач-педиатр: Иванова Анна Петровна\n"
            "Жалобы: Кашель, насморк.\nАнамнез жизни: Ребёнок от 1 беременности, роды в срок.\nПривита по календарю.\n"
            "Объективно: Зев гиперемирован.\nДиагноз: J06.9 Острая инфекция верхних дыхательных путей неуточненная.")
    post(http, "/DocumentReference", {
        "resourceType": "DocumentReference", "status": "current",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}], "text": "Протокол приёма"},
        "subject": {"reference": f"Patient/{child}"}, "date": "2026-11-20T10:00:00+03:00",
        "description": "Протокол приёма врача-педиатра по заболеванию",
        "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                    "data": base64.b64encode(text.encode()).decode()}}]})
    post(http, "/AllergyIntolerance", {
        "resourceType": "AllergyIntolerance", "patient": {"reference": f"Patient/{child}"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                       "code": "active"}]},
        "code": {"text": "Амоксициллин"}})
    post(http, "/RelatedPerson", {
        "resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{child}"}, "active": True,
        "relationship": [{"text": "мать"}], "name": [{"family": "Соколова", "given": ["Анна"]}],
        "telecom": [{"system": "phone", "value": "+7 912 345-67-89"}]})


def test_a_section_is_repeated_from_the_earlier_visit_without_a_reload(
        signed_in_page: SignedIn, api: tuple[httpx.Client, SyncFHIRClient],
        check_axe: Callable[[Page], None], shot: Callable[[Page, str], Path]) -> None:
    http, _ = api
    child = child_in_org_1(http)
    earlier_protocol(http, child)
    page = signed_in_page(next_path=f"/app/patients/{child}/visits/new?kind=illness")
    page.set_viewport_size(VIEWPORTS["desktop"])  # type: ignore[arg-type]
    banner = page.get_by_role("region", name="Пациент")
    expect(banner).to_contain_text("СОКОЛОВА Вера Андреевна")
    expect(banner).to_contain_text("Аллергии: Амоксициллин")
    expect(banner.get_by_role("link", name="+7 912 345-67-89")).to_be_visible()
    # «Анамнез жизни» comes folded, prefilled from the earlier visit and marked as repeated.
    expect(page.locator("details.fold summary")).to_contain_text("— из приёма 20.11.2026")
    page.locator("details.fold summary").click()
    life = page.get_by_label("Анамнез жизни", exact=True)
    expect(life).to_have_value("Ребёнок от 1 беременности, роды в срок.\nПривита по календарю.")
    expect(life).to_have_class("repeated")
    complaints, examination = page.get_by_label("Жалобы", exact=True), page.get_by_label("Объективно", exact=True)
    expect(complaints).to_have_value("")
    check_axe(page)
    shot(page, "visit-repeat-1-new")

    page.evaluate("window.sameDocument = true")  # gone if the page reloaded
    button = page.get_by_role("button", name="Повторить из прошлого приёма: Жалобы")
    button.focus()
    page.keyboard.press("Enter")  # the keyboard alone
    expect(complaints).to_have_value("Кашель, насморк.")
    expect(complaints).to_have_class("repeated")
    expect(page.locator("#r-complaints")).to_be_visible()
    expect(complaints).to_have_attribute("aria-describedby", "r-complaints")  # the note is read out with the field
    expect(page.locator("#r-complaints")).to_contain_text("Текст повторён из приёма 20.11.2026")
    expect(examination).to_have_value("")  # one section at a time, never the whole note
    expect(page.locator("#draft-status")).to_contain_text("Черновик сохранён")  # the draft keeps it
    assert page.evaluate("window.sameDocument") is True
    check_axe(page)
    shot(page, "visit-repeat-2-repeated")

    complaints.press("End")
    complaints.press_sequentially(" Температуры нет.")
    expect(complaints).not_to_have_class("repeated")  # edited: no longer marked
    expect(page.locator("#r-complaints")).to_be_hidden()
    expect(complaints).not_to_have_attribute("aria-describedby", "r-complaints")
    page.get_by_role("button", name="Повторить из прошлого приёма: Объективно").click()
    expect(examination).to_have_value("Зев гиперемирован.")
    page.get_by_label("ЧСС, уд/мин").fill("118")
    page.get_by_label("SpO₂, %").fill("97")
    page.get_by_label("Диагноз (МКБ-10)", exact=True).fill("J06.9")
    shot(page, "visit-repeat-3-edited")
    page.get_by_role("button", name="Сохранить").click()
    page.wait_for_url(f"**/app/patients/{child}#visits")
    heart = http.get("/Observation", params={"patient": child, "code": "http://loinc.org|8867-4"}).json()
    assert [e["resource"]["valueQuantity"]["value"] for e in heart["entry"]] == [118]
