"""Reading import input: NDJSON files, Bundles and folders of them, as a stream of items.

Each item is one resource with where it came from (file and line, or file and entry), or one
transaction Bundle to be written all or nothing, or a file skipped whole: one that plainly holds
no resources (no line, or no top-level object, with a ``resourceType``), such as the
``log.ndjson`` of a Bulk Data client or the manifest next to an export's files. NDJSON is read
line by line; a Bundle file is read entry by entry with ijson, so memory stays flat however
large the input. Files are taken in an order that lets references resolve early: reference data
(organizations, practitioners, locations) first, then patients, then the rest.
"""

from __future__ import annotations

import contextlib
import gzip
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import ijson

from medcard.core import jsonutil
from medcard.fhir.spec import r4

SUFFIXES = (".ndjson", ".ndjson.gz", ".json", ".json.gz")
# Ids for resources that arrive without one: derived from their content, so a second import
# of the same file gives the same ids (and changes nothing).
ID_NAMESPACE = uuid.UUID("6f0cf5b9-1c57-4a5e-9d54-2f3ad7c1e6a1")


@dataclass
class Problem:
    """Why an input item was not imported, and where it is."""

    source: str
    where: str  # "line 17", "entry 3", "" for the whole file
    reason: str

    def __str__(self) -> str:
        return f"{self.source}{': ' + self.where if self.where else ''}: {self.reason}"


@dataclass
class Item:
    """One resource to import, or a transaction Bundle (``transaction``), or a problem.

    A resource comes either as the raw text of an NDJSON line (``raw``, parsed later, possibly in
    another process) or already parsed from a Bundle (``resource``).
    """

    source: str
    where: str
    resource: dict[str, Any] | None = None
    raw: bytes | None = None
    transaction: list[Item] = field(default_factory=list)
    problem: Problem | None = None
    skipped: str | None = None  # the whole file was skipped: why


def input_files(paths: list[Path]) -> list[Path]:
    """The files to import, folders expanded, in dependency-friendly order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
        else:
            files.append(path)
    return sorted(files, key=_rank)


def _rank(path: Path) -> tuple[int, str]:
    """Reference data first, then patients, then the rest; names like Practitioner.000.ndjson tell."""
    rtype = path.name.split(".")[0]
    if rtype in r4().resource_type_names and rtype not in r4().patient_compartment:
        return (0, str(path))
    if rtype == "Patient":
        return (1, str(path))
    return (2, str(path))


def _open(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")


def read(path: Path) -> Iterator[Item]:
    """The items of one file."""
    name = str(path)
    if not path.exists():
        yield Item(name, "", problem=Problem(name, "", "no such file"))
        return
    if ".ndjson" in path.name:
        if _holds_no_resource(path):
            yield Item(name, "", skipped=NOT_RESOURCES)
            return
        yield from _ndjson(path, name)
    else:
        yield from _json(path, name)


NOT_RESOURCES = "no line holds a FHIR resource (none has a resourceType); skipped"


def _holds_no_resource(path: Path) -> bool:
    """Whether an NDJSON file has lines, none of which is an object with a ``resourceType``.

    Reads until the first such line: the first line of a resource file, the whole of a log. A
    file of resources with bad lines among them is a resource file (its bad lines are problems). So
    is a file none of whose lines is JSON (not UTF-8, say): it is not plainly something else, so it
    is read, and its problems are reported, rather than skipped.
    """
    parsed = False
    try:
        with _open(path) as f:
            for raw in f:
                if not raw.strip():
                    continue
                try:
                    value = jsonutil.loads(raw)
                except ValueError:
                    continue
                parsed = True
                if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
                    return False
    except ValueError:  # not text: reported by the reader
        return False
    return parsed


def _ndjson(path: Path, name: str) -> Iterator[Item]:
    with _open(path) as f:
        for number, raw in enumerate(f, start=1):
            if raw.strip():
                yield Item(name, f"line {number}", raw=raw)


def parse_line(raw: bytes) -> dict[str, Any]:
    """An NDJSON line as a resource with an id; :class:`ValueError` saying why when it is not one."""
    resource = jsonutil.loads(raw)  # a JsonError (a ValueError) says where
    if not isinstance(resource, dict):
        raise ValueError("a line must hold one resource (a JSON object)")
    return with_id(resource, raw)


def with_id(resource: dict[str, Any], raw: bytes | str | None = None) -> dict[str, Any]:
    """The resource with its id, or with one derived from its content when it has none."""
    if "id" in resource:
        return resource
    seed = raw if raw is not None else jsonutil.dumps(resource)
    text = seed.decode("utf-8", "replace") if isinstance(seed, bytes) else seed
    return {**resource, "id": str(uuid.uuid5(ID_NAMESPACE, text))}


def _json(path: Path, name: str) -> Iterator[Item]:
    """A single resource or a Bundle; Bundle entries are streamed."""
    try:
        kind, bundle_type = _peek(path)
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as e:
        yield Item(name, "", problem=Problem(name, "", f"invalid JSON: {e}"))
        return
    if kind is None and _is_json_object(path):
        yield Item(name, "", skipped="the file holds no FHIR resource (no resourceType); skipped")
        return
    if kind != "Bundle":
        try:
            resource = jsonutil.loads(path.read_bytes() if not path.name.endswith(".gz")
                                      else gzip.decompress(path.read_bytes()))
        except jsonutil.JsonError as e:
            yield Item(name, "", problem=Problem(name, "", str(e)))
            return
        if not isinstance(resource, dict):
            yield Item(name, "", problem=Problem(name, "", "the file holds no FHIR resource"))
            return
        yield Item(name, "", resource=with_id(resource))
        return
    ids = _full_url_ids(path)
    entries = _entries(path, name, ids)
    if bundle_type == "transaction":
        yield Item(name, "", transaction=list(entries))
    else:
        yield from entries


def _is_json_object(path: Path) -> bool:
    """Whether the file is one JSON object (a manifest, a configuration: not a resource when it has no
    resourceType); anything else without a resourceType stays a problem."""
    with _open(path) as f:
        for _prefix, event, _value in ijson.parse(f):
            return bool(event == "start_map")
    return False


def _peek(path: Path) -> tuple[str | None, str | None]:
    """The top-level resourceType and Bundle.type, read without loading the file."""
    kind = bundle_type = None
    with _open(path) as f:
        for prefix, event, value in ijson.parse(f):
            if prefix == "resourceType" and event == "string":
                kind = value
            elif prefix == "type" and event == "string":
                bundle_type = value
            if kind is not None and (kind != "Bundle" or bundle_type is not None):
                break
    return kind, bundle_type


def _entry_id(entry: dict[str, Any], number: int) -> str | None:
    resource = entry.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("id"), str):
        return str(resource["id"])
    full_url = entry.get("fullUrl")
    if isinstance(full_url, str) and full_url.startswith("urn:uuid:"):
        return full_url[len("urn:uuid:"):]
    if isinstance(full_url, str) and "/" in full_url:
        return full_url.rstrip("/").rsplit("/", 1)[1]
    return None


def _full_url_ids(path: Path) -> dict[str, str]:
    """fullUrl -> Type/id of every entry (a first pass: references between entries use fullUrls)."""
    ids: dict[str, str] = {}
    with _open(path) as f, contextlib.suppress(ijson.JSONError):  # the second pass reports bad JSON
        for number, entry in enumerate(ijson.items(f, "entry.item", use_float=False)):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and isinstance(full_url, str) and "resourceType" in resource:
                rid = _entry_id(entry, number) or str(uuid.uuid5(ID_NAMESPACE, full_url))
                ids[full_url] = f"{resource['resourceType']}/{rid}"
    return ids


def _entries(path: Path, name: str, ids: dict[str, str]) -> Iterator[Item]:
    try:
        yield from _entry_items(path, name, ids)
    except (ijson.JSONError, UnicodeDecodeError) as e:
        yield Item(name, "", problem=Problem(name, "", f"invalid JSON after the last good entry: {e}"))


def _entry_items(path: Path, name: str, ids: dict[str, str]) -> Iterator[Item]:
    with _open(path) as f:
        for number, entry in enumerate(ijson.items(f, "entry.item", use_float=False)):
            where = f"entry {number}"
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                yield Item(name, where, problem=Problem(name, where, "the entry has no resource"))
                continue
            method = (entry.get("request") or {}).get("method", "PUT")
            if method not in ("POST", "PUT"):
                yield Item(name, where, problem=Problem(name, where, f"{method} entries are not imported"))
                continue
            search = (entry.get("search") or {}).get("mode")
            if search == "outcome":
                continue
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str) and full_url in ids:
                resource = {**resource, "id": ids[full_url].split("/", 1)[1]}
            resource = _rewrite(resource, ids) if ids else resource
            yield Item(name, where, resource=with_id(resource))


def _rewrite(node: Any, ids: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _rewrite(v, ids) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, ids) for v in node]
    if isinstance(node, str) and node in ids:
        return ids[node]
    return node
