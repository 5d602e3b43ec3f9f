"""``_summary`` and ``_elements``: returning part of each resource, marked SUBSETTED."""

from __future__ import annotations

from typing import Any

from medcard.fhir.spec import r4

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED",
             "display": "subsetted"}
SUMMARY_MODES = ("true", "text", "data", "count", "false")
_ALWAYS = ("resourceType", "id", "meta")


def _tagged(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    return {**resource, "meta": meta}


def _json_keys(rtype: str, names: set[str]) -> set[str]:
    """The JSON keys of the named elements (``value`` -> ``valueQuantity``, ``_birthDate``...)."""
    tdef = r4().types.get(rtype)
    if tdef is None:
        return set()
    keys = {key for key, (element, _) in tdef.keys.items() if element.name in names}
    return keys | {"_" + k for k in keys}


def summarize(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    """The resource as ``_summary=mode`` asks (true, text, data; false is the whole resource)."""
    if mode == "false":
        return resource
    rtype = resource["resourceType"]
    tdef = r4().types[rtype]
    if mode == "data":
        return _tagged({k: v for k, v in resource.items() if k != "text"})
    if mode == "text":
        wanted = {e.name for e in tdef.elements.values() if e.min > 0} | {"text"}
    else:
        wanted = {e.name for e in tdef.elements.values() if e.summary or e.min > 0}
    keys = _json_keys(rtype, wanted) | set(_ALWAYS)
    return _tagged({k: v for k, v in resource.items() if k in keys})


def select_elements(resource: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """Only the named top-level elements (and the mandatory ones), as ``_elements`` asks."""
    rtype = resource["resourceType"]
    tdef = r4().types[rtype]
    # Names a type does not have are ignored: one _elements list may serve several types.
    wanted = {n.split(".")[-1] if n.startswith(rtype + ".") else n for n in names}
    wanted |= {e.name for e in tdef.elements.values() if e.min > 0}
    keys = _json_keys(rtype, wanted) | set(_ALWAYS)
    return _tagged({k: v for k, v in resource.items() if k in keys})
