"""A clinician's visit is coded as the synthetic city codes it, so every reader treats both alike."""

from __future__ import annotations

from datetime import UTC, datetime

from medcard.records import coding
from medcard.synth import fhirdata
from medcard.synth.clinics import ROLES


def test_the_visit_codes_are_the_citys() -> None:
    for name in ("ICD10", "LOINC", "SNOMED", "UCUM", "ENCOUNTER_TYPE", "SPECIALIST", "EXAMINATION_TEST", "VITAL",
                 "EXAM", "HEIGHT", "LENGTH", "HEAD", "BMI", "TEMPERATURE", "PROGRESS_NOTE", "AMBULATORY", "PREVENTIVE",
                 "SICK_VISIT", "PRIMARY_PERFORMER", "REFERRAL", "ACTIVE", "CONFIRMED", "ENCOUNTER_DIAGNOSIS"):
        assert getattr(coding, name) == getattr(fhirdata, name), name
    from medcard.synth.examinations import WEIGHT_CODE
    assert coding.WEIGHT == WEIGHT_CODE


def test_referrals_name_specialists_as_the_city_does() -> None:
    for code, genitive in coding.SPECIALIST_GENITIVE.items():
        if code in ROLES and code != "pediatrician":
            assert ROLES[code].genitive == genitive, code


def test_wording_helpers_match_the_citys() -> None:
    for months in (1, 3, 12, 18, 36, 84, 121):
        assert coding.age_text(months) == fhirdata.age_text(months)
    moment = datetime(2026, 11, 26, 7, 5, 31, tzinfo=UTC)
    assert coding.at(moment) == fhirdata.at(moment.date(), 10 * 60 + 5) == "2026-11-26T10:05:00+03:00"
