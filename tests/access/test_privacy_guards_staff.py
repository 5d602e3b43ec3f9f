"""Staff: care relations (an appointment, a referral to the clinic), the registrar's reach, writes that would
move a record, reference data, and how emergency access is recorded."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from guards_helpers import World, born, ids_in

from helpers import body, post, put


def appointment(world: World, child: str, practitioner: str) -> str:
    return world.create({
        "resourceType": "Appointment", "status": "booked", "description": "Консультация",
        "participant": [{"actor": {"reference": f"Patient/{child}"}, "status": "accepted"},
                        {"actor": {"reference": f"Practitioner/{practitioner}"}, "status": "accepted"}]})


def sees(http: httpx.Client, headers: dict[str, str], child: str, observation: str) -> bool:
    """Whether the requester reads the child's Observation, and finds it; the two must agree."""
    read = http.get(f"/Observation/{observation}", headers=headers)
    assert read.status_code in (200, 404), read.text
    found = observation in ids_in(body(http.get("/Observation", params={"patient": child}, headers=headers)),
                                  "Observation")
    assert found == (read.status_code == 200)
    return found


def test_an_appointment_puts_the_child_in_the_care_of_the_practitioner_it_names(http: httpx.Client,
                                                                              database_url: str) -> None:
    world = World(http, database_url)
    home, other = world.organization("ДГП № 31"), world.organization("КДЦ № 2")
    child = world.child(born(9), clinic=home)
    observation = world.observation(child)
    booked, colleague, someone = (world.practitioner(n) for n in ("Лебедев", "Коваль", "Зуев"))
    appointment(world, child, booked)
    appointment(world, child, someone)  # an appointment for a third practitioner gives the colleague nothing
    specialist = world.token(world.staff("ent-booked", "specialist", other, booked))
    without = world.token(world.staff("ent-colleague", "specialist", other, colleague))
    assert sees(http, specialist, child, observation)
    assert http.get(f"/Patient/{child}", headers=specialist).status_code == 200
    assert not sees(http, without, child, observation)
    assert http.get(f"/Patient/{child}", headers=without).status_code == 404


def test_a_referral_to_a_clinic_puts_the_child_in_the_care_of_its_staff(http: httpx.Client,
                                                                       database_url: str) -> None:
    world = World(http, database_url)
    home, referred, unrelated = (world.organization(n) for n in ("ДГП № 32", "КДЦ № 3", "КДЦ № 4"))
    child = world.child(born(9), clinic=home)
    observation = world.observation(child)
    world.create({"resourceType": "ServiceRequest", "status": "active", "intent": "order",
                  "subject": {"reference": f"Patient/{child}"}, "code": {"text": "Консультация офтальмолога"},
                  "performer": [{"reference": f"Organization/{referred}"}]})
    assert sees(http, world.token(world.staff("eye-referred", "specialist", referred)), child, observation)
    assert not sees(http, world.token(world.staff("eye-unrelated", "specialist", unrelated)), child, observation)


def test_the_registrar_finds_any_patient_but_reaches_other_records_only_in_care(http: httpx.Client,
                                                                               database_url: str) -> None:
    world = World(http, database_url)
    home, elsewhere = world.organization("ДГП № 33"), world.organization("ДГП № 34")
    child = world.child(born(4), clinic=home, family="Тарасова")
    booked = world.practitioner("Гусева")
    visit = appointment(world, child, booked)
    insurance = world.create({"resourceType": "Coverage", "status": "active",
                              "beneficiary": {"reference": f"Patient/{child}"},
                              "payor": [{"reference": f"Organization/{home}"}]})
    own_registrar = world.token(world.staff("reg-home", "registrar", home))
    far_registrar = world.token(world.staff("reg-far", "registrar", elsewhere))
    for headers, in_care in ((own_registrar, True), (far_registrar, False)):
        assert http.get(f"/Patient/{child}", headers=headers).status_code == 200
        assert ids_in(body(http.get("/Patient", params={"family": "Тарасова"}, headers=headers)),
                      "Patient") == {child}
        for rtype, rid in (("Appointment", visit), ("Coverage", insurance)):
            assert http.get(f"/{rtype}/{rid}", headers=headers).status_code == (200 if in_care else 404), rtype
            shown = ids_in(body(http.get(f"/{rtype}", params={"patient": child}, headers=headers)), rtype)
            assert shown == ({rid} if in_care else set()), rtype
    # finding a patient is not changing one: the far registrar may not rewrite the child's registration
    current = body(http.get(f"/Patient/{child}"))
    changed = put(http, f"/Patient/{child}", {**current, "gender": "male"}, far_registrar)
    assert changed.status_code == 403, changed.text
    assert body(http.get(f"/Patient/{child}"))["gender"] == "female"
    assert put(http, f"/Patient/{child}", {**current, "gender": "female"}, own_registrar).status_code == 200


def test_a_clinician_cannot_move_another_childs_resource_into_their_own_patients_record(
        http: httpx.Client, database_url: str) -> None:
    """A write is checked against the record the resource belonged to before, as well as the one after."""
    world = World(http, database_url)
    home, elsewhere = world.organization("ДГП № 35"), world.organization("ДГП № 36")
    mine, theirs = world.child(born(7), clinic=home), world.child(born(7), clinic=elsewhere)
    observation = world.observation(theirs)
    doctor = world.token(world.staff("dr-mover", "pediatrician", home))
    stolen = {**body(http.get(f"/Observation/{observation}")), "subject": {"reference": f"Patient/{mine}"}}
    moved = put(http, f"/Observation/{observation}", stolen, doctor)
    assert moved.status_code == 403, moved.text
    assert body(http.get(f"/Observation/{observation}"))["subject"]["reference"] == f"Patient/{theirs}"
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": stolen, "request": {"method": "PUT", "url": f"Observation/{observation}"}}]}
    assert post(http, "", bundle, doctor).status_code == 403
    assert body(http.get(f"/Observation/{observation}"))["subject"]["reference"] == f"Patient/{theirs}"


def test_reference_data_is_read_by_all_and_changed_by_administrators(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    clinic = world.organization("ДГП № 37")
    doctor = world.token(world.staff("dr-refdata", "pediatrician", clinic))
    admin = world.token(world.staff("admin-refdata", "clinic-admin", clinic))
    parent = world.token(world.family("parent-refdata"))
    lab = {"resourceType": "Organization", "name": "Лаборатория"}
    for headers in (doctor, parent):
        assert http.get(f"/Organization/{clinic}", headers=headers).status_code == 200
        assert post(http, "/Organization", lab, headers).status_code == 403
    assert post(http, "/Organization", lab, admin).status_code == 201
    # what is outside every record and not reference data is for backend services only
    group = world.create({"resourceType": "Group", "type": "person", "actual": True, "name": "Класс 3-Б"})
    for headers in (doctor, parent, admin):
        assert http.get(f"/Group/{group}", headers=headers).status_code == 403
        assert ids_in(body(http.get("/Group", headers=headers)), "Group") == set()


def test_emergency_access_is_recorded_as_such(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    home, elsewhere = world.organization("ДГП № 38"), world.organization("ДГП № 39")
    child = world.child(born(2), clinic=home)
    observation = world.observation(child)
    doctor = world.token(world.staff("dr-glass", "pediatrician", elsewhere))
    assert http.get(f"/Observation/{observation}", headers=doctor).status_code == 404
    reason = "Ребёнок доставлен без сознания"
    glass = {**doctor, "X-Break-Glass": quote(reason)}
    assert http.get(f"/Observation/{observation}", headers=glass).status_code == 200
    assert observation in ids_in(body(http.get("/Observation", params={"patient": child}, headers=glass)),
                                 "Observation")
    rows = world.rows("SELECT subtype, outcome, purpose, break_glass FROM audit_event WHERE agent_name = "
                      "'Dr-Glass' AND patient_id = %s ORDER BY recorded, id", child)
    assert rows == [("read", "4", "TREAT", None), ("read", "0", "ETREAT", reason), ("search", "0", "ETREAT", reason)]
    events = body(http.get("/AuditEvent", params={"patient": child, "outcome": "0"}))["entry"]
    flagged = [e["resource"] for e in events if e["resource"]["agent"][0]["who"]["display"] == "Dr-Glass"]
    assert len(flagged) == 2
    for event in flagged:
        assert event["agent"][0]["purposeOfUse"][0]["coding"][0]["code"] == "ETREAT"
        assert reason in event["outcomeDesc"]


PATIENT_OPERATIONS = ("$everything", "$summary", "$growth", "$growth-chart?indicator=weight-for-age",
                      "$immds-forecast", "$examinations")


def test_staff_who_see_no_clinical_records_get_none_through_patient_operations(http: httpx.Client,
                                                                              database_url: str) -> None:
    """A registrar (anywhere) and an archivist read the Patient resource, never its clinical record: the
    operations that show parts of the record (measurements, diagnoses, vaccinations) are refused to them."""
    world = World(http, database_url)
    home, elsewhere = world.organization("ДГП № 44"), world.organization("ДГП № 45")
    child = world.child(born(2), clinic=home)
    world.observation(child)
    world.condition(child, "J45.0")
    who = {"registrar of another clinic": world.token(world.staff("reg-ops", "registrar", elsewhere)),
           "registrar of the child's clinic": world.token(world.staff("reg-ops-home", "registrar", home)),
           "archivist of the child's clinic": world.token(world.staff("arch-ops", "archivist", home))}
    shown = []
    for name, headers in who.items():
        assert http.get(f"/Patient/{child}", headers=headers).status_code == 200
        for operation in PATIENT_OPERATIONS:
            assert http.get(f"/Patient/{child}/{operation}").status_code == 200
            r = http.get(f"/Patient/{child}/{operation}", headers=headers)
            if r.status_code not in (403, 404):  # 403: may see the Patient, told why; 404: $everything's export
                shown.append(f"{name}: {operation} answered {r.status_code}")
    assert not shown, "\n".join(shown)
