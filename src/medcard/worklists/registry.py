"""The registrar's tasks: attach a child to a clinic and district, link a family account, the paper card.

- Attachment (прикрепление) is the Patient's ``managingOrganization`` (the polyclinic) and
  ``generalPractitioner`` (the district pediatrician's PractitionerRole): written through the store and
  the gate as a FHIR update, conditional on the version the form was opened with, so a form left open
  while someone else changed the record says so instead of overwriting it.
- A family account is made with :func:`medcard.access.accounts.create` and linked to the child with
  :func:`medcard.access.accounts.link` (the registrar checked the documents); the person signs in with a
  one-time password shown once to the registrar. The link is made at most once per account and child.
- The paper card (f. 112/у) is the DocumentReference with an identifier of the system
  ``urn:medcard:paper-card:<clinic>`` (synth/documents.py): its number, the years it covers and where it
  is kept (the custodian's archive), as the policy lets the requester read it: the policy's ``paper-card``
  kind lets a registrar read these DocumentReferences and no other.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from typing import Any

from psycopg import AsyncConnection

from medcard.access import accounts
from medcard.access.gate import Gate
from medcard.core import jsonutil
from medcard.core.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from medcard.fhir import interactions, store
from medcard.fhir.search.conditions import SqlBuilder
from medcard.records.names import load_names
from medcard.worklists.inbox import concept_text
from medcard.worklists.practice import DISTRICT_SYSTEM, Child

PAPER_CARD_SYSTEM = "urn:medcard:paper-card:"
CHART_MISSING = "no such patient"
MAX_TEXT = 200


class FormInvalid(BadRequest):
    """Values of a form that cannot be saved: the message of each field, by the field's name."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class StaleForm(PreconditionFailed):
    """The record changed since the form was opened."""


# --- attachment ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DistrictOption:
    role_id: str
    organization_id: str
    number: str
    doctor: str  # the PractitionerRole's text («Врач-педиатр участковый, участок № 3») or the practitioner's name


@dataclass(frozen=True)
class ClinicOption:
    id: str
    name: str
    districts: tuple[DistrictOption, ...]


@dataclass(frozen=True)
class Attachment:
    child: Child
    version: int
    organization_id: str | None
    district_role_id: str | None


CLINICS_SQL = """
SELECT r.resource_type, r.id, r.content FROM resource r
 WHERE ((r.resource_type = 'Organization' AND r.id = ANY({orgs}))
        OR (r.resource_type = 'PractitionerRole' AND r.id IN (
              SELECT i.resource_id FROM sp_reference i WHERE i.target_type = 'Organization'
                 AND i.target_id = ANY({orgs}) AND i.resource_type = 'PractitionerRole' AND i.param = 'organization')
            AND EXISTS (SELECT 1 FROM sp_token t WHERE t.resource_type = 'PractitionerRole' AND t.resource_id = r.id
                           AND t.param = 'identifier' AND t.system = {district})))
   AND NOT r.deleted AND {visible}
"""


async def clinics(conn: AsyncConnection, gate: Gate) -> list[ClinicOption]:
    """The clinics the requester works in and their districts, to attach a child to (one query)."""
    orgs = sorted(set(gate.requester.organizations))
    if not orgs:
        return []
    await gate.prepare_search()
    b = SqlBuilder()
    sql = CLINICS_SQL.format(orgs=b.bind(orgs), district=b.bind(DISTRICT_SYSTEM), visible=gate.visible(b, "*", "r"))
    cur = await conn.execute(sql, b.params)
    names: dict[str, str] = {}
    districts: dict[str, list[DistrictOption]] = {}
    for rtype, rid, content in await cur.fetchall():
        resource = jsonutil.loads(content)
        if rtype == "Organization":
            names[str(rid)] = str(resource.get("name") or rid)
        elif resource.get("active") is not False:
            org = (resource.get("organization") or {}).get("reference", "").removeprefix("Organization/")
            code = next(i["value"] for i in resource.get("identifier", ()) if i.get("system") == DISTRICT_SYSTEM)
            text = concept_text((resource.get("code") or [{}])[0]) or "Участок"
            districts.setdefault(org, []).append(DistrictOption(str(rid), org, str(code).rsplit("-", 1)[-1], text))
    return [ClinicOption(org, names.get(org, org), tuple(sorted(districts.get(org, []), key=_district_order)))
            for org in orgs if org in names]


def _district_order(d: DistrictOption) -> tuple[int, str]:
    return (int(d.number), d.number) if d.number.isdigit() else (1 << 30, d.number)


async def attachment(conn: AsyncConnection, gate: Gate, patient_id: str) -> Attachment:
    """The child's attachment now, with the version a form edits (an audited read of the Patient)."""
    stored = await store.read_current(conn, "Patient", patient_id)
    if stored is None or stored.deleted:
        raise NotFound(CHART_MISSING)
    await gate.check(patient_id, "Patient", "read", entity=f"Patient/{patient_id}", content=stored.content,
                     missing=CHART_MISSING)
    patient = stored.resource()
    org = (patient.get("managingOrganization") or {}).get("reference", "")
    roles = [g.get("reference", "") for g in patient.get("generalPractitioner", ()) if isinstance(g, dict)]
    role = next((r.removeprefix("PractitionerRole/") for r in roles if r.startswith("PractitionerRole/")), None)
    return Attachment(Child.of(patient), stored.version_id,
                      org.removeprefix("Organization/") if org.startswith("Organization/") else None, role)


async def attach(conn: AsyncConnection, gate: Gate, patient_id: str, *, version: str, organization_id: str,
                 district_role_id: str) -> int:
    """Attach the child to a clinic and district, if the Patient is still at ``version``; the new version.

    The clinic must be one the registrar works in and the district one of its districts
    (:class:`FormInvalid` names the field otherwise); the write passes the gate like any update.
    """
    options = {c.id: c for c in await clinics(conn, gate)}
    errors: dict[str, str] = {}
    clinic = options.get(organization_id)
    if clinic is None:
        errors["organization"] = "Выберите поликлинику из списка"
    elif district_role_id not in {d.role_id for d in clinic.districts}:
        errors["district"] = "Выберите участок этой поликлиники"
    if not version.isdigit():
        errors["version"] = "Форма повреждена: откройте её заново"
    if errors:
        raise FormInvalid(errors)
    stored = await store.read_current(conn, "Patient", patient_id)
    if stored is None or stored.deleted:
        raise NotFound(CHART_MISSING)
    if stored.version_id != int(version):
        raise StaleForm("the record was changed since the form was opened")
    patient = stored.resource()
    patient["managingOrganization"] = {"reference": f"Organization/{organization_id}"}
    others = [g for g in patient.get("generalPractitioner", ())
              if not str((g or {}).get("reference", "")).startswith("PractitionerRole/")]
    patient["generalPractitioner"] = [{"reference": f"PractitionerRole/{district_role_id}"}, *others]
    ctx = interactions.Context(conn, "", gate)
    try:
        outcome = await interactions.update(ctx, "Patient", patient_id, patient, if_match=int(version))
        await ctx.batch.flush()
    except (PreconditionFailed, Conflict) as e:  # changed between our read and the write
        raise StaleForm("the record was changed since the form was opened") from e
    assert outcome.stored is not None
    return outcome.stored.version_id


# --- family accounts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyLink:
    username: str
    relationship: str
    status: str


@dataclass(frozen=True)
class NewFamilyAccount:
    username: str
    password: str | None  # shown once to the registrar; None when the account existed and was only linked
    linked: bool  # False: the account was linked to the child already


async def family_links(conn: AsyncConnection, gate: Gate, patient_id: str) -> list[FamilyLink]:
    """The family accounts linked to the child (legal representatives), as the registrar sees them."""
    await gate.check(patient_id, "RelatedPerson", "search", entity="RelatedPerson", subtype="search",
                     query="workspace: family accounts of the child", missing=CHART_MISSING)
    return [FamilyLink(link.username, link.relationship, link.status)
            for link in await accounts.links(conn, patient_id=patient_id) if link.status in ("active", "requested")]


def _clean(value: str, field: str, errors: dict[str, str], *, required: str) -> str:
    text = " ".join(value.split())
    if not text:
        errors[field] = required
    elif len(text) > MAX_TEXT:
        errors[field] = f"Не длиннее {MAX_TEXT} символов"
    return text


def _username(text: str) -> str:
    """An e-mail address as given, or a phone number as +digits; "" when it is neither."""
    if "@" in text:
        local, _, domain = text.partition("@")
        return text if local and "." in domain and " " not in text else ""
    digits = "".join(c for c in text if c not in " -()")
    plus = digits.startswith("+")
    return ("+" if plus else "") + digits.lstrip("+") if digits.lstrip("+").isdigit() and \
        10 <= len(digits.lstrip("+")) <= 15 else ""


async def link_family(conn: AsyncConnection, gate: Gate, patient_id: str, *, username: str, display_name: str,
                      relationship: str, document: str, identity_document: str) -> NewFamilyAccount:
    """Create a family account (or take the existing family account of ``username``) and link it to the child.

    The registrar checked the documents in person: the document of the right to represent the child
    (a birth certificate, a guardianship order) is kept with the link, and with the identity document
    the account becomes a full account. Linking twice (a double submit) links once.
    """
    errors: dict[str, str] = {}
    username = _clean(username, "username", errors, required="Укажите адрес электронной почты или телефон").lower()
    display_name = _clean(display_name, "display_name", errors, required="Укажите фамилию, имя и отчество")
    document = _clean(document, "document", errors, required="Укажите документ, подтверждающий права представителя")
    identity_document = _clean(identity_document, "identity_document", errors,
                               required="Укажите документ, удостоверяющий личность")
    if relationship not in accounts.RELATIONSHIPS:
        errors["relationship"] = "Выберите, кем приходится ребёнку"
    if username and "username" not in errors:
        username = _username(username)
        if not username:
            errors["username"] = "Адрес электронной почты (name@example.ru) или номер телефона (+7 900 123-45-67)"
    if errors:
        raise FormInvalid(errors)
    await gate.check(patient_id, "RelatedPerson", "create", entity=f"Patient/{patient_id}", subtype="operation",
                     query="workspace: link a family account", missing=CHART_MISSING)
    # two submits of one form: the second waits for the first and then finds its account and link
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"family-link:{username}",))
    existing = await accounts.by_username(conn, username)
    password: str | None = None
    if existing is None:
        password = secrets.token_urlsafe(9)
        account_id = await accounts.create(conn, kind="family", username=username, display_name=display_name,
                                           password=password)
    elif existing.kind != "family":
        raise FormInvalid({"username": "Это имя занято учётной записью сотрудника"})
    else:
        account_id = existing.id
    if existing is None or existing.level != "full":
        await accounts.verify_identity(conn, account_id, str(gate.requester.account_id), identity_document)
    current = await accounts.links(conn, patient_id=patient_id, account_id=account_id)
    if any(link.status == "active" for link in current):
        return NewFamilyAccount(username, password, False)
    await accounts.link(conn, gate.requester, account_id, patient_id, relationship, document)
    return NewFamilyAccount(username, password, True)


# --- the paper card -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperCard:
    number: str
    clinic: str  # the clinic's number from the identifier's system
    covers: tuple[str | None, str | None]  # the period's start and end (dates as recorded)
    status: str
    description: str
    custodian: str | None  # Organization/<id>
    transferred: str | None  # when it went to the archive (the DocumentReference's date)
    custodian_name: str = ""  # the archive's organization by name ("" when not known)

    @property
    def years(self) -> tuple[int, int] | None:
        """The first and last year the card covers, when both are recorded."""
        start, end = self.covers
        return (int(start[:4]), int(end[:4])) if start and end and start[:4].isdigit() and end[:4].isdigit() else None


PAPER_CARD_SQL = """
SELECT r.content FROM resource r
 WHERE r.resource_type = 'DocumentReference' AND r.patient_id = {patient} AND NOT r.deleted
   AND EXISTS (SELECT 1 FROM sp_token t WHERE t.resource_type = 'DocumentReference' AND t.resource_id = r.id
                  AND t.param = 'identifier' AND t.system LIKE {prefix})
   AND {visible}
 ORDER BY r.id
"""


async def paper_cards(conn: AsyncConnection, gate: Gate, patient_id: str) -> list[PaperCard] | None:
    """The child's paper cards (one query, audited); None when the policy does not let the requester read
    the child's documents (the registrar is told who can)."""
    await gate.prepare_search()
    # asked of the policy without an audit entry: a registrar opening the page is not refused anything
    if not await gate.policy.decide(patient_id, "DocumentReference", "search"):
        return None
    b = SqlBuilder()
    sql = PAPER_CARD_SQL.format(patient=b.bind(patient_id), prefix=b.bind(PAPER_CARD_SYSTEM + "%"),
                                visible=gate.visible(b, "DocumentReference", "r"))
    cur = await conn.execute(sql, b.params)
    docs = [jsonutil.loads(content) for (content,) in await cur.fetchall()]
    docs = [d for d in docs if d.get("status") != "entered-in-error"]  # recorded by mistake: no card
    gate.saw("search", "DocumentReference", "workspace: paper card", [patient_id] if docs else [])
    names = await load_names(conn, [[{"custodian": d.get("custodian")} for d in docs]])
    return [replace(_paper_card(d), custodian_name=names.of(d.get("custodian"))) for d in docs]


def _paper_card(doc: dict[str, Any]) -> PaperCard:
    ident = next(i for i in doc.get("identifier", ()) if str(i.get("system", "")).startswith(PAPER_CARD_SYSTEM))
    period = (doc.get("context") or {}).get("period") or {}
    return PaperCard(str(ident.get("value", "")), str(ident["system"]).removeprefix(PAPER_CARD_SYSTEM),
                     (period.get("start"), period.get("end")), str(doc.get("status", "")),
                     str(doc.get("description") or ""), (doc.get("custodian") or {}).get("reference"),
                     doc.get("date") if isinstance(doc.get("date"), str) else None)
