"""The contents of each kind of document, built from the structured record (a :class:`Source`).

Each ``*_context`` function returns the template's variables for its part; the header (clinic,
child, doctor) is :func:`header`. Values are plain strings and dates; the templates escape them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from medcard.core.wording import years_word as _years_word
from medcard.documents import views
from medcard.documents.pdf import number
from medcard.documents.source import Resource, Source
from medcard.pediatrics import growth_assessment, immunization, rules
from medcard.pediatrics import record as facts

SEX = {"male": "мужской", "female": "женский", "other": "другой", "unknown": "не указан"}
VITAL_LABELS = {"29463-7": "Масса тела", "8302-2": "Рост", "8306-3": "Длина тела (лёжа)", "9843-4": "Окружность головы",
                "39156-5": "Индекс массы тела", "8310-5": "Температура тела", "8867-4": "Частота сердечных сокращений",
                "9279-1": "Частота дыхания", "59408-5": "Сатурация кислорода", "8480-6": "Систолическое давление",
                "8462-4": "Диастолическое давление", "19935-6": "Пиковая скорость выдоха"}
INDICATOR_FOR = {"29463-7": "weight-for-age", "8302-2": "height-for-age", "8306-3": "height-for-age",
                 "9843-4": "head-circumference-for-age", "39156-5": "bmi-for-age"}
# The sections of form 156/у-93, in its order, by the diseases (SNOMED CT) a vaccine covers.
VACCINATION_GROUPS = (
    ("Туберкулёз (БЦЖ, БЦЖ-М)", ("56717001",)),
    ("Полиомиелит", ("398102009",)),
    ("Дифтерия, коклюш, столбняк", ("397430003", "27836007", "76902006")),
    ("Корь", ("14189004",)),
    ("Эпидемический паротит", ("36989005",)),
    ("Краснуха", ("36653000",)),
    ("Вирусный гепатит B", ("66071002",)),
    ("Гемофильная инфекция типа b", ("709410003",)),
    ("Пневмококковая инфекция", ("16814004",)),
    ("Грипп", ("6142004",)),
)
STATUS_RU = {"not-due": "срок не наступил", "due": "пора прививать", "overdue": "просрочена",
             "complete": "завершена", "contraindicated": "медицинский отвод"}
CLINICAL_STATUS = {"active": "активное", "recurrence": "рецидив", "relapse": "рецидив", "inactive": "неактивное",
                   "remission": "ремиссия", "resolved": "разрешилось"}


@dataclass(frozen=True)
class Child:
    name: str
    birth_date: date | None
    sex: str
    address: str


def age_text(birth: date | None, on: date | None) -> str:
    """The age as ux.md writes it: "12 дн." under a month, "1 г. 4 мес." under 3 years, "7 лет" after."""
    if birth is None or on is None or on < birth:
        return ""
    months = (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)
    if months < 1:
        days = (on - birth).days
        return f"{days} дн." if days else "при рождении"
    years, rest = divmod(months, 12)
    if years < 3:
        return f"{years} г. {rest} мес." if years else f"{rest} мес."
    return f"{years} {_years_word(years)}"



def day(value: str) -> date | None:
    return facts.day_of(value) if value else None


def child(source: Source) -> Child:
    p = source.patient
    return Child(views.name(p), views.birth_date(p), SEX.get(str(p.get("gender", "unknown")), "не указан"),
                 views.address(p))


def header(source: Source, *, title: str, form: str, clinic: views.Clinic, doctor: views.Person,
           doctor_label: str = "Врач") -> dict[str, Any]:
    return {"title": title, "form": form, "subtitle": "", "clinic": clinic, "child": child(source),
            "doctor": doctor, "doctor_label": doctor_label}


# --- a visit ------------------------------------------------------------------------------------


def _scores(source: Source) -> dict[str, tuple[float | None, float | None]]:
    """(z, centile) of each growth Observation by reference, against WHO."""
    if "scores" in source.memo:
        return source.memo["scores"]  # type: ignore[no-any-return]
    patient = facts.patient_from(source.patient)
    if isinstance(patient, str):
        return {}
    assessed = growth_assessment.assess(patient, facts.growth_from(source.of("Observation")))
    scores = {r.references[0]: (r.z, r.centile) for r in assessed.results
              if len(r.references) == 1 and r.indicator in INDICATOR_FOR.values()}
    source.memo["scores"] = scores
    return scores


def vitals(source: Source, observations: Iterable[Resource]) -> list[dict[str, str]]:
    scores = _scores(source)
    rows = []
    for obs in observations:
        codings = obs.get("code", {}).get("coding", [])
        code = next((c.get("code") for c in codings if c.get("code") in VITAL_LABELS), None)
        if code is None:
            continue
        z, centile = scores.get(f"Observation/{obs['id']}", (None, None))
        rows.append({"label": VITAL_LABELS[code], "value": views.value(obs),
                     "z": "" if z is None else number(z, 2), "centile": "" if centile is None else number(centile, 0)})
    return rows


def diagnoses(conditions: Iterable[Resource]) -> list[dict[str, str]]:
    rows = []
    for c in conditions:
        code, title = views.icd10(c)
        status = views.code_in(c.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical")
        severity = views.text(c.get("severity"))
        rows.append({"code": code, "title": title, "note": views.notes(c),
                     "status": ", ".join(x for x in (CLINICAL_STATUS.get(status, status), severity.lower()) if x)})
    return rows


def reports(source: Source, reports: Iterable[Resource]) -> list[dict[str, Any]]:
    out = []
    for r in sorted(reports, key=views.when):
        results = [source.ref(x) for x in r.get("result", [])]
        out.append({"title": views.text(r.get("code")), "when": views.when(r), "issued": r.get("issued", ""),
                    "performer": "; ".join(p.name for p in (views.person(source, x) for x in r.get("performer", []))
                                           if p),
                    "conclusion": r.get("conclusion", ""),
                    "results": [{"name": views.text(o.get("code")), "value": views.value(o),
                                 "range": views.reference_range(o), "flag": views.flag(o)}
                                for o in results if o is not None]})
    return out


def visit(source: Source, encounter: Resource, docref: Resource | None) -> dict[str, Any]:
    """A visit: when, why, the doctor's protocol, vitals with z-scores, diagnoses, prescriptions, orders."""
    ref = f"Encounter/{encounter['id']}"

    def mine(rtype: str) -> list[Resource]:
        return sorted((r for r in source.of(rtype) if (r.get("encounter") or {}).get("reference") == ref),
                      key=views.when)

    observations = mine("Observation")
    in_report = {x.get("reference") for r in mine("DiagnosticReport") for x in r.get("result", [])}
    vital = [o for o in observations if f"Observation/{o['id']}" not in in_report and views.code_in(
        o.get("category", [{}])[0] if o.get("category") else {}, "http://terminology.hl7.org/CodeSystem/observation-category")
        != "laboratory"]
    start = (encounter.get("period") or {}).get("start", "")
    birth = views.birth_date(source.patient)
    class_code = (encounter.get("class") or {}).get("code")
    return {
        "start": start, "kind": views.texts(encounter.get("type")), "age": age_text(birth, day(start)),
        "place": "на дому" if class_code == "HH" else "поликлиника",
        "reason": views.texts(encounter.get("reasonCode")),
        "protocol": without_structured(protocol(docref)) if docref else [],
        "vitals": vitals(source, vital),
        "findings": [{"name": views.text(o.get("code")), "value": views.value(o)} for o in vital
                     if not any(c.get("code") in VITAL_LABELS for c in o.get("code", {}).get("coding", []))],
        "diagnoses": diagnoses(mine("Condition")),
        "prescriptions": [{"name": views.text(m.get("medicationCodeableConcept")), "dosage": views.dosage(m)}
                          for m in mine("MedicationRequest")],
        "orders": [{"name": views.text(s.get("code")), "reason": views.texts(s.get("reasonCode")),
                    "performer": views.text(s.get("performerType")), "when": s.get("occurrenceDateTime", "")}
                   for s in mine("ServiceRequest")],
        "reports": reports(source, mine("DiagnosticReport")),
    }


def protocol(docref: Resource) -> list[str]:
    """The doctor's text, without the heading lines the document itself prints (title, date, doctor)."""
    titles = {str(docref.get("description", "")), *(str(c.get("attachment", {}).get("title", ""))
                                                    for c in docref.get("content", []))}
    paragraphs = views.attachment_paragraphs(docref)
    head = [p for p in paragraphs[:3] if p not in titles and not p.startswith(("Дата:", "Врач", "Медицинская сестра"))]
    return head + paragraphs[3:]


def without_structured(paragraphs: list[str]) -> list[str]:
    """The doctor's text less the lines the document prints from the structured record (diagnoses,
    prescriptions), so the record is the authority and nothing is printed twice."""
    return [p for p in paragraphs if not p.startswith(("Диагноз:", "Назначения:"))]


# --- vaccinations -------------------------------------------------------------------------------


def _diseases(immunization: Resource) -> set[str]:
    return {c.get("code") for p in immunization.get("protocolApplied", []) for d in p.get("targetDisease", [])
            for c in d.get("coding", []) if c.get("code")}


def _reaction(imm: Resource, source: Source) -> str:
    parts = []
    for r in imm.get("reaction", []):
        detail = source.ref(r.get("detail"))
        parts.append(views.text(detail.get("code")) if detail else str((r.get("detail") or {}).get("display", "")))
    return "; ".join(p for p in parts if p) or views.notes(imm)


def vaccination_rows(source: Source, imms: Iterable[Resource]) -> list[dict[str, Any]]:
    birth = views.birth_date(source.patient)
    names = {d.snomed: d.name_ru for cal in rules.calendars().versions for d in cal.diseases.values()}
    rows = []
    for imm in sorted(imms, key=views.when):
        doses = [str(p["doseNumberPositiveInt"]) for p in imm.get("protocolApplied", [])
                 if "doseNumberPositiveInt" in p]
        rows.append({"date": views.when(imm), "age": age_text(birth, day(views.when(imm))),
                     "vaccine": views.text(imm.get("vaccineCode")),
                     "diseases": ", ".join(sorted(names.get(d, d) for d in _diseases(imm))),
                     "dose": ", ".join(doses) or views.quantity(imm.get("doseQuantity")),
                     "lot": imm.get("lotNumber", ""), "reaction": _reaction(imm, source)})
    return rows


def vaccinations(source: Source, on: date) -> dict[str, Any]:
    """Form 156/у-93: every vaccination by the form's sections, exemptions and refusals, the forecast."""
    given = [i for i in source.of("Immunization") if i.get("status") == "completed"]
    groups = []
    placed: set[str] = set()
    for title, diseases in VACCINATION_GROUPS:
        mine = [i for i in given if _diseases(i) & set(diseases)]
        placed.update(i["id"] for i in mine)
        groups.append({"title": title, "rows": vaccination_rows(source, mine)})
    others = [i for i in given if i["id"] not in placed]
    if others:
        groups.append({"title": "Другие прививки", "rows": vaccination_rows(source, others)})
    not_done = [{"date": views.when(i), "vaccine": views.text(i.get("vaccineCode")),
                 "reason": views.text(i.get("statusReason")),
                 "until": next((e.get("valueDate") for e in i.get("extension", [])
                                if e.get("url") == facts.EXEMPTION_UNTIL), "")}
                for i in sorted(source.of("Immunization"), key=views.when) if i.get("status") == "not-done"]
    return {"groups": groups, "not_done": not_done, **forecast(source, on)}


def forecast(source: Source, on: date) -> dict[str, Any]:
    patient = facts.patient_from(source.patient)
    if isinstance(patient, str) or patient.sex not in ("male", "female"):
        return {"forecast": [], "calendar": "", "on": on}
    found = facts.immunizations_from(source.of("Immunization"), source.of("Flag"))
    child_ = facts.child_from(patient, found)
    items = immunization.forecast(child_, found.events, on)
    rows = [{"disease": f.disease.name_ru, "dose": f"{f.dose_number}-я" if f.dose_number else "",
             "due": f.dates.due if f.dates else None, "status": STATUS_RU.get(f.status, f.status)}
            for f in items if f.status != "complete"]
    calendar = next((f.calendar for f in items if f.calendar), "")
    return {"forecast": rows, "calendar": f"приказ {calendar}" if calendar else "", "on": on}


# --- certificates and extracts ------------------------------------------------------------------

OBSERVATION = "urn:medcard:code-system:observation"
GROUP_TEXT = {"main": "основная", "preparatory": "подготовительная", "special-a": "специальная «А»",
              "special-b": "специальная «Б»"}
_CONCLUSION_WORDS = ("противопоказан", "может посещать", "допущен", "годен", "не годен")


def latest_group(source: Source, code: str) -> str:
    """The latest health group (I-V) or physical-education group recorded, in words."""
    found = sorted((o for o in source.of("Observation") if views.code_in(o.get("code"), OBSERVATION) == code),
                   key=views.when)
    if not found:
        return ""
    concept = found[-1].get("valueCodeableConcept") or {}
    value = next((str(c.get("code")) for c in concept.get("coding", []) if c.get("code")), views.text(concept))
    return GROUP_TEXT.get(value, value)


def problems(source: Source) -> tuple[list[str], list[str]]:
    """(chronic and active problems, past illnesses) as "CODE title", distinct, in order of onset."""
    chronic: list[str] = []
    past: list[str] = []
    for c in sorted(source.of("Condition"), key=views.when):
        code, title = views.icd10(c)
        label = f"{code} {title}".strip()
        status = views.code_in(c.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical")
        listed = any(views.code_in(x, "http://terminology.hl7.org/CodeSystem/condition-category") == "problem-list-item"
                     for x in c.get("category", []))
        target = chronic if listed and status in ("active", "recurrence", "relapse", "remission") else past
        if label and label not in target:
            target.append(label)
    return chronic, [p for p in past if p not in chronic]


def allergies(source: Source) -> str:
    active = [views.text(a.get("code")) for a in source.of("AllergyIntolerance")
              if views.code_in(a.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical")
              != "resolved"]
    return "; ".join(a for a in active if a) or "не выявлены"


def vaccination_summary(source: Source, on: date) -> str:
    rows = forecast(source, on)["forecast"]
    late = [r["disease"] for r in rows if r["status"] == "просрочена"]
    if late:
        names = ", ".join(d[:1].lower() + d[1:] for d in late)
        return f"Не выполнены в срок прививки против: {names} (сведения в сертификате ф. 156/у-93)"
    return "Привит(а) по возрасту в соответствии с национальным календарём (сведения в сертификате ф. 156/у-93)"


def conclusion(source: Source, docref: Resource, kind: str) -> str:
    """The doctor's conclusion: the sentence of the certificate's text that says it, else from the health group."""
    for line in reversed(views.attachment_paragraphs(docref)):
        if any(word in line.lower() for word in _CONCLUSION_WORDS):
            return line
    pe = latest_group(source, "pe-group")
    if kind == "certificate-sports":
        return f"Допущен(а) к занятиям физической культурой в {pe} группе." if pe else ""
    return "Противопоказаний не выявлено." if latest_group(source, "health-group") in ("I", "II") else ""


def certificate(source: Source, docref: Resource, kind: str, clinic: views.Clinic, on: date) -> dict[str, Any]:
    """The fields of a certificate (domain.md §3): 086/у's eight items, 026/у-2000's general data, sports."""
    c = child(source)
    chronic, past = problems(source)
    purpose = str(docref.get("description") or "")
    issued = day(str(docref.get("date", ""))) or on
    items: list[tuple[str, str]] = [("Фамилия, имя, отчество", c.name),
                                    ("Дата рождения", c.birth_date.strftime("%d.%m.%Y") if c.birth_date else ""),
                                    ("Пол", c.sex), ("Адрес места жительства", c.address),
                                    ("Медицинская организация", f"{clinic.name}, {clinic.address}".strip(", "))]
    if kind == "certificate-086":
        items.insert(0, ("Место предъявления", _destination(purpose)))
    elif kind == "certificate" and purpose:
        items.insert(0, ("Цель выдачи", purpose))
    items += [("Профилактические прививки", vaccination_summary(source, on)),
              ("Перенесённые заболевания", "; ".join(past[-8:]) or "нет"),
              ("Хронические заболевания", "; ".join(chronic) or "нет"),
              ("Аллергические реакции", allergies(source)),
              ("Группа здоровья", latest_group(source, "health-group")),
              ("Физкультурная группа", latest_group(source, "pe-group"))]
    return {"items": items, "issued_on": issued, "conclusion": conclusion(source, docref, kind), "text": []}


def _destination(purpose: str) -> str:
    lowered = purpose.lower()
    for word in ("для ", "в "):
        if word in lowered and "086" not in purpose[lowered.index(word):]:
            return purpose[lowered.index(word):]
    return "по месту требования"


def visit_summary(source: Source, encounter: Resource) -> dict[str, Any]:
    """One line of a list of visits: when, what, who, the diagnoses."""
    ref = f"Encounter/{encounter['id']}"
    conditions = [c for c in source.of("Condition") if (c.get("encounter") or {}).get("reference") == ref]
    doctor = next((p for p in (views.person(source, x.get("individual")) for x in encounter.get("participant", []))
                   if p), None)
    return {"start": (encounter.get("period") or {}).get("start", ""), "kind": views.texts(encounter.get("type")),
            "doctor": f"{doctor.title} {doctor.name}".strip() if doctor else "",
            "reason": views.texts(encounter.get("reasonCode")),
            "diagnoses": "; ".join(" ".join(views.icd10(c)).strip() for c in conditions)}


def extract(source: Source, on: date, visits: int, results: int) -> dict[str, Any]:
    chronic, past = problems(source)
    held = [e for e in source.of("Encounter") if e.get("status") == "finished"]
    last_visits = sorted(held, key=views.when)[-visits:]
    last_reports = sorted(source.of("DiagnosticReport"), key=views.when)[-results:]
    return {"chronic": chronic, "past": past[-15:], "allergies": allergies(source),
            "health_group": latest_group(source, "health-group"), "pe_group": latest_group(source, "pe-group"),
            "vaccinations": vaccination_rows(source, [i for i in source.of("Immunization")
                                                      if i.get("status") == "completed"]),
            "visits": [visit_summary(source, e) for e in reversed(last_visits)],
            "reports": reports(source, last_reports), **forecast(source, on)}
