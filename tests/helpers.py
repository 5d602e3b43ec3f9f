"""Small helpers shared by the tests."""

from __future__ import annotations

from typing import Any

import httpx

from medcard.core import jsonutil

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def body(response: httpx.Response) -> Any:
    """The parsed JSON body of a response."""
    return jsonutil.loads(response.content)


def post(http: httpx.Client, path: str, resource: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return http.post(path, content=jsonutil.dumps(resource), headers={**FHIR_JSON, **(headers or {})})


def put(http: httpx.Client, path: str, resource: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return http.put(path, content=jsonutil.dumps(resource), headers={**FHIR_JSON, **(headers or {})})


def created_id(response: httpx.Response) -> str:
    """The id of the resource a 201 response created."""
    assert response.status_code == 201, response.text
    return str(body(response)["id"])
