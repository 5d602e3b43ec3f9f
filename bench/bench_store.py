"""Benchmark: create, read-by-id and transaction throughput of the FHIR API.

Runs a real medcard server (uvicorn, one worker, its own process) on the embedded PostgreSQL
(or on MEDCARD_BENCH_DATABASE_URL) and drives it over HTTP. The baseline is PostgreSQL's own
cost of the same work, measured in the same run on the same server: a plain INSERT of the same
JSON into a bare table, and a plain SELECT of it by primary key. Prints figures and ratios;
asserts nothing.

    python bench/bench_store.py [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchauth import backend_token
from medcard.core import jsonutil, migrate
from medcard.core.embedded import embedded_database

HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}


def observation(patient_id: str, i: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}],
                 "text": "Масса тела"},
        "subject": {"reference": patient_id},
        "effectiveDateTime": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T10:{i % 60:02d}:00+03:00",
        "valueQuantity": {"value": 10 + (i % 300) / 10, "unit": "kg", "system": "http://unitsofmeasure.org",
                          "code": "kg"},
    }


def patient(i: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:1.2.643.100.3", "value": f"{i:011d}"}],
        "name": [{"family": "Иванов", "given": ["Пётр", "Сергеевич"]}],
        "gender": "male",
        "birthDate": f"20{10 + i % 14:02d}-0{1 + i % 9}-1{i % 10}",
        "address": [{"city": "Москва", "line": ["ул. Тверская, д. 1"]}],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, latencies: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in latencies]
    out = {"p50_ms": statistics.median(ms), "p95_ms": percentile(ms, 0.95), "p99_ms": percentile(ms, 0.99),
           "per_s": len(ms) / (sum(latencies) or 1)}
    print(f"  {name:<44} p50 {out['p50_ms']:7.3f} ms   p95 {out['p95_ms']:7.3f} ms   "
          f"p99 {out['p99_ms']:7.3f} ms   {out['per_s']:8.0f}/s")
    return out


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


@contextmanager
def server(url: str, port: int, workers: int) -> Iterator[str]:
    env = {**os.environ, "MEDCARD_DATABASE_URL": url, "MEDCARD_LOG_LEVEL": "warning", "MEDCARD_DB_POOL_MAX": "20",
           "MEDCARD_API_RATE_PER_MINUTE": "100000000",
           "MEDCARD_API_RATE_BACKEND_PER_MINUTE": "0"}  # measuring throughput, not the limit
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "medcard.app:create_app", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning", "--no-access-log"], env=env)
    base = f"http://127.0.0.1:{port}/fhir/R4"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/metadata", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def baseline(url: str, n: int, bundle: int, bundles: int) -> dict[str, dict[str, float]]:
    """PostgreSQL's own cost: the same JSON into and out of a bare table."""
    body = jsonutil.dumps_str(observation("Patient/x", 1))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_plain")
        conn.execute("CREATE TABLE bench_plain (id text PRIMARY KEY, content text NOT NULL)")
        ids = [str(uuid.uuid4()) for _ in range(n)]
        it = iter(ids)
        print("baseline (psycopg straight to PostgreSQL, same JSON):")
        out = {"insert": summary("INSERT one row (autocommit)", timed(
            lambda: conn.execute("INSERT INTO bench_plain VALUES (%s, %s)", (next(it), body)), n))}
        it = iter(ids)
        out["select"] = summary("SELECT by primary key", timed(
            lambda: conn.execute("SELECT content FROM bench_plain WHERE id = %s", (next(it),)).fetchone(), n))

        def insert_batch() -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany("INSERT INTO bench_plain VALUES (%s, %s)",
                                [(str(uuid.uuid4()), body) for _ in range(bundle)])

        lat = timed(insert_batch, bundles)
        out["batch"] = {"rows_per_s": bundle * bundles / sum(lat)}
        print(f"  {'INSERT ' + str(bundle) + ' rows in one transaction':<44} "
              f"{out['batch']['rows_per_s']:8.0f} rows/s")
        conn.execute("DROP TABLE bench_plain")
    return out


class Client:
    """A keep-alive HTTP/1.1 connection with little client-side overhead (http.client)."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.path = parts.path
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self.conn.request(method, self.path + path, body=body, headers=HEADERS)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


def tx_body(pid: str, size: int) -> bytes:
    entries = [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": observation(pid, i),
                "request": {"method": "POST", "url": "Observation"}} for i in range(size)]
    return jsonutil.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries})


def parallel(clients: int, total: int, work: Callable[[Client, int], int], base: str) -> float:
    """Units of work per second with ``clients`` concurrent connections (threads)."""
    counter = iter(range(total))
    lock = threading.Lock()
    done = [0]

    def run() -> None:
        client = Client(base)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                units = work(client, i)
                with lock:
                    done[0] += units
        finally:
            client.close()

    threads = [threading.Thread(target=run) for _ in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return done[0] / (time.perf_counter() - t)


def medcard_figures(base: str, n: int, bundle: int, bundles: int, clients: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    client = Client(base)
    _status, raw = client.request("POST", "/Patient", jsonutil.dumps(patient(0)))
    pid = "Patient/" + jsonutil.loads(raw)["id"]
    created: list[str] = []

    def create() -> None:
        status, raw = client.request("POST", "/Observation", jsonutil.dumps(observation(pid, len(created))))
        assert status == 201, raw[:300]
        created.append(jsonutil.loads(raw)["id"])

    out["create"] = summary("create Observation (POST)", timed(create, n))
    it = iter(created)
    out["read"] = summary("read Observation by id (GET)",
                          timed(lambda: client.request("GET", f"/Observation/{next(it)}"), n))

    def transaction() -> None:
        status, raw = client.request("POST", "", tx_body(pid, bundle))
        assert status == 200, raw[:500]

    lat = timed(transaction, bundles)
    client.close()
    out["transaction"] = {"resources_per_s": bundle * bundles / sum(lat), "p50_ms": statistics.median(lat) * 1000}
    print(f"  {'transaction of ' + str(bundle) + ' Observations':<44} p50 {out['transaction']['p50_ms']:7.1f} ms"
          f"   {out['transaction']['resources_per_s']:8.0f} resources/s")

    def read_one(c: Client, i: int) -> int:
        return 1 if c.request("GET", f"/Observation/{created[i % len(created)]}")[0] == 200 else 0

    def create_one(c: Client, i: int) -> int:
        return 1 if c.request("POST", "/Observation", jsonutil.dumps(observation(pid, i)))[0] == 201 else 0

    # The concurrent run is three times longer (a second-long run moved with the VM's load) and its
    # bodies are made beforehand: the clients share the server's two cores, and building JSON is
    # the client's work, not the server's.
    concurrent_bundles = 3 * bundles
    bodies = [tx_body(pid, bundle) for _ in range(concurrent_bundles)]

    def tx_one(c: Client, i: int) -> int:
        return bundle if c.request("POST", "", bodies[i])[0] == 200 else 0

    out["read_concurrent_per_s"] = parallel(clients, n, read_one, base)
    out["create_concurrent_per_s"] = parallel(clients, n, create_one, base)
    server_cpu, database_cpu = cpu_seconds()
    out["transaction_concurrent_resources_per_s"] = parallel(clients, concurrent_bundles, tx_one, base)
    server_cpu, database_cpu = (after - before for after, before in zip(cpu_seconds(), (server_cpu, database_cpu),
                                                                         strict=True))
    print(f"  {f'read, {clients} concurrent clients':<44} {out['read_concurrent_per_s']:8.0f}/s")
    print(f"  {f'create, {clients} concurrent clients':<44} {out['create_concurrent_per_s']:8.0f}/s")
    print(f"  {f'transactions of {bundle}, {clients} concurrent clients':<44} "
          f"{out['transaction_concurrent_resources_per_s']:8.0f} resources/s")
    print(f"    CPU per resource in that run: the server {server_cpu / concurrent_bundles / bundle * 1e6:.0f} µs, "
          f"PostgreSQL {database_cpu / concurrent_bundles / bundle * 1e6:.0f} µs (on {os.cpu_count()} cores)")
    return out


def cpu_seconds() -> tuple[float, float]:
    """CPU used so far by the medcard server's processes and by the local PostgreSQL's (0 if remote)."""
    server = database = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if "medcard.app:create_app" in " ".join(proc.info["cmdline"] or ()):
                for p in (proc, *proc.children(recursive=True)):
                    times = p.cpu_times()
                    server += times.user + times.system
            elif (proc.info["name"] or "").startswith("postgres"):
                times = proc.cpu_times()
                database += times.user + times.system
        except psutil.Error:
            continue  # a process that ended meanwhile
    return server, database


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"


def run(url: str, args: argparse.Namespace) -> None:
    migrate.upgrade(url)
    HEADERS["Authorization"] = f"Bearer {backend_token(url)}"
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    print(f"machine: {machine()}; PostgreSQL {row[0] if row else '?'}")
    n, bundles = (300, 10) if args.quick else (3000, 40)
    base_figures = baseline(url, n, 100, bundles)
    results = {}
    for workers in args.server_workers:
        print(f"medcard over HTTP ({workers} uvicorn worker{'s' if workers > 1 else ''}):")
        with server(url, args.port, workers) as base:
            results[workers] = medcard_figures(base, n, 100, bundles, args.clients)
    for workers, figures in results.items():
        print(f"ratios, {workers} worker(s) (medcard / PostgreSQL alone):")
        print(f"  read p50:   {figures['read']['p50_ms'] / base_figures['select']['p50_ms']:6.1f}x the SELECT")
        print(f"  create p50: {figures['create']['p50_ms'] / base_figures['insert']['p50_ms']:6.1f}x the INSERT")
        ratio = figures['transaction_concurrent_resources_per_s'] / base_figures['batch']['rows_per_s']
        print(f"  transaction resources/s (concurrent): {ratio:6.2f} of plain batched INSERT rows/s")
        best_tx = max(figures["transaction"]["resources_per_s"], figures["transaction_concurrent_resources_per_s"])
        print(f"  targets: read p50 <= 2 ms: {'met' if figures['read']['p50_ms'] <= 2 else 'NOT met'}; "
              f"transactions >= 3000 resources/s: {'met' if best_tx >= 3000 else 'NOT met'} ({best_tx:.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for the throughput runs")
    parser.add_argument("--server-workers", type=int, nargs="+", default=[1, 2],
                        help="uvicorn worker counts to measure (default: 1 and 2)")
    args = parser.parse_args()
    external = os.environ.get("MEDCARD_BENCH_DATABASE_URL")
    if external:
        run(external, args)
        return
    with tempfile.TemporaryDirectory(prefix="medcard-bench-") as home, embedded_database(Path(home)) as url:
        run(url, args)


if __name__ == "__main__":
    main()
