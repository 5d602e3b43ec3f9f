"""Mutation testing of the privacy model: break it on purpose, one named break at a time, and see a test fail.

Each break is an exact replacement (file, old snippet, new snippet) in the access policy
(``access/policy.py``, ``policy.json``, ``gate.py``, ``audit.py``), the search SQL's policy filters
(``fhir/search``) and the places the API applies them. A break is applied alone to a temporary
copy of ``src/`` (never to the working tree); the privacy tests then run against the copy
(``PYTHONPATH`` points at it) and stop at the first failure:

- **killed**: a test failed (the break was caught); the first failing test is named;
- **survived**: every test passed: a missing test, unless the report says why it cannot be;
- **stale**: the old snippet is no longer in the file (or is there more than once): the code moved,
  so the break must be written again;
- **invalid**: the broken file does not compile (a mistake in the break, not a finding);
- **error**: pytest could not run (collection or usage error); its output is shown;
- **timeout**: the tests ran past ``RUN_TIMEOUT``: counted as killed (the break hangs something).

Tests marked xfail (known gaps, when there are any) are left out of the runs (``-m "not xfail"``).

Usage (``make mutation`` runs it all: 8 minutes on two quiet cores, 26 under load)::

    python tools/mutation.py                 # every break
    python tools/mutation.py --list          # the breaks, with the state of their snippets
    python tools/mutation.py --only NAME ... # some breaks
    python tools/mutation.py --report out.json

One embedded PostgreSQL serves every run (``MEDCARD_TEST_DATABASE_URL``), or the database that
variable already names. The tests first run once without a break; if they fail, nothing is judged.
The exit status is 0 only when every break was killed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "src/medcard"
RUN_TIMEOUT = 1800  # seconds for one pytest run; a hang counts as killed ("timeout")

# The tests run against each break, in this order (a break's own likely killers go first).
SEARCH, FAMILY, STAFF = ("tests/access/test_privacy_guards_search.py", "tests/access/test_privacy_guards_family.py",
                         "tests/access/test_privacy_guards_staff.py")
AUDIT, BUNDLES, REFUSALS = ("tests/access/test_privacy_guards_audit.py", "tests/access/test_privacy_guards_bundles.py",
                            "tests/access/test_privacy_guards_refusals.py")
MATRIX = "tests/access/test_policy_matrix.py"
SIDE = "tests/access/test_side_channels.py"
PAPER = "tests/access/test_privacy_guards_paper_card.py"
TESTS = (SEARCH, FAMILY, STAFF, AUDIT, BUNDLES, REFUSALS, SIDE, MATRIX, PAPER,
         "tests/access/test_policy_request.py",
         "tests/access/test_oauth.py", "tests/access/test_commands.py", "tests/fhir/test_search.py",
         "tests/fhir/test_everything.py", "tests/fhir/test_summary.py", "tests/fhir/test_capability.py",
         "tests/fhir/test_transaction.py", "tests/pediatrics/test_operations.py")


@dataclass(frozen=True)
class Break:
    """One deliberate break: replace ``old`` (found exactly once) by ``new`` in ``path`` (under src/medcard)."""

    name: str
    path: str
    old: str
    new: str
    first: tuple[str, ...] = ()  # test files to run first


def _b(name: str, path: str, old: str, new: str, *first: str) -> Break:
    return Break(name, path, old, new, first)


POLICY, GATE, JSON_ = "access/policy.py", "access/gate.py", "access/policy.json"
INTERACTIONS = "fhir/interactions.py"
QUERY, ENGINE, CONDITIONS = "fhir/search/query.py", "fhir/search/engine.py", "fhir/search/conditions.py"

BREAKS: tuple[Break, ...] = (
    # --- the search SQL's policy filters ------------------------------------------------------
    _b("chain subquery unfiltered", QUERY,
       "AND {_compile(inner, b, 'r2', None)}{b.restrict(ttype, 'r2')}\")",
       "AND {_compile(inner, b, 'r2', None)}\")", SEARCH),
    _b("_has subquery unfiltered", QUERY,
       "AND {_compile(c.has, b, 'r2', None)}{b.restrict(source, 'r2')}\")",
       "AND {_compile(c.has, b, 'r2', None)}\")", SEARCH),
    _b("SqlBuilder.restrict adds nothing", CONDITIONS,
       'return f" AND {self.visible(self, rtype, alias)}" if self.visible is not None else ""',
       'return ""', SEARCH),
    _b("main query unfiltered", ENGINE,
       'conds.append(req.visible(b, req.resource_type, "r"))', "pass", SEARCH),
    _b("_include unfiltered", ENGINE,
       "f\"{b.restrict('*', 'r')}\")", '"")', SEARCH),
    _b("_revinclude unfiltered", ENGINE,
       "AND NOT r.deleted{b.restrict(spec.source, 'r')}\")", 'AND NOT r.deleted")', SEARCH),
    _b("search runs without the gate's filter", "fhir/interactions.py",
       "replace(req, visible=ctx.gate.visible, shown=shown.append)",
       "replace(req, visible=None, shown=shown.append)", SEARCH),
    # --- ages (policy.json and the comparisons) -------------------------------------------------
    _b("representatives act until 18", JSON_, '"representative_acts_for_child_until_age": 15',
       '"representative_acts_for_child_until_age": 18', FAMILY),
    _b("representatives act until 14", JSON_, '"representative_acts_for_child_until_age": 15',
       '"representative_acts_for_child_until_age": 14', FAMILY),
    _b("own access from 14", JSON_, '"own_access_age": 15,', '"own_access_age": 14,', MATRIX),
    _b("own access from 16", JSON_, '"own_access_age": 15,', '"own_access_age": 16,', MATRIX),
    _b("drug-addiction matters from 15", JSON_, '"own_access_age_substance_use": 16',
       '"own_access_age_substance_use": 15', SEARCH),
    _b("drug-addiction matters from 17", JSON_, '"own_access_age_substance_use": 16',
       '"own_access_age_substance_use": 17', SEARCH),
    _b("representatives read until 19", JSON_, '"representative_until_age": 18', '"representative_until_age": 19',
       MATRIX),
    _b("representatives read until 17", JSON_, '"representative_until_age": 18', '"representative_until_age": 17',
       MATRIX),
    _b("own access: < becomes <=", POLICY, "            if age < needed:", "            if age <= needed:", MATRIX),
    _b("representatives read: >= becomes >", POLICY, "if age >= ages.representative_until_age:",
       "if age > ages.representative_until_age:", MATRIX),
    _b("representatives act: >= becomes >", POLICY, "if not reading and age >= ages.representative_acts_until_age:",
       "if not reading and age > ages.representative_acts_until_age:", FAMILY),
    _b("age counts a birthday a day late", POLICY, "((on.month, on.day) < (birth.month, birth.day))",
       "((on.month, on.day) <= (birth.month, birth.day))", MATRIX),
    _b("drug-addiction threshold in searches: < becomes <=", POLICY,
       "own_young = bool(facts and facts.birth_date and age_on(facts.birth_date, self.today)\n"
       "                                     < age_rules",
       "own_young = bool(facts and facts.birth_date and age_on(facts.birth_date, self.today)\n"
       "                                     <= age_rules", SEARCH),
    _b("drug-addiction threshold of $everything: < becomes <=", POLICY,
       "return bool(facts and facts.birth_date and age_on(facts.birth_date, self.today)\n"
       "                    < age_rules(self.today).own_access_age_substance_use)",
       "return bool(facts and facts.birth_date and age_on(facts.birth_date, self.today)\n"
       "                    <= age_rules(self.today).own_access_age_substance_use)", SEARCH),
    # --- drug-addiction matters ------------------------------------------------------------------
    _b("substance-use filter removed from searches", POLICY, "        if self._own_young:", "        if False:",
       SEARCH),
    _b("substance-use SQL range widened to F00-F29", POLICY, "t.code >= 'F10' AND t.code < 'F20'",
       "t.code >= 'F00' AND t.code < 'F30'", SEARCH),
    _b("substance-use SQL range narrowed to F10-F18", POLICY, "t.code >= 'F10' AND t.code < 'F20'",
       "t.code >= 'F10' AND t.code < 'F19'", SEARCH),
    _b("substance-use codes lose F19", JSON_, '"F18", "F19"]', '"F18"]', SEARCH),
    _b("a teenager's read ignores the resource's codes", GATE,
       "and r.patient_id == patient_id and is_substance_use(jsonutil.loads(content)))",
       "and r.patient_id == patient_id and False)", SEARCH),
    _b("$everything shows a teenager everything", GATE,
       "        hide = await self.policy.hides_substance_use(patient_id)", "        hide = False", SEARCH),
    # --- family --------------------------------------------------------------------------------
    _b("full legal capacity ignored", POLICY, "            if facts.full_capacity:\n",
       "            if False:\n", MATRIX),
    _b("full legal capacity by valueBoolean ignored", POLICY,
       'e.get("valueBoolean") is True or "valueDate" in e', '"valueDate" in e', FAMILY),
    _b("a link need not be active", POLICY,
       "WHERE account_id = %s AND patient_id = %s AND status = 'active'\",",
       "WHERE account_id = %s AND patient_id = %s\",", FAMILY),
    _b("a grant need not be active", POLICY, '    if consent.get("status") != "active":\n        return False',
       "    if False:\n        return False", FAMILY),
    _b("a grant of any category", POLICY, "    if GRANT_CATEGORY not in categories:\n        return False",
       "    if False:\n        return False", FAMILY),
    _b("a grant's end ignored", POLICY, " and not (end and on.isoformat() > end[:10])", "", FAMILY),
    _b("a grant ends a day early", POLICY, "on.isoformat() > end[:10]", "on.isoformat() >= end[:10]", FAMILY),
    _b("a grant's start ignored", POLICY, "not (start and on.isoformat() < start[:10]) and ", "", FAMILY),
    _b("a representative's grant outlives representation", POLICY,
       "return age_on(facts.birth_date, self.today) < age_rules(self.today).representative_until_age",
       "return True", FAMILY),
    _b("grantees may write", POLICY, "        if reading and await self._granted(patient_id):",
       "        if await self._granted(patient_id):", FAMILY),
    _b("families change clinical records", POLICY, "        if not reading and rtype not in FAMILY_WRITES:",
       "        if False:", MATRIX),
    _b("own access without a verified account", POLICY, 'if r.level != "full" or not facts.has_oms_policy:',
       "if not facts.has_oms_policy:", MATRIX),
    _b("own access without an OMS policy", POLICY, 'if r.level != "full" or not facts.has_oms_policy:',
       'if r.level != "full":', FAMILY),
    _b("a family's searches reach records it may not read", POLICY,
       'if await self._family(p, "Patient", "read", False)]', "]", MATRIX),
    _b("families may break the glass", "fhir/api/access.py",
       '        if not may_break_glass(requester):\n            raise Forbidden',
       "        if False:\n            raise Forbidden", FAMILY),
    _b("any staff may break the glass", POLICY,
       '    return r.kind == "staff" and any(role_rules(sr.role).get("clinical") for sr in r.roles)',
       '    return r.kind == "staff"', SIDE),
    # --- scopes and the launch context ---------------------------------------------------------------
    _b("scopes do not narrow decisions", POLICY, "        if not r.scopes.allows(rtype, interaction or action):",
       "        if False:", SEARCH),
    _b("scopes do not narrow searches", POLICY,
       "        if types is not None:\n            conditions.append",
       "        if False:\n            conditions.append", SEARCH),
    _b("a scope's letters ignored", "access/scopes.py",
       'g.resource_type in ("*", resource_type) and letter in g.permissions for g in self.grants)',
       'g.resource_type in ("*", resource_type) for g in self.grants)', SEARCH),
    _b("launch patient does not confine decisions", POLICY,
       "and r.scopes.patient_only() and patient_id != r.launch_patient:", "and False:", SEARCH),
    _b("launch patient does not confine searches", POLICY,
       "        if r.launch_patient is not None and r.scopes.patient_only():\n            conditions",
       "        if False:\n            conditions", SEARCH),
    # --- staff -----------------------------------------------------------------------------------
    _b("registrar finds any type anywhere", POLICY,
       'if rtype == "Patient" and action in ("read", "search") and any(', 'if action in ("read", "search") and any(',
       STAFF),
    _b("registrar writes patients anywhere", POLICY,
       'if rtype == "Patient" and action in ("read", "search") and any(', 'if rtype == "Patient" and any(', STAFF),
    _b("registrar's searches find any type", POLICY, "parts.append(f\"{alias}.resource_type = 'Patient'\")",
       'parts.append("TRUE")', STAFF),
    _b("registrar reaches clinical types", JSON_, '"types": ["Patient", "RelatedPerson", "Appointment",',
       '"types": ["Patient", "Observation", "RelatedPerson", "Appointment",', MATRIX),
    _b("registrar reads any DocumentReference", POLICY,
       'return action == "search" if kinds is None else any(k.name in kinds for k in reached)', "return True", PAPER),
    _b("a kind's SQL matches the whole type", POLICY, "AND EXISTS (SELECT 1 FROM sp_token k WHERE \"",
       'AND TRUE OR EXISTS (SELECT 1 FROM sp_token k WHERE "', PAPER),
    _b("a kind's identifier system not compared", POLICY,
       'str(i.get("system") or "").startswith(self.identifier_system_prefix)', 'bool(i.get("system"))', PAPER),
    _b("a kind decided without the resource in hand", POLICY,
       'return action == "search" if kinds is None else', "return True if kinds is None else", PAPER),
    _b("any clinic's child is in care", POLICY, "        if set(facts.organizations) & set(r.organizations):",
       "        if facts.organizations:", MATRIX),
    _b("care relation: appointments dropped", POLICY,
       "AND i.patient_id IS NOT NULL \"\n            f\"UNION SELECT i.patient_id FROM sp_reference i WHERE "
       "i.resource_type = 'Appointment' AND i.param = \"\n            f\"'actor' AND i.target_type = 'Practitioner' "
       "AND i.target_id = {me} AND i.patient_id IS NOT NULL\")",
       "AND i.patient_id IS NOT NULL\")", STAFF),
    _b("care relation: any practitioner's appointment", POLICY,
       "f\"'actor' AND i.target_type = 'Practitioner' AND i.target_id = {me} AND i.patient_id IS NOT NULL\")",
       "f\"'actor' AND i.target_type = 'Practitioner' AND i.patient_id IS NOT NULL\")", STAFF),
    _b("care relation: referrals to a clinic dropped", POLICY,
       "i.target_id = ANY({orgs}))) AND i.patient_id IS NOT NULL", "i.target_id = ANY({orgs}) AND FALSE)) "
       "AND i.patient_id IS NOT NULL", STAFF),
    _b("care relation: any practitioner's referral", POLICY,
       "(i.target_type = 'Practitioner' AND i.target_id = {me})", "(i.target_type = 'Practitioner')", MATRIX),
    _b("break-glass without a reason", POLICY,
       "        if self.requester.break_glass and may_break_glass(self.requester):\n            return Decision(True",
       "        if True:\n            return Decision(True", MATRIX),
    _b("reference data changed by anyone", POLICY, '        if r.has_role("clinic-admin"):', "        if True:", STAFF),
    _b("anything outside a record is reference data", POLICY, "        if rtype not in reference_types():",
       "        if False:", STAFF),
    _b("searches show any type outside a record", POLICY,
       "({alias}.patient_id IS NULL AND {alias}.resource_type = ANY({b.bind(reference_types())}))",
       "({alias}.patient_id IS NULL)", STAFF),
    _b("reference types widened to Group", JSON_, '"reference_types": ["Organization",',
       '"reference_types": ["Group", "Organization",', STAFF),
    _b("a write is checked against the new record only", "fhir/store.py",
       "[*([before] if before else []), *analysis.patients]", "[*analysis.patients]", STAFF),
    _b("a write is checked against one record only", GATE,
       "touched: list[str | None] = list(dict.fromkeys(patients)) or [None]",
       "touched: list[str | None] = list(dict.fromkeys(patients))[-1:] or [None]", STAFF),
    # --- side channels: conditional writes, references, operations ----------------------------------
    _b("conditional writes match over the whole store", INTERACTIONS,
       "await store.find_matches(ctx.conn, rtype, condition, visible=ctx.gate.visible)",
       "await store.find_matches(ctx.conn, rtype, condition)", SIDE),
    _b("a conditional write's probe not audited", INTERACTIONS,
       "        ctx.gate.probed(action, rtype, condition, target, [p for _, p in found])", "        pass", SIDE),
    _b("conditional writes without search access to the type", GATE,
       "        if not self.policy.may_match(rtype):", "        if False:", SIDE),
    _b("a failed request's audit rows quote its error", GATE,
       "getattr(error, 'code', 'exception')}\"", "getattr(error, 'message', '')}\"", SIDE),
    _b("references checked over the whole store", "fhir/store.py",
       "visible = await self.visibility() if unknown and self.visibility is not None else None",
       "visible = None", SIDE),
    _b("a write refusal tells the policy's reason to anyone", GATE,
       '            reason = "you may not change this record"', "            pass", SIDE),
    _b("DELETE by id of a hidden resource goes to the write guard", INTERACTIONS,
       'await check_access(ctx, current, "read", subtype="delete", record=False)', "pass", SIDE),
    _b("PATCH of a hidden resource goes to the write guard", INTERACTIONS,
       'await check_access(ctx, current, "read", subtype="patch", record=False)', "pass", SIDE),
    _b("If-Match decided before the write guard", "fhir/store.py",
       "        if self.guard is not None:  # first: a refused writer learns nothing of the resource, its version "
       "neither\n", "        if False:\n", SIDE),
    _b("Patient operations decided on the Patient type only", "fhir/api/routes.py",
       "        for rtype_shown in op.shows:  # only a refusal is audited here",
       "        for rtype_shown in ():", STAFF),
    _b("whole-record operations ignore scopes", POLICY,
       "            return None if scoped is None else frozenset(scoped)", "            return None", SIDE),
    _b("a refused operation says so", "fhir/api/routes.py",
       'await gate.check(rid, "Patient", op.access, entity=entity, subtype=op.access, missing=missing)',
       'await gate.check(rid, "Patient", op.access, entity=entity, subtype=op.access)', REFUSALS),
    _b("batch writes unguarded", "fhir/transaction.py",
       'store.WriteBatch(ctx.conn, where=f"Bundle.entry[{e.index}]", guard=ctx.gate.guard_write,',
       'store.WriteBatch(ctx.conn, where=f"Bundle.entry[{e.index}]",', BUNDLES),
    # --- the gate and the audit log ------------------------------------------------------------------
    _b("refusal audited as success", GATE, "outcome = OUTCOME_SUCCESS if decision else OUTCOME_REFUSED",
       "outcome = OUTCOME_SUCCESS", MATRIX),
    _b("refused read answers 403", GATE, "            if action in READS and patient_id is not None:",
       "            if False:", REFUSALS),
    _b("a refusal says so", GATE, 'raise NotFound(missing or f"{entity} is not known")',
       'raise NotFound(f"{entity} may not be read")', REFUSALS),
    _b("refused write goes ahead", GATE,
       "            if not decision:\n                raise Forbidden(await self._refusal(action, what,",
       "            if False:\n                raise Forbidden(await self._refusal(action, what,", MATRIX),
    _b("a failed request's entries lost with the rollback", GATE,
       "        self.failed_since(0, error)\n        entries, self.entries = self.entries, []",
       "        self.failed_since(0, error)\n        entries, self.entries = [], []", MATRIX),
    _b("an undone write audited as done", GATE,
       "            if e.outcome == OUTCOME_SUCCESS:\n                e.outcome, e.detail = failed, why",
       "            if False:\n                e.outcome, e.detail = failed, why", MATRIX),
    _b("refused searches not audited", GATE, "        if not decision:\n            self._audit(decision, \"search\"",
       "        if False:\n            self._audit(decision, \"search\"", MATRIX),
    _b("searches audit no patient", GATE,
       "distinct: list[str | None] = [p for p in dict.fromkeys(patients) if p is not None]",
       "distinct: list[str | None] = []", MATRIX),
    _b("break-glass not flagged", "access/audit.py", "r.break_glass, self.detail)", "None, self.detail)", MATRIX),
    _b("break-glass recorded as treatment", "access/audit.py",
       'purpose = "ETREAT" if r.break_glass else r.purpose', "purpose = r.purpose", STAFF),
    _b("a write's audit row committed after the write", "fhir/api/access.py",
       "            yield conn, gate\n            await gate.flush(conn)\n",
       "            yield conn, gate\n        async with db.transaction() as conn:\n"
       "            await gate.flush(conn)\n", AUDIT),
    _b("a read answered when its audit row fails", "fhir/api/access.py",
       "            yield conn, gate\n            await gate.flush(conn)\n",
       "            yield conn, gate\n            try:\n                await gate.flush(conn)\n"
       "            except Exception:\n                pass\n", AUDIT),
    _b("AuditEvent?patient= without the policy", "fhir/api/audit_log.py",
       '    await gate.check(patient, "AuditEvent", "read", entity="AuditEvent", subtype="search")', "    pass",
       FAMILY),
    _b("AuditEvent?patient= not narrowed to the patient", "fhir/api/audit_log.py",
       '    if patient:\n        conds.append("patient_id = %s")',
       '    if False:\n        conds.append("patient_id = %s")', FAMILY),
    _b("AuditEvent read without the policy", "fhir/api/audit_log.py",
       '        await gate.check(row["patient_id"], "AuditEvent", "read", entity=f"AuditEvent/{event_id}")',
       "        pass", FAMILY),
    # --- reads outside search --------------------------------------------------------------------------
    _b("vread without the policy", "fhir/interactions.py",
       '    await check_access(ctx, stored, "vread", missing=missing)', "    pass", REFUSALS),
    _b("history without the policy", "fhir/api/routes.py",
       '            await interactions.check_access(Context(conn, base, gate), current, "history")',
       "            pass", REFUSALS),
    _b("Patient operations without the policy", "fhir/api/routes.py",
       "        await gate.check(rid, \"Patient\", op.access, entity=entity, subtype=op.access, missing=missing)",
       "        pass", MATRIX),
)


@dataclass
class Result:
    name: str
    path: str
    status: str  # killed | survived | stale | invalid | error | timeout
    killer: str | None = None
    seconds: float = 0.0
    detail: str | None = None


# the copy and the database --------------------------------------------------------------------------


def snippet_state(b: Break) -> str:
    """"ok", "stale" (not found) or "ambiguous" (found more than once) in the working tree's file."""
    count = (ROOT / PACKAGE / b.path).read_text("utf-8").count(b.old)
    return "ok" if count == 1 else "stale" if count == 0 else "ambiguous"


@contextmanager
def source_copy() -> Iterator[Path]:
    """A temporary copy of src/ (without bytecode caches)."""
    with tempfile.TemporaryDirectory(prefix="medcard-mutation-") as tmp:
        copy = Path(tmp) / "src"
        shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        yield copy


@contextmanager
def test_database() -> Iterator[str]:
    """The database the test runs share: the one MEDCARD_TEST_DATABASE_URL names, or an embedded one."""
    external = os.environ.get("MEDCARD_TEST_DATABASE_URL")
    if external:
        yield external
        return
    from medcard.core.embedded import embedded_database

    with tempfile.TemporaryDirectory(prefix="medcard-mutation-db-") as home, embedded_database(Path(home)) as url:
        yield url


@contextmanager
def applied(copy: Path, b: Break) -> Iterator[Path]:
    """The break written into the copy; the copy's file restored afterwards."""
    target = copy / "medcard" / b.path
    original = target.read_text("utf-8")
    target.write_text(original.replace(b.old, b.new, 1), "utf-8")
    try:
        yield target
    finally:
        target.write_text(original, "utf-8")


def compiles(path: Path) -> str | None:
    """None when the broken file is valid Python or JSON; else why not."""
    try:
        if path.suffix == ".json":
            json.loads(path.read_text("utf-8"))
        else:
            compile(path.read_text("utf-8"), str(path), "exec")
    except (SyntaxError, ValueError) as e:
        return str(e)
    return None


# running the tests ------------------------------------------------------------------------------------


def run_tests(copy: Path, url: str, tests: Sequence[str], *, stop_first: bool, basetemp: Path
              ) -> tuple[int, str, float]:
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1", "MEDCARD_TEST_DATABASE_URL": url}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not xfail",
               f"--basetemp={basetemp}", *(["-x"] if stop_first else []), *tests]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return -1, "", time.monotonic() - started
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def ordered(b: Break, tests: Sequence[str]) -> list[str]:
    return [*[t for t in b.first if t in tests], *[t for t in tests if t not in b.first]]


def first_failure(output: str) -> str | None:
    match = re.search(r"^(?:FAILED|ERROR) (.+?)(?: - |$)", output, re.MULTILINE)
    return match.group(1) if match else None


def judge(copy: Path, url: str, b: Break, tests: Sequence[str], basetemp: Path) -> Result:
    state = snippet_state(b)
    if state != "ok":
        where = "not found" if state == "stale" else "found more than once"
        return Result(b.name, b.path, "stale", detail=f"the old snippet is {where}")
    with applied(copy, b) as target:
        problem = compiles(target)
        if problem is not None:
            return Result(b.name, b.path, "invalid", detail=problem)
        code, output, seconds = run_tests(copy, url, ordered(b, tests), stop_first=True, basetemp=basetemp)
    if code == -1:
        return Result(b.name, b.path, "timeout", seconds=seconds)
    if code == 0:
        return Result(b.name, b.path, "survived", seconds=seconds)
    if code == 1:
        return Result(b.name, b.path, "killed", first_failure(output), seconds)
    return Result(b.name, b.path, "error", seconds=seconds, detail=output[-2000:])


def check_copy_is_used(copy: Path) -> None:
    """The tests must import medcard from the copy, not from the working tree (an editable install)."""
    env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
    found = subprocess.run([sys.executable, "-c", "import medcard; print(medcard.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not found.startswith(str(copy)):
        raise SystemExit(f"medcard is imported from {found}, not from the copy {copy}: the breaks would not apply")


# the report -------------------------------------------------------------------------------------------


def summary(results: list[Result]) -> str:
    killed = sum(r.status in ("killed", "timeout") for r in results)
    survived = [r for r in results if r.status == "survived"]
    judged = killed + len(survived)
    rate = f"{killed}/{judged} = {100 * killed / judged:.0f} %" if judged else "n/a"
    lines = [f"kill rate: {rate} of the breaks judged ({len(results)} run)", "",
             "| break | file | result | first failing test | s |", "|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.name} | {r.path} | {r.status} | {r.killer or r.detail or ''} | {r.seconds:.0f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the breaks and whether their snippets are found")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run these breaks only")
    parser.add_argument("--tests", nargs="+", default=list(TESTS), help="the test files to run")
    parser.add_argument("--report", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    breaks = list(BREAKS)
    names = [b.name for b in breaks]
    if len(set(names)) != len(names):
        raise SystemExit("two breaks have the same name")
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            raise SystemExit(f"no such break: {', '.join(unknown)}")
        breaks = [b for b in breaks if b.name in args.only]
    if args.list:
        for b in breaks:
            print(f"{snippet_state(b):9} {b.path:28} {b.name}")
        return 0
    results: list[Result] = []
    with source_copy() as copy, test_database() as url, \
            tempfile.TemporaryDirectory(prefix="medcard-mutation-pt-") as pt:
        check_copy_is_used(copy)
        print(f"baseline: {len(args.tests)} test files without a break ...", flush=True)
        code, output, seconds = run_tests(copy, url, args.tests, stop_first=False, basetemp=Path(pt) / "baseline")
        if code != 0:
            print(output[-5000:])
            raise SystemExit(f"the tests fail without any break (exit {code}); fix them before judging breaks")
        print(f"baseline passed in {seconds:.0f} s", flush=True)
        for i, b in enumerate(breaks, 1):
            result = judge(copy, url, b, args.tests, Path(pt) / f"b{i}")
            results.append(result)
            print(f"[{i}/{len(breaks)}] {result.status:8} {b.name} ({result.seconds:.0f} s)"
                  + (f" <- {result.killer}" if result.killer else ""), flush=True)
            if result.status == "error" and result.detail:
                print(result.detail)
    print()
    print(summary(results))
    if args.report:
        args.report.write_text(json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=1), "utf-8")
    return 0 if all(r.status in ("killed", "timeout") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
