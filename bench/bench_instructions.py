"""Benchmark: the server's instructions per resource in transactions of 100, counted by Valgrind.

On a small shared machine, times move by a third between runs minutes apart; the number of
instructions the server's process executes for the same work does not. This runs the ASGI app
in-process (no HTTP server, no network; PostgreSQL is a separate process and not counted) under
``valgrind --tool=callgrind`` twice, with 1 and with 4 rounds of 10 transactions of 100
Observations, and prints the difference per resource: start-up cancels out. With ``--baseline
SRC`` (another checkout's ``src``, e.g. a ``git worktree`` of an earlier commit), the same is
measured for that code in the same run and the ratio printed.

    python bench/bench_instructions.py [--baseline /tmp/old/src]

Needs Valgrind (Debian: ``apt-get install valgrind``); a run takes a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROUND = 10  # transactions per round
BUNDLE = 100  # resources per transaction


def workload(rounds: int) -> None:
    """Inside Valgrind: start the app on a fresh embedded PostgreSQL and post ``rounds`` x 10 transactions."""
    sys.path.insert(0, str(HERE))
    import httpx

    from bench_store import patient, tx_body
    from benchauth import backend_token
    from medcard.app import create_app
    from medcard.config import Settings
    from medcard.core import jsonutil, migrate
    from medcard.core.embedded import embedded_database

    with embedded_database(Path(tempfile.mkdtemp()) / "home") as url:
        migrate.upgrade(url)
        token = backend_token(url)
        app = create_app(Settings(database_url=url), url)

        async def go() -> None:
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://bench/fhir/R4",
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}) as client:
                r = await client.post("/Patient", content=jsonutil.dumps(patient(1)))
                body = tx_body("Patient/" + r.json()["id"], BUNDLE)
                for _ in range(rounds * ROUND):
                    r = await client.post("", content=body)
                    assert r.status_code == 200, r.text[:300]

        asyncio.run(go())


def instructions(src: Path, rounds: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"}
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
         "--workload", str(rounds)], env=env, capture_output=True, text=True, check=True)
    match = re.search(r"Collected : (\d+)", out.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in Valgrind's output:\n{out.stderr[-2000:]}")
    return int(match.group(1))


def per_resource(src: Path) -> float:
    with ThreadPoolExecutor(2) as pool:  # the two runs at once: one core each
        one, four = pool.map(lambda rounds: instructions(src, rounds), (1, 4))
    return (four - one) / (3 * ROUND * BUNDLE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout's src directory to compare with")
    parser.add_argument("--workload", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload is not None:
        workload(args.workload)
        return
    src = HERE.parent / "src"
    print(f"server instructions per resource, transactions of {BUNDLE} Observations (callgrind):")
    mine = per_resource(src)
    print(f"  this checkout ({src}): {mine:,.0f}")
    if args.baseline:
        base = per_resource(args.baseline)
        print(f"  baseline ({args.baseline}): {base:,.0f}")
        print(f"  ratio: {mine / base:.3f} of the baseline")


if __name__ == "__main__":
    main()
