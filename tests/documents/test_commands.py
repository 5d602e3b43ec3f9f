"""`medcard documents render|verify|revoke` as an operator runs them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx

from document_records import CHILD_NAME, base_record, load, pdf_text
from test_cli import MEDCARD, env_for


def medcard(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MEDCARD, "documents", *args], env=env_for(home, MEDCARD_DATABASE_URL=url),
                          capture_output=True, text=True, timeout=240)


def test_render_verify_revoke_from_the_command_line(http: httpx.Client, database_url: str, tmp_path: Path) -> None:
    load(http, base_record())
    out = tmp_path / "visit.pdf"
    rendered = medcard(tmp_path, database_url, "render", "doc-visit", "--out", str(out))
    assert rendered.returncode == 0, rendered.stderr
    code = rendered.stdout.split("code ")[1].split(",")[0]
    assert CHILD_NAME in " ".join(pdf_text(out.read_bytes(), tmp_path).split())

    checked = medcard(tmp_path, database_url, "verify", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "status: valid" in checked.stdout
    assert f"code: {code}" in checked.stdout
    assert "issuer: ГБУЗ «Детская городская поликлиника № 7 ДЗМ»" in checked.stdout

    tampered = tmp_path / "tampered.pdf"
    data = bytearray(out.read_bytes())
    data[data.index(b"stream", len(data) // 4) + 20] ^= 0x01
    tampered.write_bytes(bytes(data))
    bad = medcard(tmp_path, database_url, "verify", str(tampered))
    assert bad.returncode == 1
    assert "status: invalid" in bad.stdout
    assert "signature: NOT valid" in bad.stdout

    revoked = medcard(tmp_path, database_url, "revoke", code, "--reason", "Ошибка в диагнозе")
    assert revoked.returncode == 0, revoked.stderr
    again = medcard(tmp_path, database_url, "verify", str(out))
    assert again.returncode == 2
    assert "status: revoked" in again.stdout
    assert "Ошибка в диагнозе" in again.stdout

    unknown = medcard(tmp_path, database_url, "revoke", "ZZZZ-ZZZZ-ZZZZ", "--reason", "x")
    assert unknown.returncode == 1
    assert "no document was issued with the code ZZZZ-ZZZZ-ZZZZ" in unknown.stderr
    missing = medcard(tmp_path, database_url, "render", "no-such-doc", "--out", str(tmp_path / "x.pdf"))
    assert missing.returncode == 1
    assert "DocumentReference/no-such-doc is not known" in missing.stderr
