"""Benchmark: ``Patient/{id}/$record-archive``, the whole record of a child as one streamed ZIP.

A synthetic city (full-history children aged 0-17) is imported into a real PostgreSQL (embedded, in a
temporary directory, or MEDCARD_BENCH_DATABASE_URL, which it empties), and a real server
(``uvicorn medcard.app:create_app``, one process) answers over HTTP. For each of the 20 largest
records:

- the baseline: ``$everything`` of the same child, streamed (time to its first byte, to its end);
- ``$record-archive`` cold: the first download, which renders, signs and keeps the PDF of every
  document that had none (the synthetic city's documents are HTML and text);
- ``$record-archive`` warm: the second download, every PDF served from the blob store.

Both archives include the record book: the cold download renders and keeps it, the warm one serves
the kept book (documents/book.py); how many books each batch rendered (new entries in the registry
of issued documents) is printed with its figures.

The resident memory of the server process and any children it has, summed (RSS, sampled every 20 ms
with psutil), is recorded before and during each batch of 20: its peak is the figure the issue bounds
(300 MB). Prints figures and ratios; asserts nothing.

    python bench/bench_archive.py            # 20 records (about 10-20 minutes: the cold batch renders)
    python bench/bench_archive.py --quick    # 3 records, a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchauth import backend_token
from medcard import domains
from medcard.core import migrate
from medcard.core.db import Database
from medcard.core.embedded import embedded_database
from medcard.fhir.bulk.importer import Importer
from medcard.synth import CitySize, write_ndjson

BENCH_TODAY = date(2026, 11, 25)
SEED = 16
PORT = int(os.environ.get("MEDCARD_BENCH_PORT", "18161"))


class RssPeak:
    """The peak resident memory of a process and any children it has, summed, sampled in a thread while a
    block runs (a server that laid documents out in a child process would count it)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()

    def rss(self) -> int:
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):  # a child gone meanwhile
                total += child.memory_info().rss
        return total

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.02)

    @contextmanager
    def watching(self) -> Iterator[RssPeak]:
        self.peak = self.rss()
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self._stop.clear()


@contextmanager
def server(url: str, home: Path) -> Iterator[int]:
    """A medcard server process; its pid."""
    env = {**os.environ, "MEDCARD_DATABASE_URL": url, "MEDCARD_HOME": str(home), "MEDCARD_LOG_LEVEL": "warning",
           "MEDCARD_API_RATE_PER_MINUTE": "100000000", "MEDCARD_API_RATE_BACKEND_PER_MINUTE": "0",
           "MEDCARD_STATEMENT_TIMEOUT_SECONDS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "medcard.app:create_app", "--port",
                             str(PORT), "--log-level", "warning", "--no-access-log"], env=env)
    try:
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
                conn.request("GET", "/fhir/R4/metadata")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def download(path: str, token: str) -> tuple[float, float, bytes]:
    """Seconds to the first byte of the body, to its end, and the body."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
    started = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    first = response.read1(65536) if response.status == 200 else b""
    first_at = time.perf_counter() - started
    rest = response.read()
    total = time.perf_counter() - started
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status} {rest[:300]!r}")
    conn.close()
    return first_at, total, first + rest


def city(url: str, children: int) -> None:
    async def load(folder: Path) -> None:
        db = Database(url, min_size=1, max_size=2)
        await db.open()
        try:
            report = await Importer(db, on_error="stop").run([folder])
        finally:
            await db.close()
        if report.failed:
            raise SystemExit(f"import failed: {report.problems[:3]}")

    with tempfile.TemporaryDirectory() as folder:
        write_ndjson(Path(folder), SEED, CitySize(children, 2), BENCH_TODAY)
        asyncio.run(load(Path(folder)))


def largest(url: str, n: int) -> list[tuple[str, int, int]]:
    """The n largest records: (patient, resources, documents)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT patient_id, count(*), count(*) FILTER (WHERE resource_type = 'DocumentReference') FROM resource "
            "WHERE patient_id IS NOT NULL GROUP BY patient_id ORDER BY count(*) DESC LIMIT %s", (n,)).fetchall()
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"p50 {statistics.median(ordered) * 1000:8.1f} ms   max {ordered[-1] * 1000:8.1f} ms")


def books_issued(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM document_issued WHERE kind = 'record-book'").fetchone()
    return int(row[0]) if row else 0


def batch(label: str, records: list[tuple[str, int, int]], token: str, pid: int, path: str, url: str
          ) -> tuple[list[float], list[float], int]:
    firsts, totals, size, books, book_sizes = [], [], 0, books_issued(url), []
    with RssPeak(pid).watching() as rss:
        for patient, _, _ in records:
            first, total, body = download(path.format(patient), token)
            firsts.append(first)
            totals.append(total)
            size += len(body)
            if "archive" in path:
                archive = zipfile.ZipFile(io.BytesIO(body))
                archive.testzip()
                if "record-book.pdf" in archive.namelist():
                    book_sizes.append(archive.getinfo("record-book.pdf").file_size)
    print(f"  {label:<34} first byte {ms(firsts)}")
    print(f"  {'':<34} whole      {ms(totals)}   {size / len(records) / 1e6:6.2f} MB each; "
          f"server peak RSS {rss.peak / 2**20:6.1f} MB")
    if "archive" in path:
        print(f"  {'':<34} record books rendered: {books_issued(url) - books} of {len(records)}; in "
              f"{len(book_sizes)} archives, {statistics.mean(book_sizes or [0]) / 1e6:.2f} MB each")
    return firsts, totals, rss.peak


def run(url: str, args: argparse.Namespace) -> None:
    migrate.upgrade(url)
    domains.install()
    print(f"generating and importing a city of {args.children} full-history children ...")
    city(url, args.children)
    records = largest(url, args.records)
    print(f"{len(records)} largest records: {statistics.mean(r[1] for r in records):.0f} resources and "
          f"{statistics.mean(r[2] for r in records):.0f} documents each on average")
    token = backend_token(url)
    with tempfile.TemporaryDirectory() as home, server(url, Path(home)) as pid:
        download(f"/fhir/R4/Patient/{records[-1][0]}/$everything", token)  # warm the process up
        idle = RssPeak(pid).rss()
        print(f"server RSS before the batches: {idle / 2**20:.1f} MB")
        e_first, e_total, e_peak = batch("$everything (baseline)", records, token, pid,
                                         "/fhir/R4/Patient/{}/$everything", url)
        c_first, c_total, c_peak = batch("$record-archive, cold (renders)", records, token, pid,
                                         "/fhir/R4/Patient/{}/$record-archive", url)
        w_first, w_total, w_peak = batch("$record-archive, warm (kept PDFs)", records, token, pid,
                                         "/fhir/R4/Patient/{}/$record-archive", url)
    med = statistics.median
    print("ratios (median, archive / $everything of the same child):")
    print(f"  first byte: cold {med(c_first) / med(e_first):5.2f}x, warm {med(w_first) / med(e_first):5.2f}x")
    print(f"  whole:      cold {med(c_total) / med(e_total):5.1f}x, warm {med(w_total) / med(e_total):5.1f}x")
    print(f"  peak RSS over the idle server: $everything +{(e_peak - idle) / 2**20:.1f} MB, archive cold "
          f"+{(c_peak - idle) / 2**20:.1f} MB, warm +{(w_peak - idle) / 2**20:.1f} MB")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that the server and the embedded database are stopped on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 records of a 6-child city")
    args = parser.parse_args()
    args.children, args.records = (6, 3) if args.quick else (40, 20)
    external = os.environ.get("MEDCARD_BENCH_DATABASE_URL")
    if external:
        run(external, args)
        return
    with tempfile.TemporaryDirectory() as home, embedded_database(Path(home)) as url:
        run(url, args)


if __name__ == "__main__":
    main()
