"""The command-line side of bulk import and export: a database pool, a progress bar, a summary."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tqdm import tqdm

from medcard.core.db import Database
from medcard.core.errors import MedcardError
from medcard.core.time import fhir_instant, utcnow
from medcard.fhir.bulk.export import ExportRequest, export, parse_request
from medcard.fhir.bulk.importer import Importer, ImportReport


def run_import(url: str, paths: list[Path], *, on_error: str, chunk: int, jobs: int = 1) -> int:
    """Import and print a summary; the exit code: 0 clean, 1 stopped on a problem, 2 problems skipped."""
    report = asyncio.run(_import(url, paths, on_error, chunk, jobs))
    print(report.summary(), file=sys.stderr)
    if report.resolved_later:
        print(f"{report.resolved_later} resources had conditional references resolved after their targets "
              "arrived", file=sys.stderr)
    for skipped in report.skipped:
        print(f"warning: {skipped}", file=sys.stderr)
    for problem in report.problems[:50]:
        print(f"  {problem}", file=sys.stderr)
    if len(report.problems) > 50:
        print(f"  ... and {report.failed - 50} more", file=sys.stderr)
    if report.dangling:
        print(f"references to resources that are not in the store (first {len(report.dangling)}): "
              + ", ".join(report.dangling), file=sys.stderr)
    if report.stopped:
        print("stopped at the first problem (--on-error stop); everything before it was imported", file=sys.stderr)
        return 1
    return 2 if report.failed else 0


async def _import(url: str, paths: list[Path], on_error: str, chunk: int, jobs: int) -> ImportReport:
    # the writer, and at the end one connection per worker recomputing derived tables plus one for ANALYZE
    db = Database(url, min_size=1, max_size=max(2, jobs + 1))
    await db.open()
    bar = tqdm(unit=" resources", desc="import", file=sys.stderr, dynamic_ncols=True, smoothing=0.1)
    done = 0

    async def progress(report: ImportReport) -> None:
        nonlocal done
        now = report.written + report.failed
        bar.update(now - done)
        done = now
        bar.set_postfix(created=report.created, updated=report.updated, unchanged=report.unchanged,
                        failed=report.failed, refresh=False)

    try:
        return await Importer(db, on_error=on_error, progress=progress, chunk=chunk, jobs=jobs).run(paths)
    finally:
        bar.close()
        await db.close()


def run_export(url: str, level: str, group: str | None, params: list[tuple[str, str]], out: Path) -> int:
    try:
        request = parse_request(level, group, params)
    except MedcardError as e:
        print(f"medcard export: {e.message}", file=sys.stderr)
        return 2
    return asyncio.run(_export(url, request, out))


async def _export(url: str, request: ExportRequest, out: Path) -> int:
    db = Database(url, min_size=1, max_size=2)
    await db.open()
    started = utcnow()
    try:
        files = await export(db, request, out, started)
    finally:
        await db.close()
    total = sum(f.count for f in files)
    seconds = (utcnow() - started).total_seconds()
    for f in files:
        print(f"  {out / f.name}: {f.count}", file=sys.stderr)
    print(f"{total} resources exported to {out} in {seconds:.1f} s ({total / max(seconds, 1e-9):.0f}/s); "
          f"transactionTime {fhir_instant(started)}", file=sys.stderr)
    return 0
