"""Issued PDFs are signed, carry a QR code of their verification page, and can be revoked."""

from __future__ import annotations

import asyncio
import subprocess
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import zxingcpp
from asn1crypto import x509 as asn1_x509
from document_records import CHILD_NAME, base_record, load, run_render
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from conftest import ServerThread
from helpers import create_account
from medcard.access.requester import Requester
from medcard.config import Settings
from medcard.core.errors import NotFound
from medcard.documents import registry, signing
from medcard.documents.render import RenderedPdf
from medcard.documents.verification import Verification, verify_file


@pytest.fixture
def rendered(http: httpx.Client, database_url: str, settings: Settings) -> RenderedPdf:
    load(http, base_record())
    return run_render(database_url, settings, "doc-school")


def run(url: str, work):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        async with await psycopg.AsyncConnection.connect(url) as conn:
            result = await work(conn)
            await conn.commit()
            return result

    return asyncio.run(go())


def verify(url: str, data: bytes) -> Verification:
    return run(url, lambda conn: verify_file(conn, data))  # type: ignore[no-any-return]


def test_pyhanko_validates_the_signature_against_the_clinics_certificate(database_url: str,
                                                                         rendered: RenderedPdf) -> None:
    certs = run(database_url, signing.certificates)
    assert list(certs) == ["org-7"]  # made on first use, for the issuing clinic

    async def validate() -> object:
        sig = PdfFileReader(BytesIO(rendered.data)).embedded_signatures[0]
        context = ValidationContext(trust_roots=[asn1_x509.Certificate.load(certs["org-7"])], allow_fetching=False)
        return await async_validate_pdf_signature(sig, context)

    status = asyncio.run(validate())
    assert status.intact  # type: ignore[attr-defined]
    assert status.valid  # type: ignore[attr-defined]
    assert status.trusted  # type: ignore[attr-defined]
    assert "ГБУЗ «Детская городская" in status.signing_cert.subject.human_friendly  # type: ignore[attr-defined]
    result = verify(database_url, rendered.data)
    assert result.status == "valid"
    assert result.exit_code == 0


def test_a_changed_byte_fails_the_check(database_url: str, rendered: RenderedPdf) -> None:
    data = bytearray(rendered.data)
    at = data.index(b"stream", len(data) // 4) + 20  # inside a content stream, within the signed range
    data[at] ^= 0x01
    result = verify(database_url, bytes(data))
    assert not result.signature.intact
    assert result.status == "invalid"
    assert result.exit_code == 1


def test_bytes_appended_after_the_signature_fail_the_check(database_url: str, rendered: RenderedPdf) -> None:
    result = verify(database_url, rendered.data + b"\n% appended\n")
    assert result.status == "invalid"


def test_a_pdf_not_issued_by_medcard_is_not_valid(database_url: str) -> None:
    result = verify(database_url, b"%PDF-1.7\nnot really\n")
    assert result.status == "invalid"
    assert "readable" in result.signature.problem or "no signature" in result.signature.problem


def _qr(data: bytes, tmp_path: Path) -> str:
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(data)
    subprocess.run(["/usr/bin/pdftoppm", "-r", "150", "-png", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")],
                   check=True)
    image = Image.open(next(tmp_path.glob("p*.png")))
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1
    return str(found[0].text)


def test_the_qr_code_leads_to_the_verification_page_which_shows_no_name(
        database_url: str, rendered: RenderedPdf, server: ServerThread, tmp_path: Path) -> None:
    url = _qr(rendered.data, tmp_path)
    assert url == rendered.verify_url
    assert urlsplit(url).path == f"/verify/{rendered.code}"
    page = httpx.get(f"http://127.0.0.1:{server.port}{urlsplit(url).path}")
    assert page.status_code == 200
    assert "Документ выдан и действителен" in page.text
    assert "Медицинская справка для поступления в дошкольную образовательную организацию" in page.text
    assert "Детская городская поликлиника № 7" in page.text
    assert CHILD_NAME not in page.text
    assert "Ёлкина" not in page.text


def test_a_revoked_document_verifies_as_revoked_not_unknown(database_url: str, rendered: RenderedPdf,
                                                            server: ServerThread) -> None:
    issued = run(database_url, lambda conn: registry.revoke(conn, rendered.code.lower(), "Ошибка в дате рождения"))
    assert issued.revoked
    result = verify(database_url, rendered.data)
    assert result.status == "revoked"
    assert result.exit_code == 2
    page = httpx.get(f"http://127.0.0.1:{server.port}/verify/{rendered.code}")
    assert page.status_code == 200
    assert "отозван" in page.text
    assert "Ошибка в дате рождения" not in page.text  # the reason is for those who may read the record


def test_an_unknown_code_is_not_issued(server: ServerThread) -> None:
    page = httpx.get(f"http://127.0.0.1:{server.port}/verify/AAAA-BBBB-CCCC")
    assert page.status_code == 404
    assert "не выдавался" in page.text
    page = httpx.get(f"http://127.0.0.1:{server.port}/verify/%3Cscript%3E")
    assert page.status_code == 404
    assert "<script>" not in page.text


def test_a_document_of_a_record_the_requester_may_not_see_is_not_found(http: httpx.Client, database_url: str,
                                                                         settings: Settings) -> None:
    load(http, base_record())
    account = create_account(database_url, "family", "stranger-parent")
    stranger = Requester("family", "Stranger", account_id=account)
    with pytest.raises(NotFound) as refused:
        run_render(database_url, settings, "doc-school", stranger)
    with pytest.raises(NotFound) as missing:
        run_render(database_url, settings, "no-such-doc", stranger)
    assert refused.value.message == "DocumentReference/doc-school is not known"
    assert missing.value.message == "DocumentReference/no-such-doc is not known"
    issued = run(database_url, lambda conn: conn.execute("SELECT count(*) FROM document_issued"))
    assert issued is not None
