"""The worklist's derived table: its periods agree with the forecast day by day, it keeps one row per
child and disease, the worklist answers as the forecast does on a synthetic city, migration 0013
converts the old rows both ways, and every entry point that writes keeps the table."""

from __future__ import annotations

import ast
import asyncio
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg
import pytest
from alembic import command
from alembic.config import Config

from medcard.core import migrate
from medcard.core.db import Database
from medcard.fhir import derived
from medcard.fhir.bulk.importer import Importer
from medcard.pediatrics import record, rules, vaccination_due
from medcard.pediatrics.immunization import Child, ImmunizationEvent, forecast
from medcard.pediatrics.vaccination_due import child_periods, holders, overdue_periods, rows_for
from medcard.synth import CitySize, write_ndjson

DISEASES = sorted({d for cal in rules.calendars().versions for d in cal.diseases})
GROUPS = ("hepb-risk", "polio-ipv-only", "tb-bcg")
TODAY = date(2026, 11, 26)
FLU, HEPB, MMR, HIB = "6142004", "66071002", "14189004", "709410003"
SRC = Path(__file__).resolve().parents[2] / "src" / "medcard"
Resource = dict[str, Any]


def random_history(rng: random.Random) -> tuple[Child, list[ImmunizationEvent]]:
    birth = date(2008, 1, 1) + timedelta(days=rng.randrange(365 * 18))
    groups = frozenset(g for g in GROUPS if rng.random() < 0.15)
    child = Child(birth, rng.choice(("male", "female")), groups)
    events = []
    for _ in range(rng.randrange(0, 25)):
        day = birth + timedelta(days=rng.randrange(0, 365 * 10))
        diseases = frozenset(rng.sample(DISEASES, rng.choice((1, 1, 3, 5))))
        kind = rng.random()
        if kind < 0.8:
            events.append(ImmunizationEvent(day, diseases))
        elif kind < 0.9:
            events.append(ImmunizationEvent(day, diseases, "not-done", reason="refusal"))
        else:
            until = None if rng.random() < 0.3 else day + timedelta(days=rng.randrange(1, 400))
            events.append(ImmunizationEvent(day, diseases, "not-done", reason="medical-exemption",
                                            exemption_until=until))
    return child, events


def test_periods_say_overdue_exactly_when_the_forecast_does() -> None:
    rng = random.Random(6)
    for _ in range(25):
        child, events = random_history(rng)
        periods = overdue_periods(child, events)
        end = child.birth_date + timedelta(days=365 * 17)
        for _ in range(40):
            day = child.birth_date + timedelta(days=rng.randrange((end - child.birth_date).days))
            expected = {f.disease.snomed for f in forecast(child, events, day) if f.status == "overdue"}
            found = {p.disease for p in periods if p.start <= day < p.end}
            assert found == expected, (child, day)


def test_periods_agree_with_the_forecast_on_every_day_around_month_ends_and_leap_days() -> None:
    """Births on 29 February and at month ends, where calendar arithmetic clips days (the yearly
    influenza dose rolls over from the clipped dates): every day of the first three years, and the
    days around each birthday to 17."""
    rng = random.Random(11)
    for birth in (date(2016, 2, 29), date(2015, 1, 31), date(2019, 8, 31), date(2020, 12, 31)):
        for with_events in (False, True):
            events = []
            if with_events:
                events = [ImmunizationEvent(birth + timedelta(days=rng.randrange(0, 900)),
                                            frozenset(rng.sample(DISEASES, 2))) for _ in range(6)]
            child = Child(birth, "female")
            periods = overdue_periods(child, events)
            days = [birth + timedelta(days=n) for n in range(3 * 366)]
            days += [rules.Duration(years=age, months=months).after(birth) + timedelta(days=shift)
                     for age in range(3, 17) for months in (0, 6) for shift in (-1, 0, 1)]
            for day in days:
                expected = {f.disease.snomed for f in forecast(child, events, day) if f.status == "overdue"}
                found = {p.disease for p in periods if p.start <= day < p.end}
                assert found == expected, (birth, with_events, day)


def test_a_child_is_listed_under_the_clinic_and_the_district_pediatrician() -> None:
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "2026-08-01", "gender": "female",
               "managingOrganization": {"reference": "Organization/o1"},
               "generalPractitioner": [{"reference": "PractitionerRole/r1"}]}
    assert holders(patient) == ["Organization/o1", "PractitionerRole/r1"]
    child = child_periods(patient, [], [])
    assert child.holders == ("Organization/o1", "PractitionerRole/r1")
    assert child.periods
    assert child_periods({**patient, "birthDate": "2026"}, [], []).periods == ()
    assert child_periods({**patient, "managingOrganization": None, "generalPractitioner": []}, [], []).periods == ()


def test_a_disease_keeps_all_its_periods_in_one_row_with_their_details_by_start() -> None:
    """Influenza is overdue half of every year to 18: seventeen periods, one row, each period's due
    date kept beside its start."""
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "2010-03-05", "gender": "female",
               "managingOrganization": {"reference": "Organization/o1"}}
    child = child_periods(patient, [], [])
    rows = {row[1]: row for row in rows_for(child)}
    assert len(rows) == len({p.disease for p in child.periods})
    flu = [p for p in child.periods if p.disease == FLU]
    assert len(flu) == 17
    _, _, ranges, details, doses = rows[FLU]
    assert ranges.count("[") == 17
    assert details.startswith(f"{{{{{flu[0].start},{flu[0].earliest},{flu[0].due},{flu[0].overdue}}},")
    assert doses == "{" + ",".join(["1"] * 17) + "}"


# --- The table in the store -----------------------------------------------------------------------------


def _import(url: str, folder: Path, types: tuple[str, ...]) -> None:
    async def go() -> None:
        db = Database(url, min_size=1, max_size=3)
        await db.open()
        try:
            files = [folder / f"{t}.ndjson" for t in types if (folder / f"{t}.ndjson").exists()]
            report = await Importer(db, on_error="stop", jobs=1).run(files)
            assert not report.problems, report.problems[:3]
        finally:
            await db.close()

    asyncio.run(go())


def _resources(folder: Path, rtype: str) -> list[Resource]:
    path = folder / f"{rtype}.ndjson"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() else []


def test_a_demographic_only_child_has_a_row_per_disease_not_per_period_or_holder(database_url: str,
                                                                                 tmp_path: Path) -> None:
    """Item 11 of issue 14: 52,000 demographic-only patients took 2.9 million rows (56 a child: 28
    periods to 18, most of them future influenza doses, times the clinic and the district). The rows
    of a child are bounded by its overdue periods and do not multiply by its holders."""
    write_ndjson(tmp_path, 3, CitySize(children=0, clinics=2, demographic=60), TODAY)
    _import(database_url, tmp_path, ("Organization", "PractitionerRole", "Patient"))
    with psycopg.connect(database_url) as conn:
        stored = dict(conn.execute("SELECT patient_id, count(*) FROM vaccination_due GROUP BY 1").fetchall())
    patients = _resources(tmp_path, "Patient")
    assert len(stored) == len(patients) == 60
    for patient in patients:
        assert len(holders(patient)) == 2  # the clinic and the district pediatrician
        facts = record.patient_from(patient)
        assert not isinstance(facts, str)
        periods = overdue_periods(Child(facts.birth_date, facts.sex), ())
        assert len(periods) >= 20  # the yearly influenza dose to 18, and one period for each other disease
        assert stored[patient["id"]] == len({p.disease for p in periods}) <= len(DISEASES)
        assert stored[patient["id"]] <= len(periods)


@pytest.fixture
def city(database_url: str, tmp_path: Path) -> Path:
    """A synthetic city's children (full histories and demographic-only) imported with their holders."""
    write_ndjson(tmp_path, 5, CitySize(children=14, clinics=2, demographic=40), TODAY)
    _import(database_url, tmp_path, ("Organization", "PractitionerRole", "Patient", "Immunization", "Flag"))
    return tmp_path


Listed = list[tuple[str, list[tuple[str, int | None, date, date, date]]]]


def _expected(children: list[tuple[Resource, Child, list[ImmunizationEvent]]], wanted: list[str], on: date,
              diseases: list[str] | None) -> Listed:
    """The worklist the direct way: the forecast of every child of the holders on the date (to 18)."""
    out: Listed = []
    for patient, child, events in children:
        if not set(wanted) <= set(holders(patient)) or on >= rules.Duration(years=18).after(child.birth_date):
            continue
        due = sorted((f.dates.overdue, f.disease.snomed, f.dose_number, f.dates.earliest, f.dates.due)
                     for f in forecast(child, events, on) if f.status == "overdue" and f.dates is not None
                     and (not diseases or f.disease.snomed in diseases))
        if due:
            out.append((patient["id"], [(d, n, e, u, o) for o, d, n, e, u in due]))
    return sorted(out)


async def _listed(url: str, holder: str, on: date, organization: str | None,
                  diseases: list[str] | None) -> tuple[int, Listed]:
    """Every page of the worklist, and the total its first page gave."""
    out: Listed = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        total, after = None, ""
        while True:
            n, page = await vaccination_due.worklist(conn, holder, on, organization=organization,
                                                     diseases=diseases, after=after, count=7)
            total = n if total is None else total
            out += [(c.patient_id, [(o.disease, o.dose_number, o.earliest, o.due, o.overdue) for o in c.overdue])
                    for c in page]
            if len(page) < 7:
                return total, out
            after = page[-1].patient_id


def test_the_worklist_answers_as_the_forecast_on_any_day_for_any_holder(database_url: str, city: Path) -> None:
    patients = _resources(city, "Patient")
    imms, flags = _resources(city, "Immunization"), _resources(city, "Flag")
    children = []
    for patient in patients:
        ref = f"Patient/{patient['id']}"
        found = record.immunizations_from([r for r in imms if r["patient"]["reference"] == ref],
                                          [f for f in flags if f["subject"]["reference"] == ref])
        facts = record.patient_from(patient)
        assert not isinstance(facts, str)
        children.append((patient, record.child_from(facts, found), list(found.events)))
    orgs = [f"Organization/{o['id']}" for o in _resources(city, "Organization")]
    roles = [(f"PractitionerRole/{r['id']}", r["organization"]["reference"])
             for r in _resources(city, "PractitionerRole")]
    assert sum(1 for _, _, events in children if events) >= 10  # full histories among them
    cases: list[tuple[str, str | None]] = [(o, None) for o in orgs] + [(r, None) for r, _ in roles[::3]]
    cases += [(r, o.split("/")[1]) for r, o in roles[1::4]] + [(roles[0][0], orgs[-1].split("/")[1])]
    days = [date(2008, 5, 17) + timedelta(days=331 * n) for n in range(25)] + [TODAY, date(2028, 2, 29)]
    listed_somewhere = 0
    for holder, org in cases:
        for n, on in enumerate(days):
            diseases = (None, [d for d in DISEASES if d != FLU], [HEPB, MMR])[n % 3]
            wanted = [holder, *([f"Organization/{org}"] if org else [])]
            expected = _expected(children, wanted, on, diseases)
            total, found = asyncio.run(_listed(database_url, holder, on, org, diseases))
            assert (total, found) == (len(expected), expected), (holder, org, on, diseases)
            listed_somewhere += len(found)
    assert listed_somewhere > 500


def test_medcard_synth_straight_into_the_store_keeps_the_worklist(database_url: str, tmp_path: Path) -> None:
    """A write path without the server: the command line installs the derived tables itself (a new
    interpreter, so nothing the tests set up helps it)."""
    env = {"MEDCARD_HOME": str(tmp_path), "MEDCARD_DATABASE_URL": database_url, "MEDCARD_LOG_LEVEL": "warning",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "medcard.cli", "synth", "--children", "0", "--demographic", "25",
                          "--today", TODAY.isoformat()], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    with psycopg.connect(database_url) as conn:
        patients = conn.execute("SELECT count(*) FROM resource WHERE resource_type = 'Patient'").fetchone()
        kept = conn.execute("SELECT count(DISTINCT patient_id) FROM vaccination_due").fetchone()
        clinic = conn.execute("SELECT id FROM resource WHERE resource_type = 'Organization' LIMIT 1").fetchone()
    assert patients == kept == (25,)
    assert clinic is not None

    async def listed() -> int:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return (await vaccination_due.worklist(conn, f"Organization/{clinic[0]}", TODAY))[0]

    assert asyncio.run(listed()) > 0


def test_the_store_imports_no_domain_and_refuses_to_write_without_its_derived_tables() -> None:
    """Imports run one way (domain -> store): the pediatrics domain hands its table to the store."""
    for module in ("fhir/derived.py", "fhir/store.py"):
        tree = ast.parse((SRC / module).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m.startswith("medcard.pediatrics")}, module
    saved = derived.registry()
    derived._installed = None  # as in a process whose entry point forgot medcard.domains.install()
    try:
        with pytest.raises(RuntimeError, match="no derived tables installed"):
            derived.registry()
    finally:
        derived.install(saved)
    assert [d.name for d in derived.registry()] == ["vaccination_due"]


# --- Migration 0013 --------------------------------------------------------------------------------------


@pytest.fixture
def scratch_database(database_url: str) -> Iterator[str]:
    name = f"medcard_worklist_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.errors.InsufficientPrivilege:
        pytest.skip("the test database's role may not create databases")
    parts = urlsplit(database_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _downgrade(url: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    config.set_main_option("sqlalchemy.url", migrate.sqlalchemy_url(url).replace("%", "%%"))
    command.downgrade(config, revision)


_NEW_ROWS = ("SELECT v.patient_id, v.disease, ARRAY(SELECT h.holder FROM vaccination_due_holder h "
             "WHERE h.id = ANY(v.holders) ORDER BY 1), v.overdue_during::text, v.periods::text, v.dose_numbers::text "
             "FROM vaccination_due v ORDER BY 1, 2")
_OLD_ROWS = ("SELECT patient_id, holder, organization_id, disease, dose_number, earliest, due, overdue, "
             "overdue_during::text, holder_key FROM vaccination_due ORDER BY 1, 2, 4, 9")


def _old_rows(child: vaccination_due.ChildPeriods) -> list[tuple[Any, ...]]:
    """A child's rows as the table held them before migration 0013: one per holder and period."""
    org = next((h.split("/", 1)[1] for h in child.holders if h.startswith("Organization/")), None)
    return [(child.patient_id, holder, org, p.disease, p.dose_number, p.earliest, p.due, p.overdue,
             f"[{p.start},{p.end})") for holder in child.holders for p in child.periods]


def test_migration_0013_converts_the_rows_of_a_store_and_back(scratch_database: str) -> None:
    url = scratch_database
    migrate.upgrade(url, "0004")
    shot = {"resourceType": "Immunization", "status": "completed", "vaccineCode": {"text": "Вакцина"},
            "protocolApplied": [{"targetDisease": [{"coding": [{"system": "http://snomed.info/sct", "code": HEPB}]}]}]}
    kids = [{"resourceType": "Patient", "id": f"k{i}", "gender": "female", "birthDate": f"{2009 + i}-0{1 + i}-1{i}",
             "managingOrganization": {"reference": "Organization/o1"},
             "generalPractitioner": [{"reference": f"PractitionerRole/r{i % 2}"}, {"reference": "Organization/o2"}]}
            for i in range(4)]
    shots = [{**shot, "id": f"s{i}", "patient": {"reference": "Patient/k1"}, "occurrenceDateTime": day}
             for i, day in enumerate(("2010-02-11", "2010-06-20", "2011-09-01"))]
    with psycopg.connect(url) as conn:
        for r in [*kids, *shots]:
            pid = r["id"] if r["resourceType"] == "Patient" else "k1"
            conn.execute("INSERT INTO resource (resource_type, id, version_id, last_updated, patient_id, content) "
                         "VALUES (%s, %s, 1, now(), %s, %s)",
                         (r["resourceType"], r["id"], pid, orjson.dumps(r).decode()))
    migrate.upgrade(url, "0010")
    children = [child_periods(k, shots if k["id"] == "k1" else [], []) for k in kids]
    with psycopg.connect(url) as conn:  # the table in its old form: one row per period and holder
        assert conn.execute("SELECT count(*) FROM vaccination_due").fetchone() == (0,)  # 0005 leaves it empty
        conn.cursor().executemany(
            "INSERT INTO vaccination_due (patient_id, holder, organization_id, disease, dose_number, earliest, due, "
            "overdue, overdue_during) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::daterange)",
            [row for c in children for row in _old_rows(c)])
        old = conn.execute(_OLD_ROWS).fetchall()
    assert len(old) > 4 * 3 * 20

    migrate.upgrade(url, "0013")
    with psycopg.connect(url) as conn:
        converted = conn.execute(_NEW_ROWS).fetchall()
    expected = sorted((c.patient_id, row[1], sorted(c.holders), *row[2:]) for c in children for row in rows_for(c))
    assert converted == expected
    assert any(r[0] == "k1" and r[1] == HEPB and r[5] == "{2,3}" for r in converted)  # two late doses

    _downgrade(url, "0010")
    with psycopg.connect(url) as conn:
        assert conn.execute(_OLD_ROWS).fetchall() == old
        assert conn.execute("SELECT to_regclass('vaccination_due_holder')").fetchone() == (None,)


# --- Migration 0019: the rule data changed (issue 18) ----------------------------------------------------


def test_migration_0019_asks_for_the_rebuild_that_takes_a_late_hib_starter_off_the_worklist(
        scratch_database: str, caplog: pytest.LogCaptureFixture) -> None:
    url = scratch_database
    migrate.upgrade(url, "0013")
    kid = {"resourceType": "Patient", "id": "late-hib", "gender": "male", "birthDate": "2024-03-10",
           "managingOrganization": {"reference": "Organization/o1"}}
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO resource (resource_type, id, version_id, last_updated, patient_id, content) "
                     "VALUES ('Patient', 'late-hib', 1, now(), 'late-hib', %s)", (orjson.dumps(kid).decode(),))
        # the row the old rules stored: the first Hib dose overdue from 4 months until 5 years
        holder = conn.execute("INSERT INTO vaccination_due_holder (holder) VALUES ('Organization/o1') "
                              "RETURNING id").fetchone()
        assert holder is not None
        conn.execute("INSERT INTO vaccination_due (patient_id, disease, holders, overdue_during, periods, "
                     "dose_numbers) VALUES ('late-hib', %s, %s, '{[2024-07-10,2029-03-10)}', "
                     "'{{2024-07-10,2024-06-10,2024-06-10,2024-07-10}}', '{1}')", (HIB, [holder[0]]))
    with caplog.at_level("WARNING", logger="alembic.runtime.migration"):
        migrate.upgrade(url, "0019")
    assert "run `medcard db rebuild-derived`" in caplog.text

    async def rebuild() -> None:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await vaccination_due.rebuild(conn)

    asyncio.run(rebuild())
    with psycopg.connect(url) as conn:
        during = conn.execute("SELECT overdue_during::text FROM vaccination_due WHERE patient_id = 'late-hib' "
                              "AND disease = %s", (HIB,)).fetchone()
    # from 13 months (10.04.2025) a first Hib dose is not given: off the worklist from that day
    assert during == ("{[2024-07-10,2025-04-10)}",)
