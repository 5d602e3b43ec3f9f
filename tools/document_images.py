"""Render the README's pictures of issued documents: a certificate and two pages of a record book.

A temporary embedded PostgreSQL is loaded with the synthetic 17-year-old (seed 1, 26.11.2026) and a
younger child of the same city with a kindergarten certificate; their documents are issued as in
production (signed, registered) and the chosen pages are turned into PNG with pdftoppm.

    python tools/document_images.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_documents import SYSTEM, TODAY, database, load  # noqa: E402
from medcard import domains  # noqa: E402
from medcard.access.gate import Gate  # noqa: E402
from medcard.config import Settings  # noqa: E402
from medcard.documents import book, render  # noqa: E402


async def _issue(url: str, settings: Settings, teen: str) -> tuple[bytes, bytes]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT id FROM resource WHERE resource_type = 'DocumentReference' AND NOT deleted "
            "AND content LIKE '%%дошкольную%%' ORDER BY id LIMIT 1")
        row = await cur.fetchone()
        assert row is not None, "no kindergarten certificate in the city"
        certificate = await render.render(conn, Gate(conn, SYSTEM), row[0], settings=settings)
        record = await book.issue_record_book(conn, Gate(conn, SYSTEM), teen, settings=settings, on=TODAY)
        await conn.commit()
        return certificate.data, record.data


def png(data: bytes, first: int, last: int, name: str, out: Path, work: Path) -> None:
    path = work / f"{name}.pdf"
    path.write_bytes(data)
    for page in range(first, last + 1):
        target = out / (f"{name}-{page}" if last > first else name)
        subprocess.run(["/usr/bin/pdftoppm", "-r", "80", "-png", "-singlefile", "-f", str(page), "-l", str(page),
                        str(path), str(target)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    domains.install()
    with tempfile.TemporaryDirectory() as work, database() as url:
        settings = Settings(home=Path(work), database_url=url, base_url="https://medcard.example.ru")
        teen = load(url, Path(work))
        certificate, record = asyncio.run(_issue(url, settings, teen))
        png(certificate, 1, 1, "document-certificate", args.out, Path(work))
        png(record, 1, 3, "document-record-book", args.out, Path(work))
        (Path(work) / "book.pdf").write_bytes(record)
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
