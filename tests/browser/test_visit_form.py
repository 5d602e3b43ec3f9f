"""Writing a visit in a real Chromium at 1366×768 and 768×1024: the form prefilled for a well-child visit,
bad values shown next to their fields, the z-scores as the vitals are typed, the save, and the visit
through the FHIR API (fhirpy); axe on each state; screenshots of each."""

from __future__ import annotations

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
