"""A deployer's install must serve: run with the Python of a venv made by a plain ``pip install .``.

Imports every module of medcard (a module the server imports at run time that is not a runtime
dependency fails here), then starts ``medcard serve`` on the embedded PostgreSQL with a private
MEDCARD_HOME, asks /fhir/R4/metadata, stops it with SIGTERM and expects exit code 0.
Only the standard library is used, so nothing outside the install can make it pass.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import medcard


def import_everything() -> None:
    for module in pkgutil.walk_packages(medcard.__path__, "medcard."):
        if module.name.startswith("medcard.core.migrations"):
            continue  # Alembic's env.py runs migrations when imported; they are run by serve below
        importlib.import_module(module.name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def metadata(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/fhir/R4/metadata", timeout=2) as r:
            found: dict[str, object] = json.loads(r.read())
            return found
    except OSError:
        return None


def serve_once(home: Path) -> None:
    port = free_port()
    medcard_bin = Path(sys.executable).parent / "medcard"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDCARD_")}
    env |= {"MEDCARD_HOME": str(home), "MEDCARD_LOG_LEVEL": "warning"}
    log = home / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(medcard_bin), "serve", "--port", str(port)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while (found := metadata(port)) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"plain install: medcard serve did not answer:\n{log.read_text()}")
            time.sleep(0.5)
        if found.get("resourceType") != "CapabilityStatement":
            raise SystemExit(f"plain install: /metadata answered {found!r}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    if code != 0:
        raise SystemExit(f"plain install: medcard serve exited {code} on SIGTERM:\n{log.read_text()}")


def main() -> None:
    import_everything()
    home = Path(tempfile.mkdtemp(prefix="medcard-plain-"))
    try:
        serve_once(home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("plain install: every module imports; medcard serve answered /fhir/R4/metadata and stopped cleanly")


if __name__ == "__main__":
    main()
