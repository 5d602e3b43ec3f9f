"""``$record-archive`` as a background job (``Prefer: respond-async``): built by a worker, kept in the blob store.

The kick-off is decided and audited as the direct download is; the job keeps who asked (the requester,
without any token) and decides again when it runs, with the same gate, so the archive shows exactly
what a direct download would. The finished ZIP goes to the blob store; the status URL serves it from
there to the same requester only.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import asdict
from typing import Any

from medcard.access.gate import Gate
from medcard.access.requester import Requester, StaffRole
from medcard.access.scopes import Grant, Scopes
from medcard.config import Settings
from medcard.core.jobs import JobContext
from medcard.core.time import utcnow
from medcard.documents.archive import Archive, record_archive
from medcard.documents.blobs import blob_store

RECORD_ARCHIVE = "record-archive"
SPOOL = 8 * 1024 * 1024


def requester_json(r: Requester) -> dict[str, Any]:
    """Who asked, as the job's request keeps it (no credentials: a token is never stored)."""
    out = asdict(r)
    out["scopes"] = {"grants": [asdict(g) for g in r.scopes.grants], "other": sorted(r.scopes.other)}
    return out


def requester_of(data: dict[str, Any]) -> Requester:
    scopes = data["scopes"]
    return Requester(**{**data, "roles": tuple(StaffRole(**role) for role in data["roles"]),
                        "scopes": Scopes(tuple(Grant(**g) for g in scopes["grants"]), frozenset(scopes["other"]))})


def same_requester(a: dict[str, Any], b: Requester) -> bool:
    """Whether the status of a job is asked for by whoever started it (the same account and app)."""
    return (a.get("kind"), a.get("account_id"), a.get("client_id"), a.get("name")) == (
        b.kind, b.account_id, b.client_id, b.name)


async def run_record_archive(settings: Settings, ctx: JobContext) -> dict[str, Any]:
    """Build the archive into a temporary file, then keep it in the blob store; its key and size."""
    request = ctx.job.request
    requester = requester_of(request["requester"])
    pid = request["patient"]
    async with ctx.db.transaction() as conn:
        gate = Gate(conn, requester)
        missing = f"Patient/{pid} is not known"
        await gate.check(pid, "Patient", "export", entity=f"Patient/{pid}/$record-archive", subtype="export",
                         missing=missing)
        await gate.flush(conn)
    archive = Archive(ctx.db, settings, request["base"], gate, pid, utcnow())
    size = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
        async for piece in record_archive(archive):
            await asyncio.to_thread(spool.write, piece)
            size += len(piece)
            await ctx.report({"bytes": size})
        await asyncio.to_thread(spool.seek, 0)
        key = await asyncio.to_thread(blob_store(settings).put, spool)
    return {"key": key, "size": size}
