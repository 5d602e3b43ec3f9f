"""A write and its audit entry commit together; a read is answered only after its entry is written.

The audit log is made to refuse one person's entries (a trigger, as a full disk or a broken partition
would), so the test sees what the server does when the entry cannot be written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg
from guards_helpers import World, born, ids_in

from helpers import body, created_id, post


@contextmanager
def audit_refuses(url: str, agent_name: str) -> Iterator[None]:
    """While inside, inserting an audit entry of this agent fails."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION guards_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$ BEGIN RAISE EXCEPTION 'the audit log is unavailable'; END $$")
        conn.execute("CREATE TRIGGER guards_refuse_audit AFTER INSERT ON audit_event FOR EACH ROW "
                     f"WHEN (NEW.agent_name = '{agent_name}') EXECUTE FUNCTION guards_refuse_audit()")
    try:
        yield
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER guards_refuse_audit ON audit_event")
            conn.execute("DROP FUNCTION guards_refuse_audit()")


def new_observation(child: str) -> dict[str, object]:
    return {"resourceType": "Observation", "status": "final", "code": {"text": "Температура"},
            "subject": {"reference": f"Patient/{child}"}}


def test_a_write_and_its_audit_entry_are_one_transaction(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    clinic = world.organization("ДГП № 41")
    child = world.child(born(3), clinic=clinic)
    doctor = world.token(world.staff("dr-commit", "pediatrician", clinic))
    rid = created_id(post(http, "/Observation", new_observation(child), doctor))
    rows = world.rows("SELECT (SELECT xmin::text FROM resource WHERE resource_type = 'Observation' AND id = %s), "
                      "xmin::text FROM audit_event WHERE entity = %s AND subtype = 'create'", rid, f"Observation/{rid}")
    assert len(rows) == 1
    written, audited = rows[0]
    assert written == audited  # the same transaction wrote both rows


def test_a_write_whose_audit_entry_fails_is_not_made(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    clinic = world.organization("ДГП № 42")
    child = world.child(born(3), clinic=clinic)
    doctor = world.token(world.staff("dr-unaudited", "pediatrician", clinic))
    with audit_refuses(database_url, "Dr-Unaudited"):
        failed = post(http, "/Observation", new_observation(child), doctor)
        assert failed.status_code >= 500
        assert ids_in(body(http.get("/Observation", params={"patient": child})), "Observation") == set()
    assert post(http, "/Observation", new_observation(child), doctor).status_code == 201


def test_a_read_whose_audit_entry_fails_is_not_answered(http: httpx.Client, database_url: str) -> None:
    world = World(http, database_url)
    clinic = world.organization("ДГП № 43")
    child = world.child(born(3), clinic=clinic)
    observation = world.observation(child)
    doctor = world.token(world.staff("dr-unread", "pediatrician", clinic))
    with audit_refuses(database_url, "Dr-Unread"):
        for path in (f"/Observation/{observation}", f"/Observation?patient={child}",
                     f"/Patient/{child}/$everything"):
            failed = http.get(path, headers=doctor)
            assert failed.status_code >= 500, path
            assert observation not in failed.text, path
    assert http.get(f"/Observation/{observation}", headers=doctor).status_code == 200
