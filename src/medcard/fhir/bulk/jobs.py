"""The background jobs of bulk data: export and import, as run by a worker."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from medcard.config import Settings
from medcard.core.jobs import Handler, JobContext
from medcard.core.time import fhir_instant, utcnow
from medcard.documents.archive_job import RECORD_ARCHIVE, run_record_archive
from medcard.fhir.bulk.export import ExportRequest, export
from medcard.fhir.bulk.importer import Importer, ImportReport

EXPORT = "export"
IMPORT = "import"


def job_dir(settings: Settings, job_id: str) -> Path:
    """Where a job keeps its files (exported NDJSON, uploaded input)."""
    return settings.bulk_dir / job_id


async def run_export(settings: Settings, ctx: JobContext) -> dict[str, Any]:
    """Export; after a restart, the types already written are kept and the rest is done again."""
    request = ExportRequest.from_json(ctx.job.request["export"])
    progress = ctx.job.progress
    started = progress.get("transactionTime")
    transaction_time = datetime.fromisoformat(started) if started else utcnow()
    await ctx.report({**progress, "transactionTime": transaction_time.isoformat()}, force=True)

    async def report(update: dict[str, Any]) -> None:
        await ctx.report({**update, "transactionTime": transaction_time.isoformat()})

    files = await export(ctx.db, request, job_dir(settings, ctx.job.id), transaction_time, report,
                         progress.get("done"))
    return {"transactionTime": fhir_instant(transaction_time), "files": [asdict(f) for f in files]}


async def run_import(settings: Settings, ctx: JobContext) -> dict[str, Any]:
    """Import the job's input files (importing is idempotent, so a resumed job simply runs again)."""
    request = ctx.job.request

    async def progress(report: ImportReport) -> None:
        await ctx.report({"read": report.read, "written": report.written, "failed": report.failed})

    importer = Importer(ctx.db, on_error=request.get("onError", "continue"), progress=progress)
    report = await importer.run([Path(p) for p in request["files"]])
    return report.to_json()


def handlers(settings: Settings) -> dict[str, Handler]:
    """The job handlers, bound to the settings (where the files go)."""
    return {EXPORT: partial(run_export, settings), IMPORT: partial(run_import, settings),
            RECORD_ARCHIVE: partial(run_record_archive, settings)}
