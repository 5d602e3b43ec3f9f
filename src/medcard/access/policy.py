"""The access policy: who may see or change what in a child's record. Decided here, and only here.

The rules (ages, who represents whom, what each staff role reaches) are data (``policy.json``,
versioned by legal act). A decision is taken for (requester, patient, resource type, action) on
the date of the request, so a child who turns 15 today has their own access today, with no
nightly job. For searches, the same rules become a SQL condition the store adds to every query,
so results, ``_include`` and counts never show what the requester may not see.

Families (``domain.md`` §5): a patient from 15 (16 for drug-addiction matters) reads their own
record with a full account and an OMS policy; legal representatives read until 18 unless the
minor has full legal capacity, and act for the child (grant access to relatives) until 15; other
relatives read only by an explicit, revocable grant (a Consent). Staff: only for care — the child
is attached to their clinic, or they hold a referral or an appointment for the child — or by
breaking the glass with a stated reason, which is allowed, recorded and flagged for review. A role
reaches whole resource types, or (``only``) some kinds of one type: the registrar reads a child's
archived paper card, a DocumentReference, and none of the child's other documents.
Backend clients (system scopes) are trusted integrations: their scopes decide.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from psycopg import AsyncConnection

from medcard.access.requester import Requester
from medcard.core import jsonutil
from medcard.core.identifiers import system_uri
from medcard.fhir.search.conditions import SqlBuilder

ACCOUNT_SYSTEM = "urn:medcard:account"  # Consent grants name the relative's account by this identifier
FULL_CAPACITY_URL = "urn:medcard:extension:full-legal-capacity"  # on Patient: emancipation or marriage
ENP_SYSTEM = system_uri("enp")
GRANT_CATEGORY = "medcard-access-grant"
FAMILY_WRITES = frozenset({"Consent", "QuestionnaireResponse", "Communication"})
READ_ACTIONS = frozenset({"read", "search", "export"})  # export: downloading the whole record
ICD10 = "http://hl7.org/fhir/sid/icd-10"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    break_glass: bool = False

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class AgeRules:
    act: str
    effective_from: date
    effective_to: date | None
    own_access_age: int
    own_access_age_substance_use: int
    representative_until_age: int
    representative_acts_until_age: int


@cache
def rules() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files(__package__).joinpath("policy.json").read_text("utf-8"))
    return data


def age_rules(on: date) -> AgeRules:
    """The age rules in force on a date."""
    for v in rules()["versions"]:
        start = date.fromisoformat(v["effective_from"])
        end = date.fromisoformat(v["effective_to"]) if v["effective_to"] else None
        if start <= on and (end is None or on <= end):
            return AgeRules(v["act"], start, end, v["own_access_age"], v["own_access_age_substance_use"],
                            v["representative_until_age"], v["representative_acts_for_child_until_age"])
    raise LookupError(f"no access rules in force on {on}")


def age_on(birth: date, on: date) -> int:
    """Full years of age on a date (a birthday counts from its first day)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class PatientFacts:
    """What the policy needs to know about a child, read from the Patient resource."""

    id: str
    birth_date: date | None
    full_capacity: bool
    has_oms_policy: bool
    organizations: tuple[str, ...]

    @classmethod
    def of(cls, patient: dict[str, Any]) -> PatientFacts:
        birth = patient.get("birthDate")
        born = date.fromisoformat(birth) if isinstance(birth, str) and len(birth) == 10 else None
        capacity = any(e.get("url") == FULL_CAPACITY_URL and (e.get("valueBoolean") is True or "valueDate" in e)
                       for e in patient.get("extension", []))
        policy = any(i.get("system") == ENP_SYSTEM for i in patient.get("identifier", []))
        org = (patient.get("managingOrganization") or {}).get("reference", "")
        orgs = (org.split("/", 1)[1],) if org.startswith("Organization/") else ()
        return cls(patient["id"], born, capacity, policy, orgs)


@cache
def reference_types() -> list[str]:
    """Types that, outside every patient's record, anyone signed in may read (directories, catalogues)."""
    return sorted(rules()["reference_types"])


def role_rules(role: str) -> dict[str, Any]:
    rule: dict[str, Any] = rules()["roles"][role]
    return rule


def may_break_glass(r: Requester) -> bool:
    """Emergency access is for clinicians: staff with a clinical role (``policy.json``)."""
    return r.kind == "staff" and any(role_rules(sr.role).get("clinical") for sr in r.roles)


def role_allows_type(role: str, rtype: str, action: str) -> bool:
    """Whether the role reaches every resource of ``rtype`` for ``action``."""
    rule = role_rules(role)
    types = rule["types"]
    return (types == "*" or rtype in types) and _action_in(action, rule["actions"])


def _action_in(action: str, actions: list[str]) -> bool:
    return action in actions or (action == "search" and "read" in actions)


@dataclass(frozen=True)
class Kind:
    """A kind of resource a role may reach without reaching its whole type (``policy.json``, "kinds"):
    the resources of ``rtype`` with an identifier whose system begins with ``identifier_system_prefix``.
    The same test is :meth:`holds` on a resource in hand and :meth:`sql` on stored rows, so a read
    and a search of the kind agree."""

    name: str
    rtype: str
    identifier_system_prefix: str

    def holds(self, resource: dict[str, Any]) -> bool:
        return resource.get("resourceType") == self.rtype and any(
            isinstance(i, dict) and str(i.get("system") or "").startswith(self.identifier_system_prefix)
            for i in resource.get("identifier") or ())

    def sql(self, b: SqlBuilder, alias: str) -> str:
        prefix = self.identifier_system_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return (f"({alias}.resource_type = {b.bind(self.rtype)} AND EXISTS (SELECT 1 FROM sp_token k WHERE "
                f"k.resource_type = {alias}.resource_type AND k.resource_id = {alias}.id AND k.param = 'identifier' "
                f"AND k.system LIKE {b.bind(prefix + '%')}))")


@cache
def kinds() -> dict[str, Kind]:
    return {name: Kind(name, k["type"], k["identifier_system_prefix"]) for name, k in rules()["kinds"].items()}


def role_kinds(role: str, rtype: str, action: str) -> tuple[Kind, ...]:
    """The kinds of ``rtype`` the role reaches for ``action`` when it does not reach the whole type
    (its ``only`` rule), else ()."""
    only = role_rules(role).get("only", {}).get(rtype)
    if only is None or not _action_in(action, only["actions"]):
        return ()
    return tuple(kinds()[name] for name in only["kinds"])


def kinds_of(rtype: str, resource: dict[str, Any]) -> frozenset[str]:
    """The names of the kinds a resource in hand is (the gate passes them to :meth:`Policy.decide`)."""
    return frozenset(k.name for k in kinds().values() if k.rtype == rtype and k.holds(resource))


def narrows(r: Requester, rtype: str) -> bool:
    """Whether a decision on a ``rtype`` of the requester may depend on the resource's kind."""
    return r.kind == "staff" and any(rtype in role_rules(sr.role).get("only", {}) for sr in r.roles)


def may_register(r: Requester) -> bool:
    """Whether the requester's roles reach the registry's tasks (attaching a child, linking a family
    account: writing Patient and RelatedPerson); the page decides each child as it opens."""
    return r.kind == "staff" and any(role_allows_type(sr.role, "Patient", "write")
                                     and role_allows_type(sr.role, "RelatedPerson", "write") for sr in r.roles)


def registers_only(r: Requester) -> bool:
    """Staff who may register children and hold no clinical role (a registrar): a child's registry,
    not the chart (whose clinical sections their roles do not reach), is their page of a child."""
    return may_register(r) and not any(role_rules(sr.role).get("clinical") for sr in r.roles)


# decisions on one patient's record ----------------------------------------------------


class Policy:
    """Decisions for one request; facts it reads are kept for the rest of the request."""

    def __init__(self, conn: AsyncConnection, requester: Requester, today: date) -> None:
        self.conn = conn
        self.requester = requester
        self.today = today
        self._facts: dict[str, PatientFacts | None] = {}
        # Decisions taken in this request: they depend only on the requester, the date and facts
        # read once per request, so a transaction of 100 resources of one child decides once.
        self._decided: dict[tuple[str | None, str, str, bool, str | None, frozenset[str] | None], Decision] = {}
        self._in_care: dict[str, bool] = {}
        self._family_patients: list[str] | None = None
        self._own_young = False  # a teenager's own access, before the substance-use threshold
        self._prepared = False

    async def facts(self, patient_id: str) -> PatientFacts | None:
        if patient_id not in self._facts:
            cur = await self.conn.execute(
                "SELECT content FROM resource WHERE resource_type = 'Patient' AND id = %s AND NOT deleted",
                (patient_id,))
            row = await cur.fetchone()
            self._facts[patient_id] = PatientFacts.of(jsonutil.loads(row[0])) if row else None
        return self._facts[patient_id]

    async def decide(self, patient_id: str | None, rtype: str, action: str, *,
                     substance_use: bool = False, interaction: str | None = None,
                     kinds: frozenset[str] | None = None) -> Decision:
        """May the requester do ``action`` (read, search, write, export) on a ``rtype`` of this patient's
        record (None: no record)? ``interaction`` names a write exactly (create, update, delete) for the
        token's scopes. ``kinds``: what the resource in hand is (:func:`kinds_of`); None when there is
        none, so a role that reaches only some kinds of ``rtype`` is refused anything but a search (whose
        SQL, :meth:`visible_sql`, keeps to those kinds)."""
        key = (patient_id, rtype, action, substance_use, interaction, kinds)
        decision = self._decided.get(key)
        if decision is None:
            decision = self._decided[key] = await self._decide(patient_id, rtype, action, substance_use, interaction,
                                                               kinds)
        return decision

    async def _decide(self, patient_id: str | None, rtype: str, action: str, substance_use: bool,
                      interaction: str | None, kinds: frozenset[str] | None) -> Decision:
        r = self.requester
        if not r.scopes.allows(rtype, interaction or action):
            return Decision(False, f"the token's scopes do not cover {action} of {rtype}")
        if r.launch_patient is not None and r.scopes.patient_only() and patient_id != r.launch_patient:
            return Decision(False, "the token is for another patient")
        if patient_id is None:
            return self._reference_data(rtype, action)
        if r.kind == "system":
            return Decision(True, "backend service")
        if r.kind == "family":
            return await self._family(patient_id, rtype, action, substance_use)
        return await self._staff(patient_id, rtype, action, kinds)

    def _reference_data(self, rtype: str, action: str) -> Decision:
        r = self.requester
        if r.kind == "system":
            return Decision(True, "backend service")
        if rtype not in reference_types():
            return Decision(False, f"a {rtype} outside any record is for administrators only")
        if action in ("read", "search"):
            return Decision(True, "reference data")
        if r.has_role("clinic-admin"):
            return Decision(True, "administration of reference data")
        return Decision(False, "only administrators change reference data")

    async def _family(self, patient_id: str, rtype: str, action: str, substance_use: bool) -> Decision:
        r = self.requester
        facts = await self.facts(patient_id)
        if facts is None or facts.birth_date is None:
            return Decision(False, "no such record")
        ages = age_rules(self.today)
        age = age_on(facts.birth_date, self.today)
        reading = action in READ_ACTIONS
        if not reading and rtype not in FAMILY_WRITES:
            return Decision(False, "families do not change clinical records")
        if r.patient_id == patient_id:
            needed = ages.own_access_age_substance_use if substance_use else ages.own_access_age
            if age < needed:
                return Decision(False, f"own access begins at {needed}")
            if r.level != "full" or not facts.has_oms_policy:
                return Decision(False, "own access needs a verified (full) account and an OMS policy")
            return Decision(True, f"own record ({ages.act})")
        link = await self._link(patient_id)
        if link is not None:
            if facts.full_capacity:
                return Decision(False, "the minor has full legal capacity")
            if age >= ages.representative_until_age:
                return Decision(False, f"legal representatives read until {ages.representative_until_age}")
            if not reading and age >= ages.representative_acts_until_age:
                return Decision(False, f"from {ages.representative_acts_until_age} the patient decides")
            return Decision(True, f"legal representative ({link}; {ages.act})")
        if reading and await self._granted(patient_id):
            return Decision(True, "access granted by a legal representative or the patient")
        return Decision(False, "not a representative of this child and no access was granted")

    async def _link(self, patient_id: str) -> str | None:
        cur = await self.conn.execute(
            "SELECT relationship FROM representation WHERE account_id = %s AND patient_id = %s AND status = 'active'",
            (self.requester.account_id, patient_id))
        row = await cur.fetchone()
        return str(row[0]) if row else None

    async def _granted(self, patient_id: str) -> bool:
        return patient_id in await self._grant_patients()

    async def _grant_patients(self) -> set[str]:
        """Patients whose record the requester was granted by an active access Consent."""
        cur = await self.conn.execute(
            "SELECT r.content FROM sp_token t JOIN resource r ON r.resource_type = t.resource_type "
            "AND r.id = t.resource_id WHERE t.resource_type = 'Consent' AND t.param = 'actor-identifier' "
            "AND t.system = %s AND t.code = %s AND NOT r.deleted", (ACCOUNT_SYSTEM, self.requester.account_id))
        granted = set()
        for (content,) in await cur.fetchall():
            consent = jsonutil.loads(content)
            if _grant_in_force(consent, self.today) and await self._grantor_may_act(consent):
                patient = (consent.get("patient") or {}).get("reference", "")
                if patient.startswith("Patient/"):
                    granted.add(patient.split("/", 1)[1])
        return granted

    async def hides_substance_use(self, patient_id: str) -> bool:
        """Whether drug-addiction matters of this record must be left out for the requester: a
        teenager's own access, before the age of own access to them."""
        r = self.requester
        if r.kind != "family" or r.patient_id != patient_id:
            return False
        facts = await self.facts(patient_id)
        return bool(facts and facts.birth_date and age_on(facts.birth_date, self.today)
                    < age_rules(self.today).own_access_age_substance_use)

    async def _grantor_may_act(self, consent: dict[str, Any]) -> bool:
        """A grant by the patient holds; one by a representative lapses when representation ends (18,
        or full legal capacity earlier)."""
        patient = (consent.get("patient") or {}).get("reference", "")
        performers = [p.get("reference") for p in consent.get("performer", [])]
        if patient and patient in performers:
            return True
        facts = await self.facts(patient.split("/", 1)[-1])
        if facts is None or facts.birth_date is None or facts.full_capacity:
            return False
        return age_on(facts.birth_date, self.today) < age_rules(self.today).representative_until_age

    async def _staff(self, patient_id: str, rtype: str, action: str, kinds: frozenset[str] | None) -> Decision:
        r = self.requester
        roles = [sr.role for sr in r.roles if role_allows_type(sr.role, rtype, action)]
        if not roles:
            roles = [sr.role for sr in r.roles if _reaches_kind(sr.role, rtype, action, kinds)]
        if not roles:
            return self._glass(f"no role of yours covers {action} of {rtype}")
        if rtype == "Patient" and action in ("read", "search") and any(
                "Patient" in role_rules(role).get("find_anywhere", []) for role in roles):
            return Decision(True, "registration: patients are found across the city")
        facts = await self.facts(patient_id)
        if facts is None:
            return Decision(False, "no such record")
        if set(facts.organizations) & set(r.organizations):
            return Decision(True, "the child is attached to your clinic")
        if await self._care_relation(patient_id):
            return Decision(True, "you hold a referral or an appointment for the child")
        return self._glass("the child is not in your care")

    def _glass(self, reason: str) -> Decision:
        if self.requester.break_glass and may_break_glass(self.requester):
            return Decision(True, f"emergency access: {self.requester.break_glass}", break_glass=True)
        return Decision(False, reason)

    async def _care_relation(self, patient_id: str) -> bool:
        found = self._in_care.get(patient_id)
        if found is None:
            b = SqlBuilder()
            sql = (f"SELECT 1 FROM ({care_relation_sql(self.requester, b)}) c "
                   f"WHERE c.patient_id = {b.bind(patient_id)}")
            cur = await self.conn.execute(sql + " LIMIT 1", b.params)
            found = self._in_care[patient_id] = await cur.fetchone() is not None
        return found

    # searches ------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Read what the search condition needs (a family's children), so it can be built without I/O;
        once per request."""
        if self._prepared:
            return
        r = self.requester
        if r.kind == "family" and not (r.launch_patient is not None and r.scopes.patient_only()):
            own_young = False
            for pid in await self.readable_patients():
                if pid == r.patient_id:
                    facts = await self.facts(pid)
                    own_young = bool(facts and facts.birth_date and age_on(facts.birth_date, self.today)
                                     < age_rules(self.today).own_access_age_substance_use)
            self._own_young = own_young
        self._prepared = True

    def visible_sql(self, b: SqlBuilder, rtype: str, alias: str = "r", *, scoped: bool = True) -> str:
        """SQL over ``resource`` (aliased ``alias``) keeping only the rows the requester may see.

        ``rtype`` is the type searched ("*" when rows of several types are read, as by _include);
        the condition looks at each row's own type, so it holds whatever the query joins.
        ``scoped=False`` leaves out the token's narrowing to the types it may search: what remains is
        the requester's reach by record (which records, and the types their roles reach), the measure
        of what a write may refer to (a token that may write Observations refers to their Patient).
        """
        if not self._prepared:
            raise RuntimeError("Policy.prepare() must run before visible_sql()")
        r = self.requester
        conditions = []
        types = r.scopes.types_for("search") if scoped else None
        if types is not None:
            conditions.append(f"{alias}.resource_type = ANY({b.bind(sorted(types))})")
        reference = f"({alias}.patient_id IS NULL AND {alias}.resource_type = ANY({b.bind(reference_types())}))"
        if r.launch_patient is not None and r.scopes.patient_only():
            conditions.append(f"({alias}.patient_id = {b.bind(r.launch_patient)} OR {reference})")
        elif r.kind == "system":
            pass
        elif r.kind == "family":
            conditions.append(self._family_filter(b, alias, reference))
        else:
            conditions.append(self._staff_filter(b, alias, reference))
        return "(" + " AND ".join(conditions) + ")" if conditions else "TRUE"

    def _family_filter(self, b: SqlBuilder, alias: str, reference: str) -> str:
        allowed = self._family_patients or []
        condition = f"{alias}.patient_id = ANY({b.bind(allowed)})"
        if self._own_young:
            condition = (f"({condition} AND NOT ({alias}.patient_id = {b.bind(self.requester.patient_id)} AND "
                         f"{substance_use_sql(alias)}))")
        return f"({condition} OR {reference})"

    async def readable_patients(self) -> list[str]:
        """The records a family account may read today."""
        if self._family_patients is None:
            r = self.requester
            cur = await self.conn.execute(
                "SELECT patient_id FROM representation WHERE account_id = %s AND status = 'active'", (r.account_id,))
            candidates = {row[0] for row in await cur.fetchall()} | await self._grant_patients()
            if r.patient_id:
                candidates.add(r.patient_id)
            # decided as the read of each record (kept for the request: the page opens them next)
            self._family_patients = [p for p in sorted(candidates) if await self.decide(p, "Patient", "read")]
        return self._family_patients

    def _staff_filter(self, b: SqlBuilder, alias: str, reference: str) -> str:
        r = self.requester
        parts = [reference]
        care_roles = [sr.role for sr in r.roles if role_rules(sr.role)["scope"] == "care"]
        types = self._staff_types(care_roles)
        partial = [] if types == "*" else _partial_kinds(care_roles, "search")
        if types is not None or partial:
            # EXISTS, correlated, not IN (a list): a search that reads a few rows (a name typed into the
            # workspace's search box) probes each row's patient, where IN built the list of every child of
            # the clinic for each query (measured: 7.5 ms of a 9.9 ms search for a clinic of 3,826, growing
            # with the clinic); PostgreSQL still hashes the whole list when it expects many rows. The same
            # rows either way.
            in_care = (f"(EXISTS (SELECT 1 FROM sp_reference i WHERE i.resource_id = {alias}.patient_id AND "
                       f"i.resource_type = 'Patient' AND i.param = 'organization' AND i.target_type = 'Organization' "
                       f"AND i.target_id = ANY({b.bind(list(r.organizations))})) "
                       f"OR EXISTS (SELECT 1 FROM ({care_relation_sql(r, b)}) c "
                       f"WHERE c.patient_id = {alias}.patient_id))")
            type_ok = "TRUE" if types == "*" else f"{alias}.resource_type = ANY({b.bind(sorted(types or ()))})"
            if partial:  # the kinds a role reaches of a type it does not reach whole (the registrar's paper cards)
                type_ok = "(" + " OR ".join([type_ok, *(k.sql(b, alias) for k in partial)]) + ")"
            parts.append(f"({in_care} AND {type_ok})")
        if any("Patient" in role_rules(sr.role).get("find_anywhere", []) for sr in r.roles):
            parts.append(f"{alias}.resource_type = 'Patient'")
        if r.break_glass and may_break_glass(r):
            parts.append("TRUE")  # emergency access: recorded and flagged for review with every row it shows
        return "(" + " OR ".join(parts) + ")"

    def may_match(self, rtype: str) -> bool:
        """Whether the token may search ``rtype``: what a conditional write's criteria need, since they
        are matched among what the requester may see."""
        types = self.requester.scopes.types_for("search")
        return types is None or rtype in types

    def readable_types(self) -> frozenset[str] | None:
        """The resource types of a record the requester may read, by scopes and roles (None: every type).
        Whose records those are is :meth:`decide`'s question; this is for operations that show many types
        of one record at once ($everything, $summary)."""
        r = self.requester
        scoped = r.scopes.types_for("read")
        reach: str | set[str] | None = "*"
        if r.kind == "staff" and not (r.break_glass and may_break_glass(r)):
            reach = self._staff_types([sr.role for sr in r.roles if "read" in role_rules(sr.role)["actions"]])
        if reach is None:
            return frozenset()
        if reach == "*":
            return None if scoped is None else frozenset(scoped)
        return frozenset(reach if scoped is None else set(reach) & scoped)

    def readable_kinds(self) -> dict[str, frozenset[str]]:
        """Of the types :meth:`readable_types` leaves out, the kinds the requester may still read, by type
        (the registrar's paper cards among DocumentReferences): what a whole-record operation shows of them."""
        r = self.requester
        if r.kind != "staff" or (r.break_glass and may_break_glass(r)):
            return {}
        scoped = r.scopes.types_for("read")
        found: dict[str, frozenset[str]] = {}
        for k in _partial_kinds([sr.role for sr in r.roles], "read"):
            if scoped is None or k.rtype in scoped:
                found[k.rtype] = found.get(k.rtype, frozenset()) | {k.name}
        return found

    def _staff_types(self, roles: list[str]) -> str | set[str] | None:
        """The types the requester's care roles reach ("*" for all), None when none."""
        types: set[str] = set()
        for role in roles:
            allowed = role_rules(role)["types"]
            if allowed == "*":
                return "*"
            types |= set(allowed)
        return types or None


def _reaches_kind(role: str, rtype: str, action: str, kinds: frozenset[str] | None) -> bool:
    """Whether the role reaches, through its ``only`` rule, the resource of ``kinds`` (None: no resource in
    hand, which only a search may go on with: its SQL keeps to the kinds)."""
    reached = role_kinds(role, rtype, action)
    if not reached:
        return False
    return action == "search" if kinds is None else any(k.name in kinds for k in reached)


def _partial_kinds(roles: list[str], action: str) -> list[Kind]:
    """The kinds these roles reach of the types none of them reaches whole."""
    found: dict[str, Kind] = {}
    for role in roles:
        for rtype in role_rules(role).get("only", {}):
            if not any(role_allows_type(other, rtype, action) for other in roles):
                found.update((k.name, k) for k in role_kinds(role, rtype, action))
    return list(found.values())


def care_relation_sql(r: Requester, b: SqlBuilder) -> str:
    """(patient_id) of the children the requester holds a referral or an appointment for."""
    me = b.bind(r.practitioner_id or "")
    orgs = b.bind(list(r.organizations))
    return (f"SELECT i.patient_id FROM sp_reference i WHERE i.resource_type = 'ServiceRequest' AND i.param = "
            f"'performer' AND ((i.target_type = 'Practitioner' AND i.target_id = {me}) OR (i.target_type = "
            f"'Organization' AND i.target_id = ANY({orgs}))) AND i.patient_id IS NOT NULL "
            f"UNION SELECT i.patient_id FROM sp_reference i WHERE i.resource_type = 'Appointment' AND i.param = "
            f"'actor' AND i.target_type = 'Practitioner' AND i.target_id = {me} AND i.patient_id IS NOT NULL")


def substance_use_sql(alias: str) -> str:
    """Whether a resource is about drug addiction (ICD-10 F10–F19 anywhere in its codes)."""
    return (f"EXISTS (SELECT 1 FROM sp_token t WHERE t.resource_type = {alias}.resource_type AND t.resource_id = "
            f"{alias}.id AND t.system = '{ICD10}' AND t.code >= 'F10' AND t.code < 'F20')")


def is_substance_use(resource: dict[str, Any]) -> bool:
    """The same test on a resource in hand."""
    prefixes = tuple(rules()["substance_use_codes"]["prefixes"])

    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            if node.get("system") == ICD10 and isinstance(node.get("code"), str) and node["code"].startswith(prefixes):
                return True
            return any(walk(v) for v in node.values())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False

    return walk(resource)


def _grant_in_force(consent: dict[str, Any], on: date) -> bool:
    """An access grant: an active Consent of medcard's grant category, within its period."""
    if consent.get("status") != "active":
        return False
    categories = [c.get("code") for cat in consent.get("category", []) for c in cat.get("coding", [])]
    if GRANT_CATEGORY not in categories:
        return False
    period = (consent.get("provision") or {}).get("period") or {}
    start, end = period.get("start"), period.get("end")
    return not (start and on.isoformat() < start[:10]) and not (end and on.isoformat() > end[:10])
