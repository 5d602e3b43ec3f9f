"""Benchmark: issuing documents (render + sign + register), the record book, memory of a batch.

Runs on a real PostgreSQL (embedded, in a temporary directory, or MEDCARD_BENCH_DATABASE_URL, which
it empties), loaded by the bulk importer with synthetic children: a 17-year-old with the full
synthetic history and the first 20 children of the same city.

1. a visit protocol and a certificate: render + sign + register, p50 and p90 of 15 issues each,
   and the parts (HTML, WeasyPrint, signature);
2. the baseline measured in the same run: WeasyPrint's PDF of a blank page of the same template
   (the same header, fonts, QR code and PDF/A output, no body): the ratio is what the document's
   own content costs on top of the fixed cost of a page;
3. the record book of the 17-year-old (median of 3), its pages and bytes, and its ratio to the blank page;
4. peak memory (RSS) of a process that issues the record books of 20 children one after another,
   against its RSS before the batch.

Prints figures and ratios; asserts nothing. The machine is shared: compare ratios, not times.

    python bench/bench_documents.py
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from queue import Empty
from typing import Any

import psycopg

from medcard import domains
from medcard.access.gate import Gate
from medcard.access.requester import Requester
from medcard.config import Settings
from medcard.core import migrate
from medcard.core.db import Database
from medcard.core.embedded import embedded_database
from medcard.documents import book, pdf, render, signing
from medcard.documents.views import Clinic, Person
from medcard.fhir.bulk.importer import Importer
from medcard.synth import CitySize, write_ndjson
from medcard.synth.single import child_record
from medcard.synth.writer import NdjsonSink

TODAY = date(2026, 11, 26)
SYSTEM = Requester("system", "bench")
ROUNDS = 15


@contextmanager
def database() -> Iterator[str]:
    external = os.environ.get("MEDCARD_BENCH_DATABASE_URL")
    if external:
        migrate.upgrade(external)
        with psycopg.connect(external, autocommit=True) as conn:
            tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                                 "AND tablename <> 'alembic_version'")]
            conn.execute(f"TRUNCATE {', '.join(tables)}")
        yield external
        return
    with tempfile.TemporaryDirectory() as home, embedded_database(Path(home)) as url:
        migrate.upgrade(url)
        yield url


def load(url: str, work: Path) -> str:
    """Import the city's first 20 children and a 17-year-old; the 17-year-old's id."""
    write_ndjson(work / "city", 1, CitySize(children=20, clinics=1), TODAY)
    teen = list(child_record(1, 17, TODAY))
    with NdjsonSink(work / "teen") as sink:
        for r in teen:
            sink.write(r)

    async def go() -> None:
        db = Database(url, min_size=1, max_size=2)
        await db.open()
        try:
            for folder in ("city", "teen"):
                report = await Importer(db, on_error="stop").run([work / folder])
                assert not report.problems, report.problems[:3]
        finally:
            await db.close()

    asyncio.run(go())
    return next(r["id"] for r in teen if r["resourceType"] == "Patient")


async def on_conn(url: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]]) -> Any:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        result = await work(conn)
        await conn.commit()
        return result


def timed(url: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]], rounds: int) -> list[float]:
    async def go() -> list[float]:
        times = []
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for _ in range(rounds):
                start = time.perf_counter()
                await work(conn)
                await conn.commit()
                times.append(time.perf_counter() - start)
        return times

    return asyncio.run(go())


def p(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def blank_page() -> str:
    context = {"title": "Протокол приёма", "form": "", "subtitle": "", "doctor_label": "Врач",
               "clinic": Clinic("org", "ГБУЗ «Детская городская поликлиника № 1 ДЗМ»", "Москва", "+7 495 000-00-00"),
               "child": {"name": "Иванова Анна Петровна", "birth_date": date(2015, 1, 1)},
               "doctor": Person("Петрова Мария Ивановна", "Врач-педиатр участковый"), "issued_at": None,
               "verify": {"code": "0000-0000-0000", "url": "http://127.0.0.1/verify/0000-0000-0000",
                          "qr": pdf.qr_svg_uri("http://127.0.0.1/verify/0000-0000-0000")}}
    return pdf.html("base.html", context)


def docrefs(url: str, patient_id: str) -> tuple[str, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, content FROM resource WHERE resource_type = 'DocumentReference' "
                            "AND patient_id = %s AND NOT deleted ORDER BY id", (patient_id,)).fetchall()
    visit = next(i for i, c in rows if '"11506-3"' in c)
    certificate = next(i for i, c in rows if "Медицинская справка" in c and "112/у" not in c)
    return visit, certificate


def main() -> None:
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    domains.install()
    with tempfile.TemporaryDirectory() as work, database() as url:
        settings = Settings(home=Path(work), database_url=url)
        teen = load(url, Path(work))
        visit, certificate = docrefs(url, teen)
        asyncio.run(on_conn(url, lambda c: render.render(c, Gate(c, SYSTEM), visit, settings=settings)))  # warm-up
        markup = blank_page()
        blank = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            pdf.to_pdf(markup)
            blank.append(time.perf_counter() - start)
        base = statistics.median(blank)
        print(f"0. baseline: WeasyPrint, blank page of the same template   p50 {base * 1e3:7.0f} ms")
        for label, docref in (("visit protocol", visit), ("certificate", certificate)):
            times = timed(url, lambda c, d=docref: render.render(c, Gate(c, SYSTEM), d, settings=settings), ROUNDS)
            print(f"1. {label:15s} render+sign+register  p50 {p(times, 0.5) * 1e3:7.0f} ms  "
                  f"p90 {p(times, 0.9) * 1e3:7.0f} ms   ({p(times, 0.5) / base:.2f}x the blank page)")
        parts(url, visit, settings)
        book_times, size = [], 0
        for _ in range(3):
            start = time.perf_counter()
            rendered = asyncio.run(on_conn(url, lambda c: book.issue_record_book(c, Gate(c, SYSTEM), teen,
                                                                                  settings=settings, on=TODAY)))
            book_times.append(time.perf_counter() - start)
            size = len(rendered.data)
        median = statistics.median(book_times)
        print(f"3. record book, 17-year-old: {median:6.2f} s median of 3, {size / 1e6:.2f} MB  "
              f"({median / base:.0f}x the blank page)")
        batch(url, settings)


def parts(url: str, docref: str, settings: Settings) -> None:
    """Where a visit protocol's time goes: WeasyPrint, the signature, the rest (reading, HTML, registry)."""
    rendered = asyncio.run(on_conn(url, lambda c: render.render(c, Gate(c, SYSTEM), docref, settings=settings)))
    key = asyncio.run(on_conn(url, lambda c: signing.organization_key(c, "bench", "bench", settings.secret())))
    unsigned = rendered.data[: rendered.data.find(b"%%EOF") + 5]  # the PDF before the signature was appended
    sign = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        asyncio.run(signing.sign(unsigned, key, reason="bench", location="bench"))
        sign.append(time.perf_counter() - start)
    print(f"2. of which: the PAdES signature                       p50 {statistics.median(sign) * 1e3:7.1f} ms")


def _rss_kb() -> int:
    """The process's resident memory now, in KiB (ru_maxrss is the peak since the process started)."""
    status = Path("/proc/self/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def _batch_child(url: str, home: str, ids: list[str], out: Any) -> None:
    settings = Settings(home=Path(home), database_url=url)
    before = _rss_kb()
    start = time.perf_counter()

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for pid in ids:
                await book.issue_record_book(conn, Gate(conn, SYSTEM), pid, settings=settings, on=TODAY)
                await conn.commit()

    asyncio.run(go())
    out.put((before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - start))


def batch(url: str, settings: Settings) -> None:
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM resource WHERE resource_type = 'Patient' ORDER BY id "
                                          "LIMIT 20")]
    queue: Any = multiprocessing.get_context("spawn").Queue()
    proc = multiprocessing.get_context("spawn").Process(target=_batch_child, args=(url, str(settings.home), ids, queue))
    proc.start()
    while True:
        try:
            before, peak, seconds = queue.get(timeout=5)
            break
        except Empty:
            if not proc.is_alive():
                raise RuntimeError("the batch process died") from None
    proc.join()
    print(f"4. batch of {len(ids)} record books in one process: {seconds:6.1f} s; peak RSS {peak / 1024:6.0f} MB "
          f"(RSS before the batch, all modules loaded: {before / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
