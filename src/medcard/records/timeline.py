"""A child's timeline («Хронология»): everything in time order, newest first, filtered and searched.

Events are the record's visits and consultations (Encounters that are not part of another),
results (DiagnosticReports, and laboratory Observations outside any report), documents (other
than visit protocols, which open with their visit) and immunizations. A page is one statement
over the patient's date index (``sp_date``), paged by keyset on (time, type, id), 50 at a time;
then one statement for the diagnoses of the page's visits, one for the names they mention, and,
when searching, one for the highlighted snippets. Full-text search (``_content``, Russian
stemming) matches an event when its own text matches, or the text of what belongs to it: a
visit's protocol, diagnoses and measurements, a report's values.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import Any

from markupsafe import Markup
from psycopg import AsyncConnection

from medcard.access.gate import Gate
from medcard.core.errors import BadRequest
from medcard.core.time import CLINIC_TZ
from medcard.fhir import paging
from medcard.records import fhirview as fv
from medcard.records.ages import age_at
from medcard.records.banner import Banner, open_record
from medcard.records.names import Names, load_names

PAGE = 50
MAX_QUERY = 200
KINDS = {"visit": "Приёмы", "consultation": "Консультации", "result": "Анализы", "document": "Документы",
         "immunization": "Прививки"}
KIND_OF_ONE = {"visit": "Приём", "consultation": "Консультация", "result": "Анализ", "document": "Документ",
               "immunization": "Прививка"}
PROTOCOL_TYPES = ("11506-3", "11488-4")
PEDIATRICIAN = "pediatrician"
# Markers ts_headline puts around a match: control characters, which no stored FHIR string may hold,
# so the snippet can be escaped whole and the markers turned into <mark> afterwards.
START, STOP = "\x02", "\x03"


@cache
def chapters() -> list[dict[str, str]]:
    """ICD-10 chapters (I..XXII) with their code ranges, from the data file."""
    data = json.loads(resources.files(__package__).joinpath("icd10_chapters.json").read_text("utf-8"))
    return list(data["chapters"])


@dataclass(frozen=True)
class Filters:
    """What the clinician narrowed the timeline to; every field optional."""

    kind: str = ""
    specialty: str = ""
    since: date | None = None
    until: date | None = None
    chapter: str = ""
    q: str = ""

    @property
    def active(self) -> bool:
        return any((self.kind, self.specialty, self.since, self.until, self.chapter, self.q))


def parse_filters(params: dict[str, str]) -> Filters:
    """Filters from query parameters; a bad value is a 400 that names the parameter and why."""
    kind = params.get("kind", "").strip()
    if kind and kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    chapter = params.get("chapter", "").strip()
    if chapter and chapter not in {c["chapter"] for c in chapters()}:
        raise BadRequest(f"chapter must be an ICD-10 chapter number I..XXII, not {chapter!r}")
    specialty = params.get("specialty", "").strip()
    if len(specialty) > 64 or not all(ch.isalnum() or ch in "-_" for ch in specialty):
        raise BadRequest("specialty must be a specialist code such as otorhinolaryngologist")
    q = " ".join(params.get("q", "").split())
    if len(q) > MAX_QUERY:
        raise BadRequest(f"the search text is longer than {MAX_QUERY} characters")
    since, until = _day(params, "from"), _day(params, "to")
    if since and until and since > until:
        raise BadRequest("the date range ends before it starts (from is after to)")
    return Filters(kind, specialty, since, until, chapter, q)


def _day(params: dict[str, str], name: str) -> date | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a date such as 2025-03-01, not {raw!r}") from None


# --- The statement -------------------------------------------------------------------------------

# The encounter an event belongs to: itself, or the one it names.
_ENCOUNTER_OF = """(CASE WHEN d.resource_type = 'Encounter' THEN d.resource_id ELSE (
    SELECT f.target_id FROM sp_reference f WHERE f.resource_type = d.resource_type AND f.resource_id = d.resource_id
       AND f.param = 'encounter' AND f.target_type = 'Encounter' LIMIT 1) END)"""
_SERVICE = ("(SELECT e.content::jsonb #>> '{serviceType,coding,0,code}' FROM resource e "
            "WHERE e.resource_type = 'Encounter' AND e.id = " + _ENCOUNTER_OF + ")")

# Every condition reads only this child's index entries: a set of the child's own ids through an index
# that leads with the patient (sp_token), or a probe per row through the row's own entries (sp_reference,
# a scalar subquery PostgreSQL cannot turn into a scan of the whole store). Written as plain EXISTS inside
# an OR, PostgreSQL hashed the subqueries over the whole store instead (measured: the timeline then grew
# with the city, not with the child).
_EVENTS = """
SELECT d.resource_type, d.resource_id, d.low, HIT_COLUMN AS hit FROM sp_date d
 WHERE d.patient_id = %(p)s AND d.param = 'date' AND d.resource_type = ANY(%(types)s)
   AND (d.resource_type <> 'Encounter' OR (
        SELECT 1 FROM sp_reference f WHERE f.resource_id = d.resource_id AND f.resource_type = 'Encounter'
           AND f.param = 'part-of' LIMIT 1) IS NULL)
   AND (d.resource_type <> 'DocumentReference' OR d.resource_id NOT IN (
        SELECT t.resource_id FROM sp_token t WHERE t.resource_type = 'DocumentReference' AND t.param = 'type'
           AND t.code = ANY(%(protocols)s) AND t.patient_id = %(p)s))
   AND (d.resource_type <> 'Observation' OR (d.resource_id IN (
        SELECT t.resource_id FROM sp_token t WHERE t.resource_type = 'Observation' AND t.param = 'category'
           AND t.code = 'laboratory' AND t.patient_id = %(p)s)
       AND (SELECT 1 FROM sp_reference f WHERE f.target_type = 'Observation' AND f.target_id = d.resource_id
           AND f.resource_type = 'DiagnosticReport' AND f.param = 'result' LIMIT 1) IS NULL))
"""

_MATCHES = """m AS (SELECT t.resource_type, t.resource_id FROM sp_text t
       WHERE t.patient_id = %(p)s AND t.content @@ websearch_to_tsquery('russian', %(q)s))"""
# The resource whose text matched: a document that belongs to the event (its protocol says most),
# else the event itself, else another resource that belongs to it (a diagnosis, a report's value).
_HIT = """(SELECT h FROM (
    SELECT ARRAY[d.resource_type, d.resource_id] AS h, 1 AS o
     WHERE (d.resource_type, d.resource_id) IN (SELECT * FROM m)
    UNION ALL SELECT ARRAY[f.resource_type, f.resource_id], CASE f.resource_type WHEN 'DocumentReference' THEN 0
           ELSE 2 END FROM sp_reference f
     WHERE d.resource_type = 'Encounter' AND f.target_type = 'Encounter' AND f.target_id = d.resource_id
       AND f.param = 'encounter' AND (f.resource_type, f.resource_id) IN (SELECT * FROM m)
    UNION ALL SELECT ARRAY[f.target_type, f.target_id], 2 FROM sp_reference f
     WHERE d.resource_type = 'DiagnosticReport' AND f.resource_type = 'DiagnosticReport'
       AND f.resource_id = d.resource_id AND f.param = 'result' AND (f.target_type, f.target_id) IN (SELECT * FROM m)
    ) hits ORDER BY o LIMIT 1)"""

TYPES_OF = {"visit": ["Encounter"], "consultation": ["Encounter"], "result": ["DiagnosticReport", "Observation"],
            "document": ["DocumentReference"], "immunization": ["Immunization"]}
ALL_TYPES = ["Encounter", "DiagnosticReport", "Observation", "DocumentReference", "Immunization"]


def events_sql(f: Filters, after: tuple[str, str, str] | None) -> tuple[str, dict[str, Any]]:
    """The statement of one page (PAGE + 1 rows, to know whether there is a next) and its parameters."""
    params: dict[str, Any] = {"types": TYPES_OF.get(f.kind, ALL_TYPES), "protocols": list(PROTOCOL_TYPES),
                              "limit": PAGE + 1}
    where: list[str] = []
    if f.kind in ("visit", "consultation"):
        op = "=" if f.kind == "visit" else "IS DISTINCT FROM"
        where.append(f"coalesce({_SERVICE}, 'pediatrician') {op} 'pediatrician'")
    if f.specialty:
        params["specialty"] = f.specialty
        where.append(f"{_SERVICE} = %(specialty)s")
    if f.since:
        params["since"] = datetime.combine(f.since, time.min, CLINIC_TZ)
        where.append("d.low >= %(since)s")
    if f.until:
        params["until"] = datetime.combine(f.until + timedelta(days=1), time.min, CLINIC_TZ)
        where.append("d.low < %(until)s")
    if f.chapter:
        chapter = next(c for c in chapters() if c["chapter"] == f.chapter)
        params.update(first=chapter["first"], last=chapter["last"])
        # a scalar subquery (LIMIT 1), probed per event through the reference index, never a join over the store
        where.append(
            "coalesce((SELECT true FROM sp_reference c JOIN sp_token t ON t.resource_type = c.resource_type "
            "AND t.resource_id = c.resource_id AND t.param = 'code' AND t.system = 'http://hl7.org/fhir/sid/icd-10' "
            f"WHERE c.target_type = 'Encounter' AND c.target_id = {_ENCOUNTER_OF} AND c.resource_type = 'Condition' "
            "AND c.param = 'encounter' AND left(t.code, 3) BETWEEN %(first)s AND %(last)s LIMIT 1), false)")
    if after is not None:
        params.update(at=datetime.fromisoformat(after[0]), at_type=after[1], at_id=after[2])
        where.append("(d.low, d.resource_type, d.resource_id) < (%(at)s, %(at_type)s, %(at_id)s)")
    events = _EVENTS.replace("HIT_COLUMN", _HIT if f.q else "NULL::text[]") + "".join(f"   AND {w}\n" for w in where)
    head = "WITH"
    if f.q:
        params["q"] = f.q
        head = f"WITH {_MATCHES},"
        events = f"SELECT * FROM ({events}) ev WHERE ev.hit IS NOT NULL"
    sql = (f"{head} page AS ({events} ORDER BY 3 DESC, 1 DESC, 2 DESC LIMIT %(limit)s)\n"
           "SELECT ev.resource_type, ev.resource_id, ev.low, r.content, ev.hit, "
           "(SELECT h.content FROM resource h WHERE h.resource_type = ev.hit[1] AND h.id = ev.hit[2]) "
           "FROM page ev JOIN resource r ON r.resource_type = ev.resource_type AND r.id = ev.resource_id "
           "AND NOT r.deleted ORDER BY ev.low DESC, ev.resource_type DESC, ev.resource_id DESC")
    return sql, params


DIAGNOSES_SQL = """
SELECT f.target_id, r.content FROM sp_reference f JOIN resource r ON r.resource_type = 'Condition'
   AND r.id = f.resource_id AND NOT r.deleted
 WHERE f.target_type = 'Encounter' AND f.target_id = ANY(%(encounters)s) AND f.resource_type = 'Condition'
   AND f.param = 'encounter'
"""

HEADLINE_SQL = """
SELECT ts_headline('russian', u.t, websearch_to_tsquery('russian', %(q)s),
                   'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=24, MinWords=8, MaxFragments=2, '
                   || 'FragmentDelimiter=" … "')
  FROM unnest(%(texts)s::text[]) WITH ORDINALITY AS u(t, n) ORDER BY u.n
"""

SPECIALTIES_SQL = """
SELECT DISTINCT e.content::jsonb #>> '{serviceType,coding,0,code}', e.content::jsonb #>> '{serviceType,text}'
  FROM resource e WHERE e.patient_id = %(p)s AND e.resource_type = 'Encounter' AND NOT e.deleted
"""


# --- The view model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    kind: str  # a key of KINDS
    rtype: str
    id: str
    at: datetime
    day: date
    age: str
    title: str
    detail: str
    who: str
    abnormal: bool = False
    snippet: Markup | None = None

    @property
    def href(self) -> str:
        """Where the event opens, relative to the patient's chart ('' when it shows all it has)."""
        return fv.detail_path(self.rtype, self.id)


@dataclass
class Timeline:
    banner: Banner
    filters: Filters
    events: list[Event] = field(default_factory=list)
    next_cursor: str = ""
    specialties: list[tuple[str, str]] = field(default_factory=list)  # (code, title) found in the record


async def load_timeline(conn: AsyncConnection, gate: Gate, patient_id: str, today: date, filters: Filters,
                        cursor: str = "", *, with_options: bool = True) -> Timeline:
    """One page of the timeline; ``cursor`` continues after the previous page (from ``next_cursor``)."""
    after = _cursor(cursor)
    opened = await open_record(conn, gate, patient_id, today, purpose="timeline")
    shown = opened.shown
    sql, params = events_sql(filters, after)
    cur = await conn.execute(sql, {"p": patient_id, **params})
    rows = [row for row in await cur.fetchall() if shown(row[0], row[3])]
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    parsed = [(rt, rid, at, fv.parse(content), hit, hit_content) for rt, rid, at, content, hit, hit_content in rows]
    encounters = [rid for rt, rid, *_ in parsed if rt == "Encounter"]
    diagnoses: dict[str, list[str]] = {}
    if encounters and shown("Condition", "{}"):
        cur = await conn.execute(DIAGNOSES_SQL, {"encounters": encounters})
        for enc, content in await cur.fetchall():
            if shown("Condition", content):
                diagnoses.setdefault(enc, []).append(_diagnosis(fv.parse(content)))
    names = await load_names(conn, [[p[3] for p in parsed]])
    snippets = await _snippets(conn, filters.q, [(h, c) for *_, h, c in parsed], shown) if filters.q else []
    timeline = Timeline(banner=opened.banner, filters=filters)
    birth = opened.banner.birth_date
    for i, (rt, rid, at, resource, _, _) in enumerate(parsed):
        event = _event(rt, rid, at, resource, birth, diagnoses.get(rid, []), names)
        snippet = snippets[i] if snippets else None
        if snippet is not None:
            event = _with_snippet(event, snippet)
        timeline.events.append(event)
    if more and parsed:
        last = parsed[-1]
        timeline.next_cursor = paging.encode([last[2].isoformat(), last[0], last[1]])
    if with_options:
        cur = await conn.execute(SPECIALTIES_SQL, {"p": patient_id})
        timeline.specialties = sorted(((c, t or c) for c, t in await cur.fetchall() if c), key=lambda x: x[1])
    return timeline


def _cursor(token: str) -> tuple[str, str, str] | None:
    if not token:
        return None
    values = paging.decode(token, 3)
    if not all(isinstance(v, str) for v in values):
        raise BadRequest("the paging token is not one this server issued (was the link edited?)")
    try:
        datetime.fromisoformat(values[0])
    except ValueError:
        raise BadRequest("the paging token is not one this server issued (was the link edited?)") from None
    return values[0], values[1], values[2]


def _with_snippet(event: Event, snippet: Markup) -> Event:
    return Event(event.kind, event.rtype, event.id, event.at, event.day, event.age, event.title, event.detail,
                 event.who, event.abnormal, snippet)


def _diagnosis(condition: dict[str, Any]) -> str:
    code = fv.code_in(condition.get("code"), fv.ICD10)
    title = fv.text_of(condition.get("code"))
    return f"{code} {title}" if code else title


def _event(rt: str, rid: str, at: datetime, r: dict[str, Any], birth: date | None, diagnoses: list[str],
           names: Names) -> Event:
    day = at.astimezone(CLINIC_TZ).date()
    age = age_at(birth, day)
    if rt == "Encounter":
        service = fv.code_in(r.get("serviceType"), fv.SPECIALIST)
        kind = "consultation" if service and service != PEDIATRICIAN else "visit"
        who = next((names.of(p.get("individual")) for p in r.get("participant") or () if isinstance(p, dict)), "")
        title = fv.texts_of(r.get("type")) or "Приём"
        if kind == "consultation":
            title = fv.text_of(r.get("serviceType")) or title
        detail = "; ".join(diagnoses) or fv.texts_of(r.get("reasonCode"))
        return Event(kind, rt, rid, at, day, age, title, detail, who)
    if rt == "DiagnosticReport":
        return Event("result", rt, rid, at, day, age, fv.text_of(r.get("code")) or "Исследование",
                     str(r.get("conclusion") or ""), next((names.of(p) for p in r.get("performer") or ()), ""),
                     abnormal=str(r.get("conclusion") or "").startswith("Выявлено"))
    if rt == "Observation":
        code = fv.flag(r)
        detail = " ".join(x for x in (fv.value_text(r), fv.FLAG_TEXT.get(code, "") if code != "N" else "") if x)
        return Event("result", rt, rid, at, day, age, fv.text_of(r.get("code")) or "Показатель", detail,
                     next((names.of(p) for p in r.get("performer") or ()), ""), abnormal=code not in ("", "N"))
    if rt == "DocumentReference":
        return Event("document", rt, rid, at, day, age, str(r.get("description") or fv.text_of(r.get("type"))
                     or "Документ"), fv.text_of(r.get("type")), next((names.of(a) for a in r.get("author") or ()), ""))
    status = "" if r.get("status") == "completed" else (fv.text_of(r.get("statusReason")) or "не выполнена")
    diseases = ", ".join(fv.text_of(t) for a in r.get("protocolApplied") or () if isinstance(a, dict)
                         for t in a.get("targetDisease") or ())
    return Event("immunization", rt, rid, at, day, age, fv.text_of(r.get("vaccineCode")) or "Прививка",
                 "; ".join(x for x in (diseases, status) if x),
                 next((names.of(p.get("actor")) for p in r.get("performer") or () if isinstance(p, dict)), ""))


async def _snippets(conn: AsyncConnection, q: str, hits: list[tuple[list[str] | None, str | None]],
                    shown: Any) -> list[Markup | None]:
    """The matching passage of each hit's text, escaped, with the matches in <mark> (one statement)."""
    texts = [searchable_text(fv.parse(c)) if h and c and shown(h[0], c) else "" for h, c in hits]
    cur = await conn.execute(HEADLINE_SQL, {"q": q, "texts": texts})
    out: list[Markup | None] = []
    for (line,), text in zip(await cur.fetchall(), texts, strict=True):
        if not text or START not in line:
            out.append(None)
            continue
        escaped = html.escape(line.replace("\n", " "), quote=True)
        out.append(Markup(escaped.replace(START, "<mark>").replace(STOP, "</mark>")))  # noqa: S704 - escaped above
    return out


_TEXT_KEYS = ("text", "conclusion", "description", "valueString", "title")


def searchable_text(resource: dict[str, Any]) -> str:
    """The human text of a resource for a snippet: a document's own text, else its texts and displays."""
    if resource.get("resourceType") == "DocumentReference":
        own = fv.attachment_text(resource)
        if own:
            return own
    found: list[str] = []

    def walk(node: Any, depth: int) -> None:
        if depth > 6 or len(found) > 200:
            return
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _TEXT_KEYS and isinstance(value, str) and key != "div":
                    found.append(value)
                elif isinstance(value, dict | list) and key not in ("meta", "text"):
                    walk(value, depth + 1)
        elif isinstance(node, list):
            for item in node:
                walk(item, depth + 1)

    walk(resource, 0)
    return "\n".join(dict.fromkeys(found))
