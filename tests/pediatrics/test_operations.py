"""The pediatric operations over the real API: $growth, $growth-chart, $immds-forecast, $examinations and
the vaccination worklist, on records built through transaction Bundles (docs/fhir-conventions.md)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import httpx

from conftest import FIXED_TODAY
from helpers import body, post
from medcard.pediatrics import examinations, growth

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
HEPB, TB, FLU = "66071002", "56717001", "6142004"
VITAL = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}]


# --- building records -----------------------------------------------------------------------------


def urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def transaction(http: httpx.Client, resources: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """POST a transaction of (fullUrl, resource); returns fullUrl -> Type/id."""
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": full, "resource": res, "request": {"method": "POST", "url": res["resourceType"]}}
        for full, res in resources]}
    r = post(http, "", bundle)
    assert r.status_code == 200, r.text
    locations = [e["response"]["location"] for e in body(r)["entry"]]
    return {full: "/".join(loc.split("/")[:2]) for (full, _), loc in zip(resources, locations, strict=True)}


def clinic(http: httpx.Client) -> tuple[str, str]:
    """A polyclinic and a district pediatrician's role in it: (Organization/id, PractitionerRole/id)."""
    org, role = urn(), urn()
    ids = transaction(http, [
        (org, {"resourceType": "Organization", "name": "ДГП № 1"}),
        (role, {"resourceType": "PractitionerRole", "organization": {"reference": org},
                "identifier": [{"system": "urn:medcard:code-system:district", "value": "1-1"}]})])
    return ids[org], ids[role]


def patient(birth: str, gender: str = "female", org: str | None = None, role: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Patient", "gender": gender, "birthDate": birth,
                           "name": [{"family": "Иванова", "given": ["Анна"]}]}
    if org:
        res["managingOrganization"] = {"reference": org}
    if role:
        res["generalPractitioner"] = [{"reference": role}]
    return res


def measurement(subject: str, code: str, day: str, value: float, unit: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "category": VITAL,
            "code": {"coding": [{"system": LOINC, "code": code}]}, "subject": {"reference": subject},
            "effectiveDateTime": day, "valueQuantity": {"value": value, "unit": unit,
                                                        "system": "http://unitsofmeasure.org", "code": unit}}


def immunization(subject: str, day: str, *diseases: str, status: str = "completed", reason: str | None = None,
                 until: str | None = None, dose: int | None = None) -> dict[str, Any]:
    applied: dict[str, Any] = {"targetDisease": [{"coding": [{"system": SNOMED, "code": d}]} for d in diseases]}
    # R4 requires doseNumber[x]: a positive integer when known, otherwise a text
    applied["doseNumberPositiveInt" if dose else "doseNumberString"] = dose or "не указан"
    res: dict[str, Any] = {"resourceType": "Immunization", "status": status, "patient": {"reference": subject},
                           "vaccineCode": {"text": "Вакцина"}, "occurrenceDateTime": day, "protocolApplied": [applied]}
    if reason:
        res["statusReason"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                           "code": reason}]}
    if until:
        res["extension"] = [{"url": "urn:medcard:extension:exemption-until", "valueDate": until}]
    return res


def record(http: httpx.Client, child: dict[str, Any], *facts: Any) -> str:
    """Store a child and facts built by ``fact(subject)`` callables in one transaction; the Patient id."""
    pid = urn()
    ids = transaction(http, [(pid, child), *((urn(), make(pid)) for make in facts)])
    return ids[pid].split("/")[1]


def params(resource: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in resource["parameter"] if p["name"] == name]


def parts(param: dict[str, Any]) -> dict[str, Any]:
    """A parameter's parts by name (the value of the last part of each name)."""
    out: dict[str, Any] = {}
    for p in param["part"]:
        out[p["name"]] = next((v for k, v in p.items() if k.startswith("value")), p.get("part"))
    return out


def get(http: httpx.Client, path: str, **query: str) -> dict[str, Any]:
    r = http.get(path, params=query)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = body(r)
    return result


# --- $growth ----------------------------------------------------------------------------------------


def test_growth_lists_each_measurement_with_who_z_score_and_centile(http: httpx.Client) -> None:
    pid = record(http, patient("2024-01-15", "male"),
                 lambda s: measurement(s, "29463-7", "2024-07-15", 7.9, "kg"),
                 lambda s: measurement(s, "8306-3", "2024-07-15", 67.6, "cm"),
                 lambda s: measurement(s, "9843-4", "2024-07-15", 43.3, "cm"),
                 lambda s: measurement(s, "29463-7", "2025-01-15", 9.6, "kg"))
    out = get(http, f"Patient/{pid}/$growth")
    rows = [parts(p) for p in params(out, "measurement")]
    by = {(r["date"], r["indicator"]["code"]): r for r in rows}
    for day, indicator, value, height in [("2024-07-15", "weight-for-age", 7.9, None),
                                          ("2024-07-15", "height-for-age", 67.6, None),
                                          ("2024-07-15", "head-circumference-for-age", 43.3, None),
                                          ("2024-07-15", "weight-for-height", 7.9, 67.6),
                                          ("2025-01-15", "weight-for-age", 9.6, None)]:
        age = (date.fromisoformat(day) - date(2024, 1, 15)).days
        lying = True if indicator in ("height-for-age", "weight-for-height") else None
        z = growth.zscore(indicator, "male", age, value, height_cm=height, recumbent=lying)
        assert z is not None
        row = by[(day, indicator)]
        assert row["ageDays"] == age
        assert float(row["zScore"]) == round(z, 2)
        assert abs(float(row["centile"]) - growth.centile(indicator, "male", age, value, height_cm=height)) < 0.11
    # a BMI computed from the weight and length of the same day
    assert ("2024-07-15", "bmi-for-age") in by
    assert by[("2024-07-15", "weight-for-age")]["indicator"]["display"] == "Масса тела к возрасту"


def test_growth_classifies_and_alerts_on_centile_crossings(http: httpx.Client) -> None:
    median_6m = growth.reference_lms("weight-for-age", "female", 182)
    low_12m = growth.reference_lms("weight-for-age", "female", 366)
    assert median_6m is not None
    assert low_12m is not None
    pid = record(http, patient("2024-01-01"),
                 lambda s: measurement(s, "29463-7", "2024-07-01", round(median_6m.median, 2), "kg"),
                 lambda s: measurement(s, "29463-7", "2025-01-01", round(low_12m.value(-2.5), 2), "kg"),
                 lambda s: measurement(s, "29463-7", "2025-02-01", 9.0, "lb"))
    out = get(http, f"Patient/{pid}/$growth", lang="en")
    [classification] = [parts(p) for p in params(out, "classification")]
    assert classification["date"] == "2025-01-01"
    assert classification["code"]["code"] == "underweight"
    [alert] = [parts(p) for p in params(out, "alert")]
    assert alert["direction"] == "down"
    assert alert["indicator"]["code"] == "weight-for-age"
    assert "Crossed centile lines" in alert["text"]
    [skip] = [parts(p) for p in params(out, "skipped")]
    assert "unit" in skip["reason"]


def test_growth_chart_is_svg_and_bad_parameters_are_400(http: httpx.Client) -> None:
    pid = record(http, patient("2024-01-15", "male"), lambda s: measurement(s, "29463-7", "2024-07-15", 7.9, "kg"))
    r = http.get(f"Patient/{pid}/$growth-chart", params={"indicator": "weight-for-age"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.text.lstrip().startswith("<svg")
    assert 'class="point"' in r.text
    bad = http.get(f"Patient/{pid}/$growth-chart", params={"indicator": "weight-for-mood"})
    assert bad.status_code == 400
    assert body(bad)["resourceType"] == "OperationOutcome"
    assert http.get(f"Patient/{pid}/$growth", params={"lang": "fr"}).status_code == 400
    assert http.get("Patient/nobody/$growth").status_code == 404


# --- $immds-forecast ----------------------------------------------------------------------------------


def recommendations(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [rec] = params(out, "recommendation")
    resource = rec["resource"]
    assert resource["resourceType"] == "ImmunizationRecommendation"
    return {r["targetDisease"]["coding"][0]["code"]: r for r in resource["recommendation"]}


def criteria(rec: dict[str, Any]) -> dict[str, str]:
    names = {"30981-5": "earliest", "30980-7": "due", "59778-1": "overdue"}
    return {names[c["code"]["coding"][0]["code"]]: c["value"] for c in rec["dateCriterion"]}


def test_forecast_reads_given_refused_and_exempted_vaccinations(http: httpx.Client) -> None:
    pid = record(http, patient("2024-01-15"),
                 lambda s: immunization(s, "2024-01-15", HEPB, dose=1),
                 lambda s: immunization(s, "2024-02-20", HEPB, status="not-done", reason="PATOBJ"),
                 lambda s: immunization(s, "2024-01-17", TB, status="not-done", reason="MEDPREC", until="2024-06-30"),
                 lambda s: immunization(s, "2024-01-16", HEPB, status="entered-in-error"))
    out = get(http, f"Patient/{pid}/$immds-forecast", date="2024-03-20")
    recs = recommendations(out)
    hepb = recs[HEPB]
    assert hepb["forecastStatus"]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/immunization-recommendation-status", "code": "overdue",
        "display": "Overdue"}
    assert hepb["doseNumberPositiveInt"] == 2
    assert criteria(hepb) == {"earliest": "2024-02-15", "due": "2024-02-15", "overdue": "2024-03-15"}
    assert any("Отказ" in r["text"] for r in hepb["forecastReason"])
    assert hepb["supportingImmunization"][0]["reference"].startswith("Immunization/")
    assert recs[TB]["forecastStatus"]["coding"][0]["code"] == "contraindicated"
    [skip] = [parts(p) for p in params(out, "skipped")]
    assert "entered-in-error" in skip["reason"]
    # after the exemption ends, tuberculosis falls due the next day
    later = recommendations(get(http, f"Patient/{pid}/$immds-forecast", assessmentDate="2024-07-01"))
    assert criteria(later[TB])["due"] == "2024-07-01"


def test_forecast_hepatitis_b_risk_group_from_a_flag(http: httpx.Client) -> None:
    flag = {"resourceType": "Flag", "status": "active",
            "code": {"coding": [{"system": "urn:medcard:code-system:immunization-risk-group", "code": "hepb-risk"}]}}
    pid = record(http, patient("2024-01-15"),
                 lambda s: {**flag, "subject": {"reference": s}},
                 lambda s: immunization(s, "2024-01-15", HEPB), lambda s: immunization(s, "2024-02-15", HEPB))
    hepb = recommendations(get(http, f"Patient/{pid}/$immds-forecast", date="2024-03-01"))[HEPB]
    assert criteria(hepb)["due"] == "2024-03-15"  # 0-1-2-12: the third dose at 2 months


def test_forecast_bad_date_is_400_and_unknown_patient_404(http: httpx.Client) -> None:
    pid = record(http, patient("2024-01-15"))
    r = http.get(f"Patient/{pid}/$immds-forecast", params={"date": "2024-13-01"})
    assert r.status_code == 400
    assert body(r)["resourceType"] == "OperationOutcome"
    assert http.get("Patient/nobody/$immds-forecast").status_code == 404
    today = params(get(http, f"Patient/{pid}/$immds-forecast"), "recommendation")[0]["resource"]["date"]
    assert date.fromisoformat(today) == FIXED_TODAY  # medcard's today (core.time.today_moscow), fixed in tests


# --- $examinations -----------------------------------------------------------------------------------


def test_examinations_done_with_all_specialists_and_groups_recorded(http: httpx.Client) -> None:
    birth = date(2025, 10, 1)
    schedule = examinations.examination_schedule(birth, "male")
    first = next(e for e in schedule.examinations if e.specialists)
    day = first.due_from.isoformat()
    exam, obs_type = urn(), {"coding": [{"system": "urn:medcard:code-system:encounter-type",
                                         "code": "preventive-examination"}]}
    pid = urn()
    resources: list[tuple[str, dict[str, Any]]] = [
        (pid, patient(birth.isoformat(), "male")),
        (exam, {"resourceType": "Encounter", "status": "finished", "type": [obs_type],
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "subject": {"reference": pid}, "period": {"start": day}}),
        (urn(), {"resourceType": "Observation", "status": "final", "subject": {"reference": pid},
                 "encounter": {"reference": exam},
                 "code": {"coding": [{"system": "urn:medcard:code-system:observation", "code": "health-group"}]},
                 "valueCodeableConcept": {"coding": [{"system": "urn:medcard:code-system:health-group",
                                                      "code": "II"}]}}),
    ]
    for req in first.specialists:
        resources.append((urn(), {
            "resourceType": "Encounter", "status": "finished", "type": [obs_type],
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": pid}, "partOf": {"reference": exam}, "period": {"start": day},
            "serviceType": {"coding": [{"system": "urn:medcard:code-system:specialist", "code": req.code}]}}))
    ids = transaction(http, resources)
    out = get(http, f"{ids[pid]}/$examinations", date="2026-11-26")
    items = [parts(p) for p in params(out, "examination")]
    done = next(i for i in items if i["code"] == first.visit.code)
    assert done["status"]["code"] == "done"
    assert done["healthGroup"]["code"] == "II"
    assert done["encounter"]["reference"] == ids[exam]
    assert "missingSpecialist" not in done
    others = [i for i in items if i["code"] != first.visit.code and i["dueFrom"] < "2026-11-26"]
    assert others
    assert all(i["status"]["code"] in ("overdue", "due") for i in others)
    assert all(i["status"]["code"] == "not-due" for i in items if i["dueFrom"] > "2026-11-26")
    assert http.get(f"{ids[pid]}/$examinations", params={"date": "yesterday"}).status_code == 400


# --- the worklist ---------------------------------------------------------------------------------------


def worklist(http: httpx.Client, org: str, day: str, **query: str) -> dict[str, dict[str, Any]]:
    out = get(http, f"{org}/$vaccination-worklist", date=day, disease=HEPB, **query)
    children = [parts(p) for p in params(out, "child")]
    assert params(out, "total")[0]["valueInteger"] == len(children)
    return {c["patient"]["reference"]: c for c in children}


def test_worklist_lists_a_child_once_the_dose_is_overdue_and_drops_them_when_it_is_given(http: httpx.Client) -> None:
    org, role = clinic(http)
    late = record(http, patient("2026-08-01", org=org, role=role),
                  lambda s: immunization(s, "2026-08-01", HEPB), lambda s: immunization(s, "2026-08-04", TB))
    elsewhere = record(http, patient("2026-08-01"), lambda s: immunization(s, "2026-08-01", HEPB))
    ref = f"Patient/{late}"
    assert ref not in worklist(http, org, "2026-09-30")  # due since 01.09, not yet overdue
    listed = worklist(http, org, "2026-10-01")
    assert list(listed) == [ref]
    overdue = {p["name"]: p for p in listed[ref]["overdue"]}
    assert overdue["disease"]["valueCodeableConcept"]["coding"][0]["code"] == HEPB
    assert overdue["doseNumber"]["valuePositiveInt"] == 2
    assert overdue["due"]["valueDate"] == "2026-09-01"
    assert overdue["overdue"]["valueDate"] == "2026-10-01"
    assert ref in worklist(http, role, "2026-10-01")
    assert ref in worklist(http, org, "2026-10-01", practitioner=role)
    assert f"Patient/{elsewhere}" not in worklist(http, org, "2026-10-01")
    # the second dose, given on 05.10: off the list at once for any date after it, still on it before
    r = post(http, "Immunization", immunization(ref, "2026-10-05", HEPB))
    assert r.status_code == 201
    assert worklist(http, org, "2026-10-10") == {}
    assert ref in worklist(http, org, "2026-10-03")
    # deleting the dose puts the child back
    assert http.delete(f"Immunization/{body(r)['id']}").status_code in (200, 204)
    assert ref in worklist(http, org, "2026-10-10")


def test_worklist_follows_the_patient_to_another_clinic(http: httpx.Client) -> None:
    first, _ = clinic(http)
    second, _ = clinic(http)
    pid = record(http, patient("2026-08-01", org=first), lambda s: immunization(s, "2026-08-01", HEPB))
    assert f"Patient/{pid}" in worklist(http, first, "2026-10-01")
    moved = {**patient("2026-08-01", org=second), "id": pid}
    assert http.put(f"Patient/{pid}", json=moved, headers={"Content-Type": "application/fhir+json"}).status_code == 200
    assert worklist(http, first, "2026-10-01") == {}
    assert f"Patient/{pid}" in worklist(http, second, "2026-10-01")


def test_worklist_pages_and_checks_its_parameters(http: httpx.Client) -> None:
    org, _ = clinic(http)
    for _ in range(3):
        record(http, patient("2026-08-01", org=org))
    out = get(http, f"{org}/$vaccination-worklist", date="2026-10-01", disease=HEPB, _count="2")
    assert params(out, "total")[0]["valueInteger"] == 3
    assert len(params(out, "child")) == 2
    following = http.get(params(out, "next")[0]["valueUri"])
    assert following.status_code == 200
    assert len(params(body(following), "child")) == 1
    assert http.get(f"{org}/$vaccination-worklist", params={"disease": "123"}).status_code == 400
    assert http.get(f"{org}/$vaccination-worklist", params={"date": "2026-1-1"}).status_code == 400
    assert http.get("Organization/none/$vaccination-worklist").status_code == 404
    assert http.get(f"{org}/$vaccination-worklist", params={"practitioner": "Patient/x"}).status_code == 400


def test_the_worklist_is_for_the_clinics_own_staff_and_is_audited(http: httpx.Client, database_url: str) -> None:
    from helpers import bearer, create_account, person_token

    org, role = clinic(http)
    other, _ = clinic(http)
    late = record(http, patient("2026-08-01", org=org, role=role), lambda s: immunization(s, "2026-08-01", HEPB))
    org_id, other_id = org.split("/")[1], other.split("/")[1]
    own = bearer(person_token(database_url, create_account(database_url, "staff", "ped-own",
                                                           roles=[("pediatrician", org_id)])))
    foreign = bearer(person_token(database_url, create_account(database_url, "staff", "ped-other",
                                                               roles=[("pediatrician", other_id)])))
    parent = bearer(person_token(database_url, create_account(database_url, "family", "mum@example.ru")))
    path = f"{org}/$vaccination-worklist"
    listed = http.get(path, params={"date": "2026-10-01"}, headers=own)
    assert listed.status_code == 200, listed.text
    assert any(p.get("name") == "child" for p in body(listed)["parameter"])
    assert http.get(f"{role}/$vaccination-worklist", params={"date": "2026-10-01"}, headers=own).status_code == 200
    assert http.get(path, params={"date": "2026-10-01"}, headers=foreign).status_code == 403
    assert http.get(path, params={"date": "2026-10-01"}, headers=parent).status_code == 403
    # the list showed the child's data: one audit row for the child; the refusals are recorded too
    import psycopg

    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT outcome, patient_id, entity FROM audit_event WHERE entity LIKE %s",
                            ("%vaccination-worklist",)).fetchall()
    assert ("0", late, f"{org}/$vaccination-worklist") in rows
    assert sum(1 for r in rows if r[0] == "4") == 2
