"""Illness in a synthetic child's life: acute illnesses by season, referrals and consultations,
chronic conditions under dispensary observation with their care plan, and allergies.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from medcard.synth import texts
from medcard.synth.clinics import ROLES
from medcard.synth.fhirdata import (
    CONSULT_NOTE,
    CONSULTATION,
    DISPENSARY,
    ENCOUNTER_DIAGNOSIS,
    EXAM,
    FOLLOW_UP,
    HBA1C,
    HOME_CALL,
    LABORATORY,
    PEAK_FLOW,
    PROBLEM_LIST,
    PROGRESS_NOTE,
    REFERRAL,
    SICK_VISIT,
    SPECIALIST,
    TEMPERATURE,
    VITAL,
    Resource,
    at,
    days_text,
    quantity,
    ru,
    ru_date,
    status,
)
from medcard.synth.illnesses import (
    ALLERGENS,
    ANTIBIOTICS,
    CHRONIC,
    DRUGS,
    ILLNESS_SEASON,
    ILLNESSES,
    JAUNDICE,
    SEASONS,
    Allergen,
    Chronic,
    Illness,
)
from medcard.synth.labs import lab_report
from medcard.synth.record import Record

COVID_FROM = date(2020, 3, 15)


def _by_age(table: tuple[tuple[float, tuple[str, ...]], ...], age: float) -> tuple[str, ...]:
    for limit, values in table:
        if age < limit:
            return values
    return table[-1][1]


def illnesses_per_year(age: int) -> tuple[int, int]:
    """How many acute illnesses reach the polyclinic in a year of life."""
    if age == 0:
        return 1, 3
    if age <= 6:
        return 3, 5
    return (2, 3) if age <= 12 else (1, 3)


def plan_illnesses(record: Record, start: date) -> list[tuple[date, Illness]]:
    """Acute illnesses from ``start`` to today, each on a day drawn by its season."""
    rng, out, had_chickenpox, year = record.rng, [], False, 0
    if rng.random() < 0.12 and record.birth >= start:
        out.append((record.birth + timedelta(days=rng.randint(4, 9)), JAUNDICE))
    while (begin := record.after_birth(year)) < record.today:
        end = min(record.after_birth(year + 1), record.today)
        if end > start:
            begin = max(begin, start)
            count = round(rng.randint(*illnesses_per_year(year)) * (end - begin).days / 365.25)
            for _ in range(count):
                day = record.open_day(begin + timedelta(days=int(rng.random() * max(1, (end - begin).days))))
                illness = _pick(record, day, had_chickenpox)
                if illness is None or day > record.today:
                    continue
                had_chickenpox |= illness.code == "B01.9"
                out.append((day, illness))
        year += 1
    return out


def _pick(record: Record, day: date, had_chickenpox: bool) -> Illness | None:
    """An illness for the day, weighted by how common it is and by its season."""
    age = record.age(day)
    candidates = [i for i in ILLNESSES if i.ages[0] <= age < i.ages[1] and (i.code != "U07.1" or day >= COVID_FROM)
                  and (i.code != "B01.9" or not had_chickenpox)]
    if not candidates:
        return None
    weights = [i.weight * SEASONS[ILLNESS_SEASON.get(i.code, "respiratory")][day.month - 1] for i in candidates]
    return record.rng.choices(candidates, weights)[0]


def acute_illness(record: Record, day: date, ill: Illness) -> Iterator[Resource]:
    """A sick visit (or home call): temperature, the diagnosis, prescriptions, maybe tests and a referral, a note."""
    rng = record.rng
    record.illness_count += 1
    who = record.doctor if rng.random() < 0.75 else record.clinic.pick(rng, "pediatrician")
    home = ill.fever is not None and record.age(day) < 7 and rng.random() < 0.35
    minute = rng.randint(600, 1020) if home else record.minute()
    temperature = round(rng.uniform(*ill.fever), 1) if ill.fever else round(rng.uniform(36.3, 36.9), 1)
    sick_days = rng.randint(1, 3)
    complaint = _complaint(record, ill, temperature)
    enc = record.encounter(day, minute, who, HOME_CALL if home else SICK_VISIT, complaint, home=home)
    ref = f"Encounter/{enc['id']}"
    yield enc
    yield record.observation(ref, at(day, minute + 3), who, VITAL, TEMPERATURE,
                             ("valueQuantity", quantity(temperature, "°C", "Cel")))
    recovery = day + timedelta(days=rng.randint(5, 12))
    context = rng.choice(_by_age(texts.CONTEXTS, record.age(day)))
    note = f"{context} {rng.choice(texts.COURSES)}"
    condition = record.condition(ref, day, minute, who, ill.code, ill.display, onset=day - timedelta(days=sick_days),
                                 resolved=recovery if recovery <= record.today else None, note=note,
                                 category=ENCOUNTER_DIAGNOSIS, severity=rng.choice(("mild", "mild", "moderate")))
    yield condition
    drugs = _drugs(record, ill, day, temperature)
    for key in drugs:
        yield record.prescription(ref, f"Condition/{condition['id']}", day, minute, who, key, recovery > record.today)
    if ill.test == "ua":
        yield from lab_report(record, ref, day, "urinalysis", state="infection")
    elif ill.test == "cbc" and rng.random() < 0.25:
        yield from lab_report(record, ref, day, "cbc", state="bacterial" if ill.kind == "bacterial" else "viral")
    if ill.refer and rng.random() < 0.5:
        yield from referral(record, ref, day, who, ill.refer, f"{ill.code} {ill.display}")
    lines = [complaint + ".", f"Анамнез заболевания: болеет {days_text(sick_days)}. {context}",
             f"Объективно: температура тела {ru(temperature)} °C. {'. '.join(ill.findings)}.",
             f"Диагноз: {ill.code} {ill.display}.",
             f"Назначения: {'; '.join(DRUGS[k].text for k in drugs) or 'без медикаментозной терапии'}.",
             f"Рекомендации: {'; '.join(rng.sample(_by_age(texts.ILLNESS_ADVICE, record.age(day)), 2))}."]
    yield record.document(ref, day, minute, who, "Протокол приёма врача-педиатра по заболеванию", PROGRESS_NOTE,
                          lines)
    if recovery <= record.today and rng.random() < 0.35:
        yield from _follow_up(record, record.open_day(recovery), ill, who)


def _complaint(record: Record, ill: Illness, temperature: float) -> str:
    rng = record.rng
    picks = rng.sample(ill.symptoms, min(len(ill.symptoms), rng.randint(2, 3)))
    if temperature >= 37.1:
        picks.insert(rng.randint(0, len(picks)), f"повышение температуры до {ru(temperature)} °C")
    listed = f"{', '.join(picks[:-1])} и {picks[-1]}" if len(picks) > 1 else picks[0]
    return f"Жалобы на {listed}"


def _drugs(record: Record, ill: Illness, day: date, temperature: float) -> list[str]:
    age, out = record.age(day), []
    for key in ill.drugs:
        if key == "antipyretic":
            if temperature < 38.0:
                continue
            key = "ibuprofen" if age >= 0.25 and record.rng.random() < 0.4 else "paracetamol"
        elif key == "nose":
            key = "xylometazoline" if age >= 2 else "oxymetazoline"
        elif key == "antibiotic":
            key = ANTIBIOTICS[ill.code]
            if key.startswith("amoxi") and record.no_penicillin and day >= record.no_penicillin:
                key = "azithromycin"
        if age >= DRUGS[key].min_age:
            out.append(key)
    return out


def _follow_up(record: Record, day: date, ill: Illness, who: object) -> Iterator[Resource]:
    minute, doctor = record.minute(), record.doctor
    enc = record.encounter(day, minute, doctor, FOLLOW_UP, f"Повторный осмотр: {ill.display}")
    ref = f"Encounter/{enc['id']}"
    yield enc
    age = record.age(day)
    place = "детский сад" if 3 <= age < 7 else "школу" if age >= 7 else ""
    back = f" Может посещать {place} с {ru_date(day + timedelta(days=1))}." if place else ""
    lines = ["Жалоб нет. Состояние удовлетворительное, температура тела нормальная.",
             f"Диагноз: {ill.code} {ill.display}, выздоровление.{back}"]
    yield record.document(ref, day, minute, doctor, "Протокол повторного приёма врача-педиатра", PROGRESS_NOTE, lines)


def referral(record: Record, encounter: str, day: date, who: object, role: str, reason: str) -> Iterator[Resource]:
    """A ServiceRequest to a specialist and, once its day has come, the consultation with its protocol."""
    rng, doctor = record.rng, record.doctor
    specialist, spec = record.clinic.pick(rng, role), ROLES[role]
    when = record.open_day(day + timedelta(days=rng.randint(1, 21)))
    done = when <= record.today and rng.random() < 0.93  # a few referrals are never used
    request: Resource = {
        "resourceType": "ServiceRequest", "id": record.new_id(), "status": "completed" if done else "active",
        "intent": "order", "category": REFERRAL, "priority": "routine",
        "code": {"text": f"Консультация {spec.genitive}"}, "subject": {"reference": record.patient},
        "encounter": {"reference": encounter}, "occurrenceDateTime": when.isoformat(),
        "authoredOn": at(day, record.minute()), "requester": {"reference": doctor.ref},
        "performerType": {"coding": [{"system": SPECIALIST, "code": role}], "text": spec.title},
        "performer": [{"reference": specialist.ref}], "reasonCode": [{"text": reason}],
    }
    yield request
    if not done:
        return
    minute = record.minute()
    visit = record.encounter(when, minute, specialist, CONSULTATION, f"Консультация по направлению: {reason}")
    visit["basedOn"] = [{"reference": f"ServiceRequest/{request['id']}"}]
    yield visit
    options = texts.FINDINGS.get(role, (("Патологии не выявлено", "Здоров"),))
    finding, conclusion = options[0] if rng.random() < 0.6 else rng.choice(options)
    finding = finding.replace("{tooth}", "55")
    conclusion = conclusion.replace("{tooth}", "55")
    advice = "наблюдение педиатра" if finding == options[0][0] else "повторная консультация через 6 месяцев"
    lines = [f"Направление: {reason}.", f"Объективно: {finding}.", f"Заключение: {conclusion}.",
             f"Рекомендации: {advice}."]
    yield record.document(f"Encounter/{visit['id']}", when, minute, specialist,
                          f"Протокол консультации {spec.genitive}", CONSULT_NOTE, lines,
                          related=f"ServiceRequest/{request['id']}")


def plan_chronic(record: Record, start: date) -> list[tuple[date, Chronic, bool]]:
    """Chronic conditions: the diagnosis day, then dispensary visits (the last flagged), from ``start``."""
    rng, out = record.rng, []
    for chronic in CHRONIC:
        if rng.random() >= chronic.chance:
            continue
        onset = record.open_day(max(record.after_birth(rng.uniform(*chronic.onset)), start))
        if onset > record.today:
            continue
        out.append((onset, chronic, True))
        step = 365.25 / chronic.visits
        day = onset + timedelta(days=round(step) + rng.randint(-20, 20))
        while day <= record.today:
            out.append((record.open_day(day), chronic, False))
            day += timedelta(days=round(step) + rng.randint(-20, 20))
    return out


def chronic_visit(record: Record, day: date, chronic: Chronic, first: bool) -> Iterator[Resource]:
    """The diagnosis of a chronic condition with its care plan, or a dispensary visit for it."""
    rng, minute = record.rng, record.minute()
    specialist = record.clinic.pick(rng, chronic.role)
    reason = chronic.presenting if first else f"Диспансерное наблюдение: {chronic.display}"
    enc = record.encounter(day, minute, specialist, CONSULTATION if first else DISPENSARY, reason, length=30)
    ref = f"Encounter/{enc['id']}"
    yield enc
    course = chronic.presenting if first else rng.choice(chronic.course)
    if first:
        record.health_group = "III"
        record.pe_group = "special-a" if chronic.code[:3] in ("J45", "E10", "G40") else "preparatory"
        condition = record.condition(ref, day, minute, specialist, chronic.code, chronic.display,
                                     onset=day - timedelta(days=rng.randint(14, 120)), resolved=None,
                                     note=f"{course}. Взят{record.ending()} на диспансерный учёт.",
                                     category=PROBLEM_LIST)
        record.chronic[chronic.code] = f"Condition/{condition['id']}"
        yield condition
        yield _care_plan(record, day, chronic, specialist.ref, record.chronic[chronic.code])
    reason_ref = record.chronic[chronic.code]
    renew = first or rng.random() < 0.5
    for key in chronic.drugs if renew else ():
        yield record.prescription(ref, reason_ref, day, minute, specialist, key,
                                  day + timedelta(days=DRUGS[key].days) > record.today)
    measured = list(_chronic_tests(record, ref, day, minute, specialist.ref, chronic))
    yield from measured
    lines = [f"{'Жалобы' if first else 'Динамика'}: {course}.", f"Диагноз: {chronic.code} {chronic.display}.",
             *(f"{o['code']['text']}: {ru(o['valueQuantity']['value'])} {o['valueQuantity']['unit']}."
               for o in measured),
             f"Терапия: {'; '.join(DRUGS[k].text for k in chronic.drugs) or 'немедикаментозная'}.",
             f"Следующий осмотр через {12 // chronic.visits} мес."]
    title = "Протокол первичной консультации" if first else "Протокол диспансерного осмотра"
    yield record.document(ref, day, minute, specialist, f"{title} {ROLES[chronic.role].genitive}", CONSULT_NOTE,
                          lines)


def _care_plan(record: Record, day: date, chronic: Chronic, author: str, condition: str) -> Resource:
    role = ROLES[chronic.role]
    return {
        "resourceType": "CarePlan", "id": record.new_id(), "status": "active", "intent": "plan",
        "category": [{"text": "Диспансерное наблюдение"}],
        "title": f"Диспансерное наблюдение: {chronic.display}",
        "subject": {"reference": record.patient}, "period": {"start": day.isoformat()},
        "created": at(day, record.minute()), "author": {"reference": author},
        "addresses": [{"reference": condition}],
        "activity": [{"detail": {
            "kind": "Appointment",
            "code": {"coding": [{"system": SPECIALIST, "code": chronic.role}], "text": f"Осмотр {role.genitive}"},
            "status": "in-progress",
            "scheduledTiming": {"repeat": {"frequency": chronic.visits, "period": 1, "periodUnit": "a"}},
            "performer": [{"reference": author}],
            "description": f"Диспансерный осмотр {role.genitive} {chronic.visits} р. в год",
        }}],
    }


def _chronic_tests(record: Record, encounter: str, day: date, minute: int, who: str,
                   chronic: Chronic) -> Iterator[Resource]:
    rng, when = record.rng, at(day, minute + 5)
    member = record.clinic.pick(rng, chronic.role)
    if chronic.test == "hba1c":
        yield record.observation(encounter, when, member, LABORATORY, HBA1C,
                                 ("valueQuantity", quantity(round(rng.uniform(6.3, 9.5), 1), "%", "%")))
    elif chronic.test == "peak_flow":
        height = record.growth.measure(rng, record.age_days(day)).height_cm
        flow = round(max(120.0, 5 * height - 400) * rng.uniform(0.75, 1.05))
        yield record.observation(encounter, when, member, EXAM, PEAK_FLOW,
                                 ("valueQuantity", quantity(flow, "л/мин", "L/min")))


def plan_allergy(record: Record, start: date) -> list[tuple[date, Allergen]]:
    if record.rng.random() >= 0.15:
        return []
    allergen = record.rng.choice(ALLERGENS)
    day = record.open_day(max(record.after_birth(record.rng.uniform(*allergen.onset)), start))
    return [(day, allergen)] if day <= record.today else []


def allergy(record: Record, day: date, allergen: Allergen) -> Iterator[Resource]:
    rng = record.rng
    if allergen.category == "medication":
        record.no_penicillin = day
    outgrown = allergen.outgrown and record.after_birth(allergen.outgrown) <= record.today
    reaction = rng.choice(allergen.reactions)
    resource: Resource = {
        "resourceType": "AllergyIntolerance", "id": record.new_id(),
        "clinicalStatus": status("allergyintolerance-clinical", "resolved" if outgrown else "active"),
        "verificationStatus": status("allergyintolerance-verification", "confirmed"),
        "type": "allergy", "category": [allergen.category], "criticality": allergen.criticality,
        "code": {"text": allergen.text}, "patient": {"reference": record.patient},
        "onsetDateTime": day.isoformat(), "recordedDate": at(day, record.minute()),
        "recorder": {"reference": record.doctor.ref},
        "reaction": [{"manifestation": [{"text": reaction}],
                      "description": f"{reaction} после контакта с аллергеном ({allergen.text.lower()})",
                      "severity": "moderate" if allergen.criticality == "high" else "mild"}],
    }
    if outgrown:
        resource["note"] = [{"text": f"Толерантность сформировалась к {allergen.outgrown} годам"}]
    yield resource
