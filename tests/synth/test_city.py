"""The synthetic city keeps the rules it claims to follow: identifiers, the calendar, the examination
schedule, growth, references, validity, determinism, and loading through the real importer."""

from __future__ import annotations

import asyncio
import base64
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from medcard.core.db import Database
from medcard.core.identifiers import is_valid_enp, is_valid_snils
from medcard.fhir.bulk.importer import Importer, ImportReport
from medcard.fhir.validation import validation_issues
from medcard.pediatrics import growth
from medcard.pediatrics.examinations import examination_schedule
from medcard.pediatrics.immunization import Child, ImmunizationEvent, forecast_disease
from medcard.pediatrics.rules import examination_acts
from medcard.synth import CitySize, write_ndjson
from medcard.synth.fhirdata import DISTRICT, ENCOUNTER_TYPE, ENP, SNILS, SPECIALIST, SYNTH_TAG

TODAY = date(2026, 11, 26)
SIZE = CitySize(children=40, clinics=2, demographic=15)
Resource = dict[str, Any]


@pytest.fixture(scope="module")
def city_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    write_ndjson(out, 7, SIZE, TODAY)
    return out


@pytest.fixture(scope="module")
def resources(city_dir: Path) -> list[Resource]:
    return [orjson.loads(line) for path in sorted(city_dir.glob("*.ndjson")) for line in path.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def by_type(resources: list[Resource]) -> dict[str, list[Resource]]:
    out: dict[str, list[Resource]] = defaultdict(list)
    for r in resources:
        out[r["resourceType"]].append(r)
    return out


def _day(value: str) -> date:
    return date.fromisoformat(value[:10])


def _patient_id(r: Resource) -> str:
    target = r.get("subject") or r.get("patient")
    assert target is not None
    return str(target["reference"]).split("/")[1]


def test_same_seed_and_sizes_give_byte_identical_files(city_dir: Path, tmp_path: Path) -> None:
    write_ndjson(tmp_path, 7, SIZE, TODAY)
    names = sorted(p.name for p in city_dir.glob("*.ndjson"))
    assert names == sorted(p.name for p in tmp_path.glob("*.ndjson"))
    for name in names:
        assert (city_dir / name).read_bytes() == (tmp_path / name).read_bytes(), name


def test_another_seed_gives_another_city(city_dir: Path, tmp_path: Path) -> None:
    write_ndjson(tmp_path, 8, SIZE, TODAY)
    assert (city_dir / "Patient.ndjson").read_bytes() != (tmp_path / "Patient.ndjson").read_bytes()


def test_every_resource_is_valid_r4(resources: list[Resource]) -> None:
    problems = [(r["resourceType"], r["id"], validation_issues(r)[:2]) for r in resources if validation_issues(r)]
    assert not problems, problems[:5]


def test_every_reference_resolves_within_the_city(resources: list[Resource]) -> None:
    known = {f"{r['resourceType']}/{r['id']}" for r in resources}
    assert len(known) == len(resources), "ids are unique"

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k == "reference" and isinstance(v, str)] + \
                [x for k, v in node.items() if k != "reference" for x in refs(v)]
        if isinstance(node, list):
            return [x for item in node for x in refs(item)]
        return []

    dangling = [(r["resourceType"], ref) for r in resources for ref in refs(r) if ref not in known]
    assert not dangling, dangling[:5]


def test_every_snils_and_policy_number_passes_its_checksum(resources: list[Resource]) -> None:
    seen = {SNILS: 0, ENP: 0}
    for r in resources:
        for identifier in r.get("identifier", []):
            if identifier.get("system") == SNILS:
                assert is_valid_snils(identifier["value"]), identifier
                seen[SNILS] += 1
            elif identifier.get("system") == ENP:
                assert is_valid_enp(identifier["value"]), identifier
                seen[ENP] += 1
    assert seen[SNILS] > SIZE.children
    assert seen[ENP] == SIZE.children + SIZE.demographic


def test_children_are_attached_to_a_polyclinic_and_a_district_pediatrician(by_type: dict[str, list[Resource]]
                                                                            ) -> None:
    roles = {r["id"]: r for r in by_type["PractitionerRole"]}
    for patient in by_type["Patient"]:
        assert patient["managingOrganization"]["reference"].startswith("Organization/")
        role = roles[patient["generalPractitioner"][0]["reference"].split("/")[1]]
        assert role["code"][0]["coding"][0] == {"system": SPECIALIST, "code": "pediatrician"}
        assert role["identifier"][0]["system"] == DISTRICT


def test_siblings_share_their_parents_by_snils(by_type: dict[str, list[Resource]]) -> None:
    children_of: dict[str, set[str]] = defaultdict(set)
    for person in by_type["RelatedPerson"]:
        children_of[person["identifier"][0]["value"]].add(person["patient"]["reference"])
    assert any(len(kids) > 1 for kids in children_of.values()), "some parents have several children"


def _children(by_type: dict[str, list[Resource]]) -> dict[str, Child]:
    flags: dict[str, set[str]] = defaultdict(set)
    for flag in by_type["Flag"]:
        flags[_patient_id(flag)].add(flag["code"]["coding"][0]["code"])
    return {p["id"]: Child(date.fromisoformat(p["birthDate"]), p["gender"], frozenset(flags[p["id"]]))
            for p in by_type["Patient"]}


def _event(r: Resource) -> ImmunizationEvent:
    applied = r["protocolApplied"][0]
    diseases = frozenset(c["coding"][0]["code"] for c in applied["targetDisease"])
    if r["status"] == "completed":
        return ImmunizationEvent(_day(r["occurrenceDateTime"]), diseases, dose_number=applied["doseNumberPositiveInt"])
    reason = "refusal" if r["statusReason"]["coding"][0]["code"] == "PATOBJ" else "medical-exemption"
    until = next((date.fromisoformat(e["valueDate"]) for e in r.get("extension", [])), None)
    return ImmunizationEvent(_day(r["occurrenceDateTime"]), diseases, status="not-done", reason=reason,
                             exemption_until=until)


def test_no_dose_is_given_before_the_calendar_allows_and_late_doses_are_marked(
        by_type: dict[str, list[Resource]]) -> None:
    children = _children(by_type)
    shots: dict[str, list[Resource]] = defaultdict(list)
    for r in by_type["Immunization"]:
        shots[_patient_id(r)].append(r)
    checked = late = 0
    for pid, records in shots.items():
        child = children[pid]
        for shot in (r for r in records if r["status"] == "completed"):
            day = _day(shot["occurrenceDateTime"])
            before = [_event(r) for r in records if _day(r["occurrenceDateTime"]) < day]
            tagged = any(t["code"] == "delayed" for t in shot.get("meta", {}).get("tag", [])
                         if t["system"] == SYNTH_TAG)
            for coding in shot["protocolApplied"][0]["targetDisease"]:
                found = forecast_disease(child, before, coding["coding"][0]["code"], day)
                assert found.status not in ("complete", "contraindicated"), (pid, shot["id"], found.reason)
                assert found.dates is not None, (pid, shot["id"])
                assert found.dates.earliest <= day, (pid, shot["id"], found.dates)
                assert found.dose_number == shot["protocolApplied"][0]["doseNumberPositiveInt"]
                if day >= found.dates.overdue:
                    assert tagged, f"{shot['id']}: given after {found.dates.overdue} without the delayed tag"
                    late += 1
                checked += 1
    assert checked > 200
    assert late > 0


def test_refusals_and_medical_exemptions_are_recorded_as_not_done(by_type: dict[str, list[Resource]]) -> None:
    reasons = {r["statusReason"]["coding"][0]["code"] for r in by_type["Immunization"] if r["status"] == "not-done"}
    assert reasons <= {"PATOBJ", "MEDPREC"}
    assert reasons


def test_preventive_examinations_follow_the_act_in_force_on_their_dates(by_type: dict[str, list[Resource]]) -> None:
    acts = examination_acts()
    patients = {p["id"]: p for p in by_type["Patient"]}
    parts: dict[str, set[str]] = defaultdict(set)
    for enc in by_type["Encounter"]:
        if "partOf" in enc:
            parts[enc["partOf"]["reference"].split("/")[1]].add(enc["serviceType"]["coding"][0]["code"])
    exams = [e for e in by_type["Encounter"] if "partOf" not in e and
             any(c.get("system") == ENCOUNTER_TYPE for t in e["type"] for c in t.get("coding", []))]
    assert len(exams) > SIZE.children
    for exam in exams:
        day, patient = _day(exam["period"]["start"]), patients[_patient_id(exam)]
        act = acts.in_force(day)
        assert act is not None
        assert act.meta.number in exam["reasonCode"][0]["text"]
        schedule = examination_schedule(date.fromisoformat(patient["birthDate"]), patient["gender"], until=day)
        matching = [s for s in schedule.examinations if s.due_from <= day <= s.due_until and s.act is act]
        assert matching, f"{exam['id']} on {day} is in no window of {act.meta.number}"
        assert parts[exam["id"]] == {r.code for r in matching[0].specialists}


def test_growth_measurements_lie_within_plausible_who_z_scores(by_type: dict[str, list[Resource]]) -> None:
    patients = {p["id"]: p for p in by_type["Patient"]}
    indicator = {"29463-7": "weight-for-age", "8306-3": "height-for-age", "8302-2": "height-for-age",
                 "9843-4": "head-circumference-for-age", "39156-5": "bmi-for-age"}
    checked = 0
    for obs in by_type["Observation"]:
        code = obs["code"]["coding"][0]["code"]
        if code not in indicator:
            continue
        patient = patients[_patient_id(obs)]
        age = (_day(obs["effectiveDateTime"]) - date.fromisoformat(patient["birthDate"])).days
        z = growth.zscore(indicator[code], patient["gender"], age, obs["valueQuantity"]["value"],
                          recumbent=code == "8306-3")
        if z is not None:
            assert abs(z) < 4, (obs["id"], indicator[code], age, z)
            checked += 1
        if code == "9843-4":
            assert age < 1096
    assert checked > 300


def test_documents_carry_russian_text_inline(by_type: dict[str, list[Resource]]) -> None:
    kinds = {d["type"].get("text") for d in by_type["DocumentReference"]}
    assert "История развития ребёнка (ф. 112/у)" in kinds
    assert "Медицинская справка" in kinds
    for doc in by_type["DocumentReference"][:200]:
        attachment = doc["content"][0]["attachment"]
        assert attachment["contentType"].split(";")[0] in ("text/plain", "text/html")
        assert base64.b64decode(attachment["data"]).decode()


def _import(url: str, folder: Path) -> ImportReport:
    async def go() -> ImportReport:
        db = Database(url, min_size=1, max_size=2)
        await db.open()
        try:
            return await Importer(db, on_error="stop").run([folder])
        finally:
            await db.close()

    return asyncio.run(go())


def test_the_city_loads_through_the_importer_idempotently(database_url: str, city_dir: Path, http: httpx.Client,
                                                          resources: list[Resource]) -> None:
    first = _import(database_url, city_dir)
    assert not first.problems
    assert first.created == len(resources)
    second = _import(database_url, city_dir)
    assert second.created == 0
    assert second.updated == 0
    assert second.unchanged == len(resources)
    r = http.get("/Patient", params={"_summary": "count"})
    assert r.status_code == 200
    assert r.json()["total"] == SIZE.children + SIZE.demographic
    r = http.get("/Immunization", params={"status": "not-done", "_summary": "count"})
    assert r.status_code == 200
    assert r.json()["total"] > 0
