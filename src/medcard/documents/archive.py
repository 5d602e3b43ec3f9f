"""The whole record of a child in one ZIP, streamed as it is built.

What the archive holds (README.txt, in Russian, says the same to the family)::

    README.txt                       what is where
    record-book.pdf                  the record book (documents.book), when it can be rendered
    documents/{year}/{date} {title} ({id}).pdf
                                     every document's PDF (kept, or rendered on first request); a document
                                     no renderer can make a PDF of is included as it was written (.html, .txt)
    fhir/everything.json             the whole record as FHIR: exactly what Patient/{id}/$everything returns
    fhir/ips.json                    the International Patient Summary (a FHIR document Bundle)
    problems.txt                     only when a stored file was missing or damaged: which ones were left out

The ZIP is written with the standard library's ``zipfile`` onto a sink that is emptied after every
write (a non-seekable stream: each member's sizes follow it in a data descriptor), so the first bytes
leave at once and memory holds one chunk, whatever the size of the record (ADR 0011).
"""

from __future__ import annotations

import base64
import re
import zipfile
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from medcard.access.gate import Gate
from medcard.config import Settings
from medcard.core import jsonutil
from medcard.core.db import Database
from medcard.core.errors import MedcardError
from medcard.core.time import CLINIC_TZ as MOSCOW
from medcard.documents.binaries import blob_of
from medcard.documents.blobs import BlobError, blob_store, primed, read_verified
from medcard.documents.ips import ips_document
from medcard.documents.pdfs import ensure_pdf, render_record_book
from medcard.fhir import store
from medcard.fhir.operations.base import OperationCall
from medcard.fhir.operations.everything import everything

OUT_CHUNK = 64 * 1024
EVERYTHING, IPS, BOOK, README, PROBLEMS = "fhir/everything.json", "fhir/ips.json", "record-book.pdf", "README.txt", \
    "problems.txt"
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_EXTENSIONS = {"text/html": "html", "text/plain": "txt", "application/pdf": "pdf"}


@dataclass(frozen=True)
class Archive:
    """One archive to build: whose, for whom (the gate), when."""

    db: Database
    settings: Settings
    base: str
    gate: Gate
    patient_id: str
    now: datetime


@dataclass
class _Document:
    id: str
    day: str  # YYYY-MM-DD
    title: str

    def name(self, ext: str) -> str:
        """``documents/{year}/{date} {title} ({end of the id}).{ext}``: the end of the id tells apart two
        documents of one day and title (ids made by one generator share their beginning)."""
        title = _UNSAFE.sub(" ", self.title).strip()[:80].strip() or "Документ"
        return f"documents/{self.day[:4] or 'без даты'}/{self.day} {title} ({self.id[-8:]}).{ext}".replace("  ", " ")


@dataclass
class _Zip:
    """zipfile writing onto a list of bytes that the archive's generator empties after every write."""

    parts: list[bytes] = field(default_factory=list)
    zip: zipfile.ZipFile = field(init=False)

    def __post_init__(self) -> None:
        self.zip = zipfile.ZipFile(self, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6)

    def write(self, data: bytes) -> int:  # the file-object protocol zipfile needs
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:  # zipfile never closes a file object it was given
        pass

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out

    def unique(self, name: str) -> str:
        """The name, or with " (2)", " (3)" ... before its extension when the archive holds it already."""
        taken = set(self.zip.namelist())
        stem, dot, ext = name.rpartition(".")
        n = 1
        while name in taken:
            n += 1
            name = f"{stem} ({n}){dot}{ext}"
        return name

    async def member(self, name: str, when: datetime, chunks: AsyncIterator[bytes] | Iterable[bytes]
                     ) -> AsyncIterator[bytes]:
        info = zipfile.ZipInfo(self.unique(name), date_time=when.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        with self.zip.open(info, "w") as out:
            yield self.take()  # the member's local header
            if isinstance(chunks, AsyncIterator):
                async for piece in chunks:
                    out.write(piece)
                    yield self.take()
            else:
                for piece in chunks:
                    out.write(piece)
                    yield self.take()
        yield self.take()

    def finish(self) -> bytes:
        """The central directory: the archive's end."""
        self.zip.close()
        return self.take()


async def record_archive(a: Archive) -> AsyncIterator[bytes]:
    """The archive in chunks: the first one at once, then about 64 KB each."""
    pending, size, first = [], 0, True
    async for piece in _members(a):
        if not piece:
            continue
        if first:
            yield piece
            first = False
            continue
        pending.append(piece)
        size += len(piece)
        if size >= OUT_CHUNK:
            yield b"".join(pending)
            pending, size = [], 0
    if pending:
        yield b"".join(pending)


async def _members(a: Archive) -> AsyncIterator[bytes]:
    z = _Zip()
    local = a.now.astimezone(MOSCOW)
    documents = await _documents(a)
    problems: list[str] = []
    async for piece in z.member(README, local, [readme(documents, local).encode()]):
        yield piece
    async for piece in z.member(EVERYTHING, local, await _everything(a)):
        yield piece
    async for piece in z.member(IPS, local, _ips(a)):
        yield piece
    for doc in documents:
        async for piece in _document(a, z, doc, problems):
            yield piece
    book = await _record_book(a)
    if book is not None:
        async for piece in z.member(BOOK, local, [book]):
            yield piece
    else:
        problems.append(f"{BOOK}: книжку записей сейчас не удалось сформировать.")
    if problems:
        text = "Не вошли в архив:\n" + "\n".join(problems) + "\n"
        async for piece in z.member(PROBLEMS, local, [text.encode()]):
            yield piece
    yield z.finish()


async def _documents(a: Archive) -> list[_Document]:
    """The child's documents the requester may see, in time order (small: ids, dates and titles)."""
    found = []
    async with a.db.transaction() as conn:  # a server-side cursor needs a transaction
        shown = await a.gate.content_filter(conn, a.patient_id)
        async for s in store.everything(conn, a.patient_id, types=["DocumentReference"]):
            if s.content is None or s.patient_id != a.patient_id or not shown(s.resource_type, s.content):
                continue
            doc = jsonutil.loads(s.content)
            if doc.get("status") == "entered-in-error":
                continue
            title = doc.get("description") or ((doc.get("type") or {}).get("text")) or "Документ"
            found.append(_Document(s.id, str(doc.get("date", ""))[:10], str(title)))
    return sorted(found, key=lambda d: (d.day, d.id))


async def _everything(a: Archive) -> AsyncIterator[bytes]:
    call = OperationCall(a.db, a.settings, a.base, "Patient", a.patient_id, [], gate=a.gate)
    result = await everything(call)
    assert result.stream is not None
    return result.stream


async def _ips(a: Archive) -> AsyncIterator[bytes]:
    async with a.db.transaction() as conn:
        shown = await a.gate.content_filter(conn, a.patient_id)
        async for piece in ips_document(conn, a.base, a.patient_id, shown, a.now):
            yield piece


async def _document(a: Archive, z: _Zip, doc: _Document, problems: list[str]) -> AsyncIterator[bytes]:
    """One document's member: its PDF (rendered and kept on first request), or the document as written."""
    when = datetime.fromisoformat(doc.day + "T12:00:00") if len(doc.day) == 10 else a.now.astimezone(MOSCOW)
    binary_id = await _pdf_of(a, doc.id)
    async with a.db.transaction() as conn:
        binary = await store.read_current(conn, "Binary", binary_id) if binary_id else None
        written = None if binary is not None else await store.read_current(conn, "DocumentReference", doc.id)
    if binary is not None and binary.content is not None:
        resource = binary.resource()
        ref = blob_of(resource)
        if ref is None:
            data = base64.b64decode(resource.get("data", ""))
            async for piece in z.member(doc.name("pdf"), when, [data]):
                yield piece
            return
        try:
            # Checked before the member starts: a damaged file is left out, never half-written.
            chunks = await primed(read_verified(blob_store(a.settings), ref.key))
        except BlobError:
            problems.append(f"{doc.name('pdf')}: файл в хранилище повреждён или отсутствует; "
                            "администраторы получили сообщение.")
            return
        async for piece in z.member(doc.name("pdf"), when, chunks):
            yield piece
        return
    as_written = _as_written(written.resource() if written is not None and written.content else {})
    if as_written is not None:
        ext, data = as_written
        async for piece in z.member(doc.name(ext), when, [data]):
            yield piece


async def _pdf_of(a: Archive, docref_id: str) -> str | None:
    """The document's PDF, kept or rendered now in a transaction of its own (a failed rendering leaves the
    document as it was written, and the archive goes on)."""
    try:
        async with a.db.transaction() as conn:
            a.gate.rebind(conn)
            found = await ensure_pdf(conn, a.gate, a.settings, docref_id)
            await a.gate.flush(conn)  # what rendering read is audited with the archive, as it goes
            return found
    except MedcardError:
        return None


def _as_written(docref: dict[str, Any]) -> tuple[str, bytes] | None:
    """The first inline attachment of a document, with the extension of its type."""
    for content in docref.get("content", []):
        att = content.get("attachment") or {}
        kind = str(att.get("contentType", "")).split(";")[0].strip()
        if "data" in att:
            return _EXTENSIONS.get(kind, "bin"), base64.b64decode(att["data"])
    return None


async def _record_book(a: Archive) -> bytes | None:
    """The record book PDF, or None when it cannot be rendered (the archive says so in problems.txt)."""
    async with a.db.transaction() as conn:
        a.gate.rebind(conn)
        try:
            data = await render_record_book(conn, a.gate, a.settings, a.patient_id)
        except MedcardError:
            return None
        await a.gate.flush(conn)
    return data


def readme(documents: list[_Document], when: datetime) -> str:
    """README.txt: what the archive holds, in Russian (CRLF: Windows' Notepad shows it as it should)."""
    lines = [
        "Медицинская карта ребёнка: полный архив",
        f"Сформирован {when:%d.%m.%Y %H:%M} (московское время) системой medcard.",
        "",
        "Что внутри:",
        f"  {BOOK} — книжка записей: вся карта в одном PDF (сводка, графики роста, прививки, визиты, анализы).",
        "  documents/ — каждый документ отдельным PDF, по папкам годов: протоколы приёмов, результаты,",
        "      справки. Документы подписаны электронной подписью поликлиники; подлинность проверяется",
        "      по QR-коду на документе.",
        f"  {EVERYTHING} — вся карта в международном формате HL7 FHIR R4 (Bundle, JSON): для переноса",
        "      в другую медицинскую информационную систему.",
        f"  {IPS} — международная сводка о пациенте (International Patient Summary, HL7 FHIR):",
        "      диагнозы, аллергии, лекарства, прививки, результаты анализов — для врача в другой стране.",
        f"  {PROBLEMS} — есть, только если какой-то файл не удалось включить, с объяснением.",
        "",
        f"Документов: {len(documents)}.",
        "",
        "Это медицинские сведения: храните архив так, чтобы посторонние не могли его открыть.",
    ]
    return "\r\n".join(lines) + "\r\n"
