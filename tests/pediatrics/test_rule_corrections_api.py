"""The corrected rule rows (issue 18) through the real API: $immds-forecast, the vaccination worklist and
$examinations, on the fixed clock (FIXED_TODAY, 26.11.2026). The cases are those of test_rule_corrections,
from the sources' wording: no Hib for a first dose from 13 months (methodological recommendations on
1122н, p. 3); at 2 years, from 15.10.2019, the psychiatrist only for the risk group (396н)."""

from __future__ import annotations

from typing import Any

import httpx
from test_operations import (
    clinic,
    get,
    immunization,
    params,
    parts,
    patient,
    recommendations,
    record,
    transaction,
    urn,
)

from conftest import FIXED_TODAY

HIB, DIPHTHERIA, PERTUSSIS, TETANUS, POLIO = "709410003", "397430003", "27836007", "76902006", "398102009"
PENTAXIM = (DIPHTHERIA, PERTUSSIS, TETANUS, POLIO, HIB)
FOURTEEN_MONTHS_AGO = "2025-09-26"  # 14 months before FIXED_TODAY: 13 months old on 26.10.2026


def hib_worklist(http: httpx.Client, holder: str, day: str) -> set[str]:
    out = get(http, f"{holder}/$vaccination-worklist", date=day, disease=HIB)
    return {parts(p)["patient"]["reference"] for p in params(out, "child")}


def test_a_child_who_starts_hib_at_14_months_has_no_hib_recommendation_and_leaves_the_worklist_at_13(
        http: httpx.Client) -> None:
    assert FIXED_TODAY.isoformat() == "2026-11-26"
    org, role = clinic(http)
    pid = record(http, patient(FOURTEEN_MONTHS_AGO, "male", org, role),
                 lambda s: immunization(s, FIXED_TODAY.isoformat(), *PENTAXIM))
    ref = f"Patient/{pid}"
    hib = recommendations(get(http, f"{ref}/$immds-forecast"))[HIB]  # on medcard's today, the fixed clock
    assert hib["forecastStatus"]["coding"][0]["code"] == "complete"
    assert "doseNumberPositiveInt" not in hib
    assert "dateCriterion" not in hib
    assert any("hib-start-13m" in reason["text"] for reason in hib["forecastReason"])
    # overdue for the first dose (due at 3 months) until a first dose would be at 13 months, not after
    assert ref in hib_worklist(http, org, "2026-10-25")
    assert ref not in hib_worklist(http, org, "2026-10-26")
    assert ref not in hib_worklist(http, role, FIXED_TODAY.isoformat())
    # the other diseases of the combination vaccine go on: the second DTP dose is forecast
    dtp = recommendations(get(http, f"{ref}/$immds-forecast"))[DIPHTHERIA]
    assert dtp["doseNumberPositiveInt"] == 2


def _two_year_examination(http: httpx.Client, day: str) -> dict[str, Any]:
    """A boy born 01.08.2017 examined at 2 years on ``day`` by the pediatrician and the dentist only."""
    kind = {"coding": [{"system": "urn:medcard:code-system:encounter-type", "code": "preventive-examination"}]}
    amb = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
    pid, exam = urn(), urn()
    resources: list[tuple[str, dict[str, Any]]] = [
        (pid, patient("2017-08-01", "male")),
        (exam, {"resourceType": "Encounter", "status": "finished", "type": [kind], "class": amb,
                "subject": {"reference": pid}, "period": {"start": day}})]
    for specialist in ("pediatrician", "pediatric-dentist"):
        resources.append((urn(), {
            "resourceType": "Encounter", "status": "finished", "type": [kind], "class": amb,
            "subject": {"reference": pid}, "partOf": {"reference": exam}, "period": {"start": day},
            "serviceType": {"coding": [{"system": "urn:medcard:code-system:specialist", "code": specialist}]}}))
    ids = transaction(http, resources)
    out = get(http, f"{ids[pid]}/$examinations")
    found: dict[str, Any] = next(parts(p) for p in params(out, "examination")
                                 if parts(p)["code"] == "514n-2y")
    found["specialists"] = {}
    for entry in next(p for p in params(out, "examination") if parts(p)["code"] == "514n-2y")["part"]:
        if entry["name"] == "specialist":
            fields = {q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in entry["part"]}
            found["specialists"][fields["code"]] = fields
    return found


def test_two_year_examination_on_each_side_of_15_10_2019(http: httpx.Client) -> None:
    before = _two_year_examination(http, "2019-10-14")
    assert before["status"]["code"] == "overdue"
    assert before["missingSpecialist"] == "child-psychiatrist"
    assert "conditional" not in before["specialists"]["child-psychiatrist"]
    after = _two_year_examination(http, "2019-10-15")
    assert after["status"]["code"] == "done"
    assert "missingSpecialist" not in after
    psychiatrist = after["specialists"]["child-psychiatrist"]
    assert (psychiatrist["conditional"], psychiatrist["seen"]) == (True, False)
    assert "анкетирования родителей" in psychiatrist["condition"]
    assert "396н" in after["actVersion"]
