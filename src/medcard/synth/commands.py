"""``medcard synth`` and ``medcard demo``: generate the synthetic city, load it, serve it."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import orjson

from medcard.synth.writer import CitySize, Stats, moscow_today, write_ndjson


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _report(stats: Stats, seconds: float) -> None:
    per_year = stats.child_resources / stats.child_years if stats.child_years else 0.0
    per_child = stats.child_resources / stats.children if stats.children else 0.0
    _log(f"{stats.total:,} resources in {seconds:.1f} s ({stats.total / max(seconds, 1e-9):,.0f}/s); "
         f"{per_child:.0f} per full-history child, {per_year:.1f} per year of life")


def generate(out: Path, seed: int, children: int, clinics: int, demographic: int, today: date | None) -> Stats:
    """Write the city as NDJSON files into ``out`` and report what was made."""
    started = time.perf_counter()
    stats = write_ndjson(out, seed, CitySize(children, clinics, demographic), today or moscow_today())
    _report(stats, time.perf_counter() - started)
    return stats


def _generate_and_load(folder: Path, seed: int, children: int, clinics: int, demographic: int,
                       today: date | None) -> int:
    """Generate the city into ``folder`` and import it into the configured store (embedded or external).

    The generator runs in a thread while the embedded PostgreSQL is created, started and migrated
    (a subprocess the main thread only waits for), so a new user does not wait for both in turn.
    """
    from medcard.config import get_settings
    from medcard.fhir.bulk.cli import run_import
    from medcard.launch import database, schema_ready, setup_logging

    settings = get_settings()
    setup_logging(settings)
    with ThreadPoolExecutor(1) as pool:
        generated = pool.submit(generate, folder, seed, children, clinics, demographic, today)
        with database(settings) as url:
            schema_ready(settings, url)
            generated.result()
            return run_import(url, [folder], on_error="stop", chunk=500, jobs=os.cpu_count() or 1)


def synth(out: Path | None, seed: int, children: int, clinics: int, demographic: int, today: date | None) -> int:
    """Generate the city into ``out`` (NDJSON, one file per type), or, without it, straight into the store."""
    if out is not None:
        generate(out, seed, children, clinics, demographic, today)
        return 0
    with tempfile.TemporaryDirectory(prefix="medcard-synth-") as folder:
        return _generate_and_load(Path(folder), seed, children, clinics, demographic, today)


def _examples(folder: Path, count: int = 3) -> list[tuple[str, str]]:
    """A few patients to open: (id, name)."""
    found = []
    with (folder / "Patient.ndjson").open("rb") as lines:
        for line in lines:
            patient = orjson.loads(line)
            name = patient["name"][0]
            found.append((patient["id"], f"{name['family']} {' '.join(name['given'])}, {patient['birthDate']}"))
            if len(found) >= count * 7:
                break
    return found[::7][:count]


def demo(children: int = 300, seed: int = 1, port: int | None = None, clinics: int = 3) -> int:
    """Generate a few hundred children, import them into the store, then serve medcard."""
    from medcard.config import get_settings
    from medcard.launch import serve

    # A laptop demo over plain HTTP: cookies without Secure, and no second factor for the demo doctor,
    # unless the user configured otherwise. Never for a real installation.
    os.environ.setdefault("MEDCARD_SECURE_COOKIES", "false")
    os.environ.setdefault("MEDCARD_SECOND_FACTOR_ROLES", "")
    get_settings.cache_clear()
    with tempfile.TemporaryDirectory(prefix="medcard-demo-") as folder:
        code = _generate_and_load(Path(folder), seed, children, clinics, 0, None)
        if code not in (0, 2):
            return code
        examples = _examples(Path(folder))
        clinic = _clinic_of(Path(folder), examples[0][0]) if examples else None
        family = _family_children(Path(folder))
    settings = get_settings()
    password = secrets.token_urlsafe(9)  # new at every demo start, printed below
    token, district = _demo_access(clinic, examples[0][0] if examples else None, password)
    portal = _demo_family(family, password)
    root = f"http://{settings.host}:{port or settings.port}"
    base = f"{root}/fhir/R4"
    _log(f"demo city loaded: {children} children.")
    _log(f"  a backend token for 12 hours: export TOKEN={token}")
    for pid, name in examples:
        _log(f"  {name}:")
        _log(f'    curl -H "Authorization: Bearer $TOKEN" {base}/Patient/{pid}/\\$summary')
    _log(f"  the workspace: {root}/app/")
    _log(f"  sign in at {root}/auth/login as {DEMO_DOCTOR} (district pediatrician{district}), {DEMO_REGISTRAR} "
         f"(registrar) or {DEMO_PARENT} (a parent); password {password}")
    for line in portal:
        _log(line)
    serve(host=None, port=port, workers=None)
    return 0


DEMO_CLIENT = "demo"
DEMO_DOCTOR = "doctor"
DEMO_PARENT = "parent@example.ru"
DEMO_REGISTRAR = "registrar"


def _clinic_of(folder: Path, patient_id: str) -> str | None:
    with (folder / "Patient.ndjson").open("rb") as lines:
        for line in lines:
            patient = orjson.loads(line)
            if patient["id"] == patient_id:
                ref = (patient.get("managingOrganization") or {}).get("reference", "")
                return ref.removeprefix("Organization/") or None
    return None


def _demo_access(clinic: str | None, child: str | None, password: str) -> tuple[str, str]:
    """The demo's backend client and token, a district pediatrician, a registrar and a parent (made once per
    store); the token, and what the pediatrician's district holds (for the message)."""
    import asyncio

    import psycopg

    from medcard.access import accounts, tokens
    from medcard.access.requester import Requester
    from medcard.config import get_settings
    from medcard.core.errors import NotFound
    from medcard.core.time import today_moscow
    from medcard.launch import database
    from medcard.worklists.demo import busiest_district

    async def work(url: str) -> tuple[str, str]:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            try:
                client_id = (await tokens.client_named(conn, DEMO_CLIENT)).client_id
            except NotFound:
                client_id, _ = await tokens.register_client(conn, DEMO_CLIENT, "backend", "system/*.*",
                                                            jwks={"keys": []})
            issued = await tokens.issue(conn, client_id, "system/*.*", 12 * 60)
            doctor = await accounts.by_username(conn, DEMO_DOCTOR)
            doctor_id = doctor.id if doctor is not None else None
            if clinic and doctor is None:
                doctor_id = await accounts.create(conn, kind="staff", username=DEMO_DOCTOR,
                                                  display_name="Демо-педиатр", password=password,
                                                  roles=[("pediatrician", clinic)])
            elif doctor is not None:
                await accounts.set_password(conn, doctor.id, password)
            # the doctor is the pediatrician of the district with the most kinds of work in "my day"
            district = await busiest_district(conn, clinic, today_moscow()) if clinic else None
            described = ""
            if district is not None and doctor_id is not None:
                await accounts.set_practitioner(conn, doctor_id, district.practitioner_id)
                d = district.day
                described = (f", district {district.number}: {len(d.examinations)} examinations this month, "
                             f"{len(d.vaccinations)} children with overdue vaccinations, {d.results.unseen} results "
                             f"not seen, {len(d.referrals)} referrals without a consultation")
            registrar = await accounts.by_username(conn, DEMO_REGISTRAR)
            if clinic and registrar is None:
                await accounts.create(conn, kind="staff", username=DEMO_REGISTRAR, display_name="Демо-регистратор",
                                      password=password, roles=[("registrar", clinic)])
            elif registrar is not None:
                await accounts.set_password(conn, registrar.id, password)
            parent = await accounts.by_username(conn, DEMO_PARENT)
            if child and parent is None:
                parent_id = await accounts.create(conn, kind="family", username=DEMO_PARENT,
                                                  display_name="Демо-родитель", password=password)
                await accounts.link(conn, Requester("system", "medcard demo"), parent_id, child, "parent",
                                    "демонстрационные данные")
            elif parent is not None:
                await accounts.set_password(conn, parent.id, password)
            await conn.commit()
            return issued.access_token, described

    with database(get_settings()) as url:
        return asyncio.run(work(url))


DEMO_FAMILY_PARENT = "mama@example.ru"
DEMO_TEEN = "teen@example.ru"
ENP = "urn:oid:1.2.643.2.69.1.1.1.6.228"  # the OMS policy number (ЕНП): a teenager's own access needs it


def _family_children(folder: Path) -> tuple[tuple[str, str], tuple[str, str]] | None:
    """Two children for the portal's demo family: (id, name) of a child under 7 and of a teenager of 15-17
    with an OMS policy (own access from 15); None when the city has no such pair."""
    today = moscow_today()
    young: tuple[str, str] | None = None
    teen: tuple[str, str] | None = None
    with (folder / "Patient.ndjson").open("rb") as lines:
        for line in lines:
            patient = orjson.loads(line)
            born = date.fromisoformat(patient["birthDate"])
            age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            name = patient["name"][0]
            who = (patient["id"], f"{name['family']} {' '.join(name['given'])}")
            policy = any(i.get("system") == ENP for i in patient.get("identifier", []))
            if young is None and 1 <= age < 7:
                young = who
            elif teen is None and 15 <= age < 18 and policy:
                teen = who
    return (young, teen) if young and teen else None


def _demo_family(family: tuple[tuple[str, str], tuple[str, str]] | None, password: str) -> list[str]:
    """The portal's demo family: a parent of both children and the teenager's own sign-in (made once per
    store); the lines ``medcard demo`` prints about them."""
    if family is None:
        return []
    import asyncio

    import psycopg

    from medcard.access import accounts
    from medcard.access.requester import Requester
    from medcard.config import get_settings
    from medcard.launch import database

    (young, young_name), (teen, teen_name) = family

    async def work(url: str) -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            parent = await accounts.by_username(conn, DEMO_FAMILY_PARENT)
            if parent is None:
                parent_id = await accounts.create(conn, kind="family", username=DEMO_FAMILY_PARENT,
                                                  display_name="Мама (демо)", password=password)
                for child in (young, teen):
                    await accounts.link(conn, Requester("system", "medcard demo"), parent_id, child, "parent",
                                        "демонстрационные данные")
            else:
                await accounts.set_password(conn, parent.id, password)
            own = await accounts.by_username(conn, DEMO_TEEN)
            if own is None:
                await accounts.create(conn, kind="family", username=DEMO_TEEN, display_name=teen_name,
                                      password=password, patient_id=teen, level="full")
            else:
                await accounts.set_password(conn, own.id, password)
            await conn.commit()

    with database(get_settings()) as url:
        asyncio.run(work(url))
    return [f"  the family portal (/my/, on a phone): {DEMO_FAMILY_PARENT}, a parent of {young_name} and "
            f"{teen_name}; {DEMO_TEEN}, the teenager's own sign-in; password {password}"]
