"""Fixtures of the chart's data-layer tests: the hand-made record (records/chart_data.py) loaded through the API."""

from __future__ import annotations

import httpx
import pytest

from helpers import post
from records.chart_data import transaction


@pytest.fixture
def record(http: httpx.Client) -> httpx.Client:
    response = post(http, "", transaction())
    assert response.status_code == 200, response.text
    return http
