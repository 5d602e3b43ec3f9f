"""The record book: a synthetic 17-year-old's whole record, 5,000 results, very long notes."""

from __future__ import annotations

import asyncio
import subprocess
from io import BytesIO
from pathlib import Path

import httpx
import psycopg
import pytest
from document_records import CHILD_NAME, SYSTEM, base_record, load, obs, pdf_text, quantity, run_render
from pyhanko.pdf_utils.reader import PdfFileReader

from conftest import FIXED_TODAY
from helpers import create_account
from medcard.access.gate import Gate
from medcard.access.requester import Requester
from medcard.config import Settings
from medcard.core.errors import NotFound
from medcard.documents import book
from medcard.documents.render import RenderedPdf
from medcard.synth.single import child_record


def run_book(url: str, settings: Settings, patient_id: str) -> RenderedPdf:
    async def go() -> RenderedPdf:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            gate = Gate(conn, SYSTEM)
            rendered = await book.issue_record_book(conn, gate, patient_id, settings=settings, on=FIXED_TODAY)
            await gate.flush(conn)
            await conn.commit()
            return rendered

    return asyncio.run(go())


def pages(data: bytes, tmp_path: Path) -> int:
    path = tmp_path / "pages.pdf"
    path.write_bytes(data)
    info = subprocess.run(["/usr/bin/pdfinfo", str(path)], check=True, capture_output=True, text=True).stdout
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def links(data: bytes) -> int:
    """How many internal links (to a page of the document) its pages hold."""
    reader = PdfFileReader(BytesIO(data))
    found = 0
    for page in range(reader.root["/Pages"]["/Count"]):
        annots = reader.find_page_for_modification(page)[0].get_object().get("/Annots", [])
        found += sum(1 for a in annots if a.get_object().get("/Subtype") == "/Link"
                     and ("/Dest" in a.get_object() or "/A" in a.get_object()))
    return found


def test_the_record_book_of_a_synthetic_teenager_has_every_visit_result_and_vaccination(
        http: httpx.Client, database_url: str, settings: Settings, tmp_path: Path) -> None:
    resources = list(child_record(1, 17, FIXED_TODAY))
    load(http, resources)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    rendered = run_book(database_url, settings, patient["id"])
    flat = " ".join(pdf_text(rendered.data, tmp_path).split())
    total = pages(rendered.data, tmp_path)
    assert f"Стр. {total} из {total}" in flat
    assert "Содержание" in flat
    assert "Физическое развитие" in flat
    assert patient["name"][0]["family"] in flat
    lots = [r["lotNumber"] for r in resources if r["resourceType"] == "Immunization" and "lotNumber" in r]
    assert lots
    assert all(lot in flat for lot in lots)
    codes = {c["code"]["coding"][0]["code"] for c in resources if c["resourceType"] == "Condition"}
    assert all(code in flat for code in codes)
    years = {e["period"]["start"][:4] for e in resources if e["resourceType"] == "Encounter"}
    assert all(f"{year} год" in flat for year in years)
    assert links(rendered.data) >= 4 + len(years)  # the table of contents links to its pages


def test_five_thousand_results_and_a_very_long_note_render(http: httpx.Client, database_url: str,
                                                           settings: Settings, tmp_path: Path) -> None:
    long_note = "Длинная запись врача без пробелов:" + "Ж" * 3000 + " и обычный текст. " * 400 + "КОНЕЦ-ЗАПИСИ"
    load(http, base_record(long_note=long_note))
    for batch in range(5):
        load(http, [obs(f"many-{batch}-{i}", "2345-7", "Глюкоза", {
            "valueQuantity": quantity(round(3.3 + (i % 30) / 10, 1), "ммоль/л", "mmol/L"),
            "referenceRange": [{"low": quantity(3.3, "ммоль/л", "mmol/L"), "high": quantity(5.5, "ммоль/л", "mmol/L")}],
            "interpretation": [{"coding": [{"code": "H" if i % 30 > 22 else "N"}]}]},
            category="laboratory", when=f"20{10 + batch:02d}-0{1 + i % 9}-1{i % 9}T08:00:00+03:00")
            for i in range(1000)])
    rendered = run_book(database_url, settings, "child-1")
    flat = " ".join(pdf_text(rendered.data, tmp_path).split())
    assert flat.count("Глюкоза") >= 5000
    assert CHILD_NAME in flat
    protocol = run_render(database_url, settings, "doc-visit")
    text = " ".join(pdf_text(protocol.data, tmp_path).split())
    assert "КОНЕЦ-ЗАПИСИ" in text
    assert text.replace(" ", "").count("Ж") >= 3000


def test_a_record_the_requester_may_not_read_has_no_book(http: httpx.Client, database_url: str,
                                                         settings: Settings) -> None:
    load(http, base_record())
    stranger = Requester("family", "Stranger", account_id=create_account(database_url, "family", "stranger"))

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            await book.record_book(conn, Gate(conn, stranger), "child-1", settings=settings)

    with pytest.raises(NotFound):
        asyncio.run(go())
