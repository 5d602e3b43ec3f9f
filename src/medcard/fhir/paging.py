"""Opaque paging tokens: the keyset of the last row of a page, as URL-safe text.

Pages are cut by keyset (``WHERE (sort keys, id) > last row``), never by OFFSET, so a page
link stays correct while resources are written, and a page deep in a large result costs the
same as the first.
"""

from __future__ import annotations

import base64
from typing import Any

from medcard.core import jsonutil
from medcard.core.errors import BadRequest


def encode(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(jsonutil.dumps(values)).decode().rstrip("=")


def decode(token: str, length: int | None = None) -> list[Any]:
    """The values of a token this server issued; 400 for anything else."""
    try:
        values = jsonutil.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, TypeError):
        values = None
    if not isinstance(values, list) or (length is not None and len(values) != length):
        raise BadRequest("the paging token is not one this server issued (was the link edited?)")
    return values
