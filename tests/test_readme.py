"""The README's examples run as written: its shell and Python blocks against a real server, its doctests.

The shell blocks (``sh``) and Python blocks (``python``) are put in one bash script in the order
the README gives them (a Python block runs as ``.venv/bin/python -``, in the same shell, so it
sees ``TOKEN``), and the script runs with ``set -euo pipefail`` in an empty folder whose
``.venv`` is the virtual environment running the tests. Three things differ from a reader's
shell, and only these: the server's address (``localhost:8000`` becomes the test server's),
the database the command line reaches (``MEDCARD_DATABASE_URL``, the test server's), and
``curl``, which becomes a function that runs the real curl and fails the script when a request
fails or answers an HTTP error (a reader sees the error in the output; a script has to be told).
The demo city the pediatrics examples expect is a small synthetic one, generated for a fixed day.
Blocks made only of ``make`` commands are left out: ``make demo`` serves until it is stopped and
``make test`` is this test suite.
"""

from __future__ import annotations

import doctest
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ServerThread

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)
PYTHON_END = "MEDCARD_README_PYTHON"

CHECKED_CURL = """\
curl() {  # the real curl; a failed request or an HTTP error status stops the script
  local out status=0
  out=$(mktemp)
  command curl --fail-with-body --show-error -o "$out" "$@" || status=$?
  cat "$out" || true  # a reader that stops early (head -c) is not an error
  rm -f "$out"
  if [ "$status" -ne 0 ]; then echo "curl failed ($status): $*" >&2; fi
  return "$status"
}
"""


def blocks(*langs: str) -> list[tuple[str, int, str]]:
    """(language, line, text) of each fenced block of the README in one of ``langs``."""
    text = README.read_text(encoding="utf-8")
    return [(m["lang"], text.count("\n", 0, m.start()) + 2, m["body"]) for m in FENCE.finditer(text)
            if m["lang"] in langs]


def is_make_only(body: str) -> bool:
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    return all(line.startswith("make ") for line in lines)


def script(port: int) -> str:
    """The README's shell and Python blocks as one bash script, aimed at the server on ``port``."""
    parts = ["set -euo pipefail", CHECKED_CURL, "set -x"]
    for lang, line, body in blocks("sh", "python"):
        if lang == "sh" and is_make_only(body):
            continue
        parts.append(f": README.md line {line}")
        if lang == "sh":
            parts.append(body)
        else:
            assert PYTHON_END not in body
            parts.append(f".venv/bin/python - <<'{PYTHON_END}'\n{body}{PYTHON_END}")
    address = f"127.0.0.1:{port}"
    return "\n".join(parts).replace("localhost:8000", address).replace("127.0.0.1:8000", address)


def readers_folder(tmp_path: Path) -> Path:
    """An empty folder with ``.venv`` (the environment running these tests), as after ``make demo``."""
    assert sys.prefix != sys.base_prefix, "run the tests from a virtual environment, as `make test` does"
    folder = tmp_path / "checkout"
    folder.mkdir()
    (folder / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return folder


def test_the_readme_has_the_examples_this_test_runs() -> None:
    """The test runs something: the blocks it looks for are there."""
    runnable = [b for b in blocks("sh", "python") if not (b[0] == "sh" and is_make_only(b[2]))]
    assert len(runnable) >= 3
    assert any("--data-urlencode 'family=иванова'" in body for _, _, body in runnable)
    assert blocks("pycon")


@pytest.mark.slow
def test_the_readmes_commands_run_as_written(server: ServerThread, database_url: str, tmp_path: Path) -> None:
    assert shutil.which("curl"), "the README's examples need curl"
    folder = readers_folder(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("TOKEN", "H") and not k.startswith("MEDCARD_")}
    env |= {"MEDCARD_DATABASE_URL": database_url, "MEDCARD_HOME": str(tmp_path / "home")}
    city = subprocess.run([".venv/bin/medcard", "synth", "--children", "3", "--clinics", "1", "--seed", "1",
                           "--today", "2026-11-26"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=240)
    assert city.returncode == 0, city.stderr[-3000:]
    run = subprocess.run(["bash", "-c", script(server.port)], cwd=folder, env=env, capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 0, f"stdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-5000:]}"
    assert (folder / "chart.svg").read_text(encoding="utf-8").startswith("<svg")


def test_the_readmes_python_examples_give_what_they_show() -> None:
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    for _, line, body in blocks("pycon"):
        test = parser.get_doctest(body, {}, f"README.md line {line}", str(README), line)
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
    assert runner.tries > 0
