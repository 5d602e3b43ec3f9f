"""Searches cannot reach what the policy hides: chains, ``_has``, ``_include`` and counts, probed with codes
that DO match a hidden resource, so a missing access filter shows as a leak.

Each probe is paired with a control that must find something (the same search by a backend service, or
the same search for a code the requester may see), so the test proves the probe could have leaked.
"""

from __future__ import annotations

import httpx
from guards_helpers import ICD10, World, born, ids_in

from helpers import body, post


def search(http: httpx.Client, path: str, params: dict[str, str], headers: dict[str, str] | None = None
           ) -> dict[str, object]:
    r = http.get(path, params=params, headers=headers or {})
    assert r.status_code == 200, r.text
    found: dict[str, object] = body(r)
    return found


def count(http: httpx.Client, path: str, params: dict[str, str], headers: dict[str, str]) -> int:
    total = search(http, path, {**params, "_summary": "count"}, headers)["total"]
    assert isinstance(total, int)
    return total


def teenager_with_a_hidden_diagnosis(world: World) -> tuple[str, str, str, str, dict[str, str]]:
    """A 15-year-old (own access to all but drug-addiction matters) with an Encounter diagnosing asthma
    and opioid dependence; (child, asthma, opioids, encounter, the teenager's headers)."""
    child = world.child(born(15))
    asthma, opioids = world.condition(child, "J45.0"), world.condition(child, "F11.2")
    encounter = world.create({
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{child}"},
        "diagnosis": [{"condition": {"reference": f"Condition/{asthma}"}},
                      {"condition": {"reference": f"Condition/{opioids}"}}]})
    return child, asthma, opioids, encounter, world.own_account(child, f"teen-{child[:8]}")


def test_a_15_year_old_cannot_find_a_hidden_diagnosis_through_a_chain(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    child, _, _, encounter, teen = teenager_with_a_hidden_diagnosis(world)
    for code in ("F11.2", f"{ICD10}|F11.2"):
        probe = {"diagnosis:Condition.code": code}
        assert ids_in(search(http, "/Encounter", probe), "Encounter") == {encounter}  # the data does match
        assert ids_in(search(http, "/Encounter", probe, teen), "Encounter") == set(), code
        assert count(http, "/Encounter", probe, teen) == 0
    # the chain itself works for what the teenager may see, and the Encounter is theirs to see
    assert ids_in(search(http, "/Encounter", {"diagnosis:Condition.code": "J45.0"}, teen), "Encounter") == {encounter}
    assert ids_in(search(http, "/Encounter", {"patient": child}, teen), "Encounter") == {encounter}


def test_a_15_year_old_cannot_find_a_hidden_diagnosis_through_has(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    child, _, _, encounter, teen = teenager_with_a_hidden_diagnosis(world)
    for has, code, found_by_teen in (("_has:Condition:patient:code", "F11.2", set()),
                                     ("_has:Condition:patient:code", "J45.0", {child})):
        assert ids_in(search(http, "/Patient", {has: code}), "Patient") == {child}
        assert ids_in(search(http, "/Patient", {has: code}, teen), "Patient") == found_by_teen, code
        assert count(http, "/Patient", {has: code}, teen) == len(found_by_teen)
    assert ids_in(search(http, "/Encounter", {"_id": encounter}, teen), "Encounter") == {encounter}


def test_a_15_year_old_does_not_get_a_hidden_diagnosis_by_include(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    child, asthma, opioids, encounter, teen = teenager_with_a_hidden_diagnosis(world)
    included = {"_id": encounter, "_include": "Encounter:diagnosis"}
    assert ids_in(search(http, "/Encounter", included), "Condition") == {asthma, opioids}
    assert ids_in(search(http, "/Encounter", included, teen), "Condition") == {asthma}
    revincluded = {"_id": child, "_revinclude": "Condition:patient"}
    assert ids_in(search(http, "/Patient", revincluded, teen), "Condition") == {asthma}


def test_a_registrar_cannot_learn_what_is_in_a_record_through_has(http: httpx.Client, database_url: str) -> None:
    """The registrar finds every patient in the city, but no clinical record: a ``_has`` probe with a code
    that the child's Observation has must not tell them so."""
    world = World(http, database_url)
    clinic, elsewhere = world.organization("ДГП № 11"), world.organization("ДГП № 12")
    child = world.child(born(6), clinic=elsewhere, family="Кузнецова")
    world.observation(child, "29463-7")
    registrar = world.token(world.staff("registrar-11", "registrar", clinic))
    probe = {"_has:Observation:patient:code": "29463-7", "family": "Кузнецова"}
    assert ids_in(search(http, "/Patient", probe), "Patient") == {child}  # the data does match
    assert ids_in(search(http, "/Patient", {"family": "Кузнецова"}, registrar), "Patient") == {child}
    assert ids_in(search(http, "/Patient", probe, registrar), "Patient") == set()
    assert count(http, "/Patient", probe, registrar) == 0
    assert ids_in(search(http, "/Patient", {**probe, "_has:Observation:patient:code": "8302-2"}, registrar),
                  "Patient") == set()


def test_a_parent_cannot_learn_another_childs_record_through_reference_data(http: httpx.Client,
                                                                           database_url: str) -> None:
    """Practitioners are reference data everyone may see; which of them measured another child must not show."""
    world = World(http, database_url)
    own, other = world.child(born(7)), world.child(born(8))
    doctor, nurse = world.practitioner("Орлова"), world.practitioner("Белова")
    world.observation(other, "8302-2", performer=doctor)
    world.observation(own, "29463-7", performer=nurse)
    parent = world.parent_of(own, "parent-orlova")
    for code, shown in (("8302-2", set()), ("29463-7", {nurse})):
        probe = {"_has:Observation:performer:code": code}
        assert ids_in(search(http, "/Practitioner", probe), "Practitioner") == ({doctor} if code == "8302-2"
                                                                               else {nurse})
        assert ids_in(search(http, "/Practitioner", probe, parent), "Practitioner") == shown, code
    assert ids_in(search(http, "/Practitioner", {"_id": doctor}, parent), "Practitioner") == {doctor}
    # and the chain the other way: Observations whose performer is named so (the parent's child's only)
    chained = {"performer:Practitioner.name": "Орлова"}
    assert len(ids_in(search(http, "/Observation", chained), "Observation")) == 1
    assert ids_in(search(http, "/Observation", chained, parent), "Observation") == set()


def test_drug_addiction_matters_are_exactly_icd10_f10_to_f19(http: httpx.Client, database_url: str) -> None:
    """The boundaries of what a 15-year-old's own account leaves out: F10.0 and F19.9 are hidden, F09 and
    F20.0 are not; at 16 (today) nothing is hidden, one day before 16 it still is."""
    world = World(http, database_url)
    child = world.child(born(15))
    ids = {code: world.condition(child, code) for code in ("F09", "F10.0", "F19.9", "F20.0", "J45.0")}
    teen = world.own_account(child, "teen-boundaries")
    shown = {ids[c] for c in ("F09", "F20.0", "J45.0")}
    for code, rid in ids.items():
        expected = 200 if rid in shown else 404
        assert http.get(f"/Condition/{rid}", headers=teen).status_code == expected, code
    assert ids_in(search(http, "/Condition", {"patient": child}, teen), "Condition") == shown
    assert ids_in(search(http, "/Condition", {"code": "F10.0,F19.9"}, teen), "Condition") == set()
    assert count(http, "/Condition", {"patient": child}, teen) == 3
    # a representative reads every part of the record until 18
    parent = world.parent_of(child, "parent-boundaries")
    assert http.get(f"/Condition/{ids['F10.0']}", headers=parent).status_code == 200
    assert ids_in(search(http, "/Condition", {"patient": child}, parent), "Condition") == set(ids.values())


def test_own_access_to_drug_addiction_matters_begins_on_the_16th_birthday(http: httpx.Client,
                                                                         database_url: str) -> None:
    world = World(http, database_url)
    for birth, visible in ((born(16), True), (born(16, days_short=1), False)):
        child = world.child(birth)
        asthma, cannabis = world.condition(child, "J45.0"), world.condition(child, "F12.1")
        teen = world.own_account(child, f"teen-16-{child[:8]}")
        expected = {asthma, cannabis} if visible else {asthma}
        assert (http.get(f"/Condition/{cannabis}", headers=teen).status_code == 200) is visible, birth
        assert ids_in(search(http, "/Condition", {"patient": child}, teen), "Condition") == expected, birth
        everything = search(http, f"/Patient/{child}/$everything", {}, teen)
        assert ids_in(everything, "Condition") == expected, birth
        assert http.get(f"/Patient/{child}", headers=teen).status_code == 200  # own access from 15 in both


def test_a_token_launched_for_one_child_is_confined_to_that_child(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    first, second = world.child(born(4)), world.child(born(9))
    observations = {first: world.observation(first), second: world.observation(second)}
    parent = world.family("parent-of-two")
    world.link(parent, first)
    world.link(parent, second)
    launched = world.token(parent, "patient/*.rs", patient_id=first)
    assert http.get(f"/Observation/{observations[first]}", headers=launched).status_code == 200
    assert http.get(f"/Observation/{observations[second]}", headers=launched).status_code == 404
    assert http.get(f"/Patient/{second}", headers=launched).status_code == 404
    assert ids_in(search(http, "/Observation", {}, launched), "Observation") == {observations[first]}
    assert ids_in(search(http, "/Patient", {}, launched), "Patient") == {first}
    # the same person without a launch context reads both children
    both = world.token(parent)
    assert ids_in(search(http, "/Observation", {}, both), "Observation") == set(observations.values())


def test_scopes_narrow_interactions_as_well_as_types(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    clinic = world.organization("ДГП № 13")
    child = world.child(born(3), clinic=clinic)
    observation = world.observation(child)
    doctor = world.staff("doctor-13", "pediatrician", clinic)
    read_only = world.token(doctor, "user/Observation.rs user/Patient.rs")
    assert http.get(f"/Observation/{observation}", headers=read_only).status_code == 200
    new = {"resourceType": "Observation", "status": "final", "code": {"text": "Рост"},
           "subject": {"reference": f"Patient/{child}"}}
    assert post(http, "/Observation", new, read_only).status_code == 403
    assert http.delete(f"/Observation/{observation}", headers=read_only).status_code == 403
    # search-only (v2 "s") finds, but does not read
    search_only = world.token(doctor, "user/Observation.s")
    assert http.get(f"/Observation/{observation}", headers=search_only).status_code == 404
    assert ids_in(search(http, "/Observation", {"patient": child}, search_only), "Observation") == {observation}
    assert http.get(f"/Observation/{observation}", headers=world.token(doctor)).status_code == 200
