"""A Bundle may not do what its requests one by one may not: every write in a batch or a transaction
passes the same policy (and leaves the same audit entries) as the REST interaction it stands for."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from guards_helpers import World, born

from helpers import body, post


def entries(child: str, observation: str) -> list[dict[str, Any]]:
    """A create, an update, a patch and a delete in the child's record."""
    new = {"resourceType": "Observation", "status": "final", "code": {"text": "Пульс"},
           "subject": {"reference": f"Patient/{child}"}}
    patch = base64.b64encode(b'[{"op": "replace", "path": "/status", "value": "amended"}]').decode()
    return [
        {"resource": new, "request": {"method": "POST", "url": "Observation"}},
        {"resource": {**new, "id": observation}, "request": {"method": "PUT", "url": f"Observation/{observation}"}},
        {"resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch},
         "request": {"method": "PATCH", "url": f"Observation/{observation}"}},
        {"request": {"method": "DELETE", "url": f"Observation/{observation}"}},
    ]


@pytest.mark.parametrize("kind", ["batch", "transaction"])
def test_a_bundle_cannot_write_into_a_record_its_requester_may_not_change(kind: str, http: httpx.Client,
                                                                          database_url: str) -> None:
    world = World(http, database_url)
    home, elsewhere = world.organization("ДГП № 61"), world.organization("ДГП № 62")
    child = world.child(born(6), clinic=home)
    observation = world.observation(child)
    before = http.get(f"/Observation/{observation}").content
    outsiders = {"a stranger's family account": world.token(world.family("stranger-bundle")),
                 "a parent (families do not change clinical records)": world.parent_of(child, "parent-bundle"),
                 "a pediatrician of another clinic": world.token(world.staff("dr-bundle-far", "pediatrician",
                                                                             elsewhere))}
    for who, headers in outsiders.items():
        for entry in entries(child, observation):
            bundle = {"resourceType": "Bundle", "type": kind, "entry": [entry]}
            r = post(http, "", bundle, headers)
            method = entry["request"]["method"]
            # 403, or the not-found 404 for a PATCH or DELETE of a record the writer may not even read
            if kind == "transaction":
                assert r.status_code in (403, 404), (who, method, r.text)
            else:
                assert r.status_code == 200, (who, method, r.text)
                assert body(r)["entry"][0]["response"]["status"][:3] in ("403", "404"), (who, method, r.text)
    assert http.get(f"/Observation/{observation}").content == before
    assert len(world.rows("SELECT id FROM resource WHERE resource_type = 'Observation' AND patient_id = %s "
                          "AND NOT deleted", child)) == 1
    refusals = world.rows("SELECT subtype FROM audit_event WHERE patient_id = %s AND outcome = '4'", child)
    assert len(refusals) == len(outsiders) * 4  # each refused write is in the log
    # the child's own pediatrician may, through the same Bundle
    doctor = world.token(world.staff("dr-bundle-home", "pediatrician", home))
    r = post(http, "", {"resourceType": "Bundle", "type": kind, "entry": entries(child, observation)[:1]}, doctor)
    assert r.status_code == 200, r.text
    assert body(r)["entry"][0]["response"]["status"].startswith("201")
