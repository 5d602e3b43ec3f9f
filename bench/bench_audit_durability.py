"""Benchmark: what a durable audit row costs a read (MEDCARD_DURABLE_READ_AUDIT on vs off).

Every read of a record writes its audit row on the read's own autocommit connection. By default
(MEDCARD_DURABLE_READ_AUDIT=true) the read is answered only after its row is on disk; with false,
the row is committed with ``synchronous_commit = off``: PostgreSQL acknowledges before the WAL is
flushed, and a crash (or a failover) can lose the rows of the reads answered in the last
3 x wal_writer_delay. This runs two medcard servers (uvicorn, one worker each) on two databases of one
embedded PostgreSQL (fsync on, on this machine's disk), identical but for that setting, and
measures in the same run, in rounds whose order alternates: the p50 of a single client's reads by
id, and reads per second from 4 and 16 concurrent clients (where commits share WAL flushes).
Prints figures and the on/off ratios; asserts nothing.

    python bench/bench_audit_durability.py [--quick]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_store import machine, patient, percentile
from benchauth import backend_token
from medcard.core import jsonutil, migrate
from medcard.core.embedded import embedded_database

MODES = ("on", "off")


class Client:
    """A keep-alive HTTP/1.1 connection with its own bearer token."""

    def __init__(self, base: str, token: str) -> None:
        parts = urlsplit(base)
        self.path = parts.path
        self.headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json",
                        "Authorization": f"Bearer {token}"}
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        self.conn.request(method, self.path + path, body=body, headers=self.headers)
        response = self.conn.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.conn.close()


@contextmanager
def server(url: str, port: int, *, durable: bool) -> Iterator[str]:
    """A medcard server (one uvicorn worker) on ``url``, with or without durable read audit rows."""
    env = {**os.environ, "MEDCARD_DATABASE_URL": url, "MEDCARD_LOG_LEVEL": "warning",
           "MEDCARD_DURABLE_READ_AUDIT": str(durable).lower(), "MEDCARD_API_RATE_PER_MINUTE": "100000000"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "medcard.app:create_app", "--port",
                             str(port), "--log-level", "warning", "--no-access-log"], env=env)
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


def database_url(cluster_url: str, name: str) -> str:
    return cluster_url.replace("/medcard?", f"/{name}?", 1)


def prepare(cluster_url: str) -> dict[str, str]:
    """Two migrated databases, one per mode; their URLs."""
    with psycopg.connect(database_url(cluster_url, "postgres"), autocommit=True) as conn:
        for mode in MODES:
            conn.execute(f"DROP DATABASE IF EXISTS bench_{mode}")
            conn.execute(f"CREATE DATABASE bench_{mode}")
    urls = {mode: database_url(cluster_url, f"bench_{mode}") for mode in MODES}
    for url in urls.values():
        migrate.upgrade(url)
    return urls


def create_patients(client: Client, n: int) -> list[str]:
    ids = []
    for i in range(n):
        status, body = client.request("POST", "/Patient", jsonutil.dumps(patient(i)))
        assert status == 201, body[:200]
        ids.append(jsonutil.loads(body)["id"])
    return ids


def reads(client: Client, ids: list[str], n: int, offset: int = 0) -> list[float]:
    out = []
    for i in range(n):
        t = time.perf_counter()
        status, _ = client.request("GET", f"/Patient/{ids[(offset + i) % len(ids)]}")
        out.append(time.perf_counter() - t)
        assert status == 200
    return out


def concurrent_reads(base: str, token: str, ids: list[str], clients: int, per_client: int) -> float:
    """Reads per second with ``clients`` threads, each on its own connection."""
    def run(k: int) -> None:
        client = Client(base, token)
        try:
            reads(client, ids, per_client, offset=k * 97)
        finally:
            client.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return clients * per_client / (time.perf_counter() - t)


def audit_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM audit_event WHERE subtype = 'read'").fetchone()
    return int(row[0]) if row else 0


def alternating(rounds: int) -> Iterator[tuple[int, tuple[str, str]]]:
    """Rounds with the order of the modes swapped every time (neither always goes first)."""
    for r in range(rounds):
        yield r, MODES if r % 2 == 0 else MODES[::-1]


def run(cluster_url: str, args: argparse.Namespace) -> None:
    urls = prepare(cluster_url)
    tokens = {mode: backend_token(url) for mode, url in urls.items()}
    print(f"machine: {machine()}")
    n, rounds, per_client = (200, 4, 50) if args.quick else (1600, 8, 200)
    latencies: dict[str, list[float]] = {mode: [] for mode in MODES}
    throughput: dict[tuple[str, int], list[float]] = {(mode, c): [] for mode in MODES for c in args.clients}
    with ExitStack() as stack:
        bases = {mode: stack.enter_context(server(urls[mode], args.port + k, durable=mode == "on"))
                 for k, mode in enumerate(MODES)}
        clients_by_mode = {mode: Client(bases[mode], tokens[mode]) for mode in MODES}
        ids = {mode: create_patients(clients_by_mode[mode], 200) for mode in MODES}
        for mode in MODES:
            reads(clients_by_mode[mode], ids[mode], 200)  # warm up: caches, connections, plans
        before = {mode: audit_rows(urls[mode]) for mode in MODES}
        for r, order in alternating(rounds):
            for mode in order:
                client = Client(bases[mode], tokens[mode])  # uvicorn closes connections idle for 5 s
                reads(client, ids[mode], 20)  # its connection set up
                latencies[mode] += reads(client, ids[mode], n // rounds, offset=r * 31)
                client.close()
                for c in args.clients:
                    throughput[mode, c].append(concurrent_reads(bases[mode], tokens[mode], ids[mode], c, per_client))
        audited = {mode: audit_rows(urls[mode]) - before[mode] for mode in MODES}
    print(f"reads by id over HTTP: one client ({n} reads per mode), then {', '.join(map(str, args.clients))} "
          f"concurrent clients ({per_client} reads each); {rounds} rounds, the modes' order alternating:")
    p50 = {}
    for mode in MODES:
        ms = [x * 1000 for x in latencies[mode]]
        p50[mode] = statistics.median(ms)
        concurrent = "  ".join(f"{c} clients {statistics.median(throughput[mode, c]):5.0f}/s" for c in args.clients)
        print(f"  durable read audit {mode:<3}  read p50 {p50[mode]:6.3f} ms  p95 {percentile(ms, 0.95):6.3f} ms  "
              f"{concurrent}  (audit rows written: {audited[mode]})")
    rate = {key: statistics.median(values) for key, values in throughput.items()}
    ratios = "  ".join(f"{c} clients {rate['on', c] / rate['off', c]:.3f}" for c in args.clients)
    print(f"ratio on/off: read p50 {p50['on'] / p50['off']:.3f}; reads/s (median of rounds): {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--port", type=int, default=8741, help="first of the two servers' ports")
    parser.add_argument("--clients", type=int, nargs="+", default=[4, 16], help="concurrent clients to measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="medcard-bench-") as home, \
            embedded_database(Path(home)) as url:
        run(url, args)


if __name__ == "__main__":
    main()
