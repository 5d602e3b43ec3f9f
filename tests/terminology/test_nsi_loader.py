"""`medcard terminology load icd10 FILE`: the official NSI 1005 export, all of it or nothing."""

from __future__ import annotations

import asyncio
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from medcard.terminology import icd10, nsi
from test_cli import MEDCARD, env_for

# The head of an NSI 1005 export as the portal writes it: header, chapter, block, categories with and
# without subcategories, a row added later (DATE, and an ID out of order), quoted and bare values.
HEADER = nsi.OFFICIAL_HEADER
ROWS = [
    '1;01;"I";"НЕКОТОРЫЕ ИНФЕКЦИОННЫЕ И ПАРАЗИТАРНЫЕ БОЛЕЗНИ";;;1;',
    '2;0101;"A00-A09";"КИШЕЧНЫЕ ИНФЕКЦИИ";1;;1;',
    '3;"0101A00";"A00";"Холера";2;;1;',
    '4;"0101A000";"A00.0";"Холера, вызванная холерным вибрионом 01, биовар cholerae";3;;1;',
    '6;"0101A009";"A00.9";"Холера неуточненная";3;;1;',
    '70;"0101A09";"A09";"Другой гастроэнтерит и колит инфекционного и неуточненного происхождения";2;;1;',
    '14794;"0101A090";"A09.0";"Другой и неуточненный гастроэнтерит и колит инфекционного происхождения";70;;1;'
    '"01.01.2015"',
    '14795;"0101A099";"A09.9";"Гастроэнтерит и колит неуточненного происхождения";70;;1;"01.01.2015"',
    '206;"0104A38";"A38";"Скарлатина";2;;1;',
    '14960;22;"XXII";"КОДЫ ДЛЯ СПЕЦИАЛЬНЫХ ЦЕЛЕЙ";;;1;',
    '14961;2201;"U00-U49";"ВРЕМЕННОЕ ОБОЗНАЧЕНИЕ НОВЫХ ЗАБОЛЕВАНИЙ НЕЯСНОЙ ЭТИОЛОГИИ";14960;;1;',
    '15068;"2201U08";"U08";"В личном анамнезе COVID-19";14961;;1;',
    '15069;"2201U081";"U08.1";"Использование в чрезвычайной ситуации подрубрики U08.1";15068;;0;"07.04.2021"',
    '15077;"2201U089";"U08.9";"В личном анамнезе COVID-19, неуточненный";15068;;1;"07.10.2020"',
]
NAME = "1.2.643.5.1.13.13.11.1005_2.27.csv"


def export(folder: Path, rows: list[str] = ROWS, *, name: str = NAME, encoding: str = "utf-8",
           newline: str = "\r\n") -> Path:
    path = folder / name
    path.write_bytes(newline.join([HEADER, *rows, ""]).encode(encoding))
    return path


def load(home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MEDCARD, "terminology", "load", "icd10", *args],
                          env=env_for(home, MEDCARD_DATABASE_URL=url),
                          capture_output=True, text=True, timeout=120)


def table(url: str) -> list[tuple[str, str, str | None, str, bool, bool]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT code, title_ru, parent, version, actual, leaf FROM icd10 ORDER BY code").fetchall()


@pytest.fixture
def shipped_list_back(database_url: str) -> Iterator[None]:
    """Tests here replace the list; the others expect the shipped one that migration 0014 loads."""
    yield

    async def restore() -> None:
        async with await psycopg.AsyncConnection.connect(database_url) as conn, conn.transaction():
            await icd10.install_shipped(conn)

    asyncio.run(restore())


@pytest.mark.usefixtures("shipped_list_back")
def test_the_official_export_replaces_the_list_with_its_version(tmp_path: Path, database_url: str) -> None:
    done = load(tmp_path, database_url, str(export(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "ICD-10 version 2.27: 14 codes loaded, 1 of them retired (file in utf-8)" in done.stdout
    rows = {r[0]: r[1:] for r in table(database_url)}
    assert set(rows) == {"I", "A00-A09", "A00", "A00.0", "A00.9", "A09", "A09.0", "A09.9", "A38", "XXII",
                         "U00-U49", "U08", "U08.1", "U08.9"}  # the shipped list is gone
    assert rows["A09.0"] == ("Другой и неуточненный гастроэнтерит и колит инфекционного происхождения", "A09",
                             "2.27", True, True)
    assert rows["A09"][1:] == ("A00-A09", "2.27", True, False)  # has subcategories: not recorded itself
    assert rows["U08.1"][3] is False

    async def offered() -> tuple[list[str], list[str], icd10.Icd10 | None]:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return ([f.code for f in await icd10.search(conn, "A0")], [f.code for f in await icd10.search(conn, "U08")],
                    await icd10.lookup(conn, "A38"))

    under_a0, under_u08, scarlet = asyncio.run(offered())
    assert under_a0 == ["A00.0", "A00.9", "A09.0", "A09.9"]
    assert under_u08 == ["U08.9"]  # U08.1 is retired
    assert scarlet == icd10.Icd10("A38", "Скарлатина", "2.27")


def test_a_bad_row_names_its_line_and_column_and_changes_nothing(tmp_path: Path, database_url: str) -> None:
    before = table(database_url)
    rows = list(ROWS)
    rows[4] = '6;"0101A009";"A00.9";"";3;;1;'  # line 6: no title
    rows[8] = '206;"0104A38";"A38";"Скарлатина";2;;yes;'  # line 10: ACTUAL is not 0 or 1
    rows[11] = '15068;"2201U08";"U08";"В личном анамнезе COVID-19";99999;;1;'  # line 13: no such parent
    done = load(tmp_path, database_url, str(export(tmp_path, rows)))
    assert done.returncode == 1
    assert "line 6, column MKB_NAME: the title is empty" in done.stderr
    assert "line 10, column ACTUAL: 'yes' where 1 (in force) or 0 (retired) belongs" in done.stderr
    assert "line 13, column ID_PARENT: no row has the ID 99999" in done.stderr
    assert "3 problem(s)" in done.stderr
    assert "Traceback" not in done.stderr
    assert table(database_url) == before


@pytest.mark.parametrize(("row", "expected"), [
    ('7;"0101A01";"A01";"Тиф";2;;1', "line 2: 7 values where the header has 8 columns"),
    ('x7;"0101A01";"A01";"Тиф";2;;1;', "line 2, column ID: 'x7' is not a row number"),
    ('7;"0101A01";"A1";"Тиф";2;;1;', "line 2, column MKB_CODE: 'A1' is not an ICD-10 code, block or chapter"),
    ('3;"0101A01";"A01";"Тиф";2;;1;', "line 5, column ID: 3 is the ID of line 2 too"),
    ('7;"0101A38";"A38";"Скарлатина";2;;1;', "line 11, column MKB_CODE: A38 is in force on line 2 too"),
    ('7;"0101A01";"A01";"Тиф";7;;1;', "line 2, column ID_PARENT: a row cannot be its own parent"),
])
def test_each_kind_of_bad_row_is_named(tmp_path: Path, row: str, expected: str) -> None:
    with pytest.raises(nsi.NsiFileError) as refused:
        nsi.read_file(export(tmp_path, [row, *ROWS]))
    assert expected in str(refused.value)


def test_more_problems_than_shown_are_counted(tmp_path: Path) -> None:
    bad = [f'{1000 + i};"x";"A{i:02d}";"";2;;1;' for i in range(30)]
    with pytest.raises(nsi.NsiFileError) as refused:
        nsi.read_file(export(tmp_path, [*ROWS, *bad]))
    assert refused.value.total == 30
    assert len(refused.value.problems) == nsi.MAX_PROBLEMS
    assert "... and 10 more" in str(refused.value)


def test_older_exports_in_windows_1251_and_utf8_with_a_bom_read_the_same(tmp_path: Path) -> None:
    plain = nsi.read_file(export(tmp_path, newline="\n"))
    old = nsi.read_file(export(tmp_path / "..", name="1.2.643.5.1.13.13.11.1005_2.27.csv", encoding="cp1251"))
    bom = export(tmp_path, name="bom_2.27.csv")
    bom.write_bytes(b"\xef\xbb\xbf" + bom.read_bytes())
    with_bom = nsi.read_file(bom)
    assert old.encoding == "windows-1251"
    assert plain.encoding == with_bom.encoding == "utf-8"
    assert old.rows == plain.rows == with_bom.rows
    assert [r.title_ru for r in old.rows if r.code == "A00.9"] == ["Холера неуточненная"]


def test_a_zip_from_the_portal_and_columns_in_another_order_load(tmp_path: Path) -> None:
    archive = tmp_path / "1.2.643.5.1.13.13.11.1005_2.28_csv.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("1.2.643.5.1.13.13.11.1005_2.28.csv", "\n".join([HEADER, *ROWS]))
    zipped = nsi.read_file(archive)
    assert zipped.version == "2.28"
    assert len(zipped.rows) == 14
    reordered = tmp_path / "reordered.csv"
    reordered.write_text("MKB_NAME,ACTUAL,MKB_CODE,ID,ID_PARENT,EXTRA\n"
                         '"НЕКОТОРЫЕ ИНФЕКЦИОННЫЕ И ПАРАЗИТАРНЫЕ БОЛЕЗНИ",1,I,1,,x\n'
                         '"Холера, неуточненная; тест",1,А00.9,2,1,y\n', encoding="utf-8")  # Cyrillic А typed
    read = nsi.read_file(reordered, version="test")
    assert [(r.code, r.title_ru, r.parent) for r in read.rows] == [
        ("I", "НЕКОТОРЫЕ ИНФЕКЦИОННЫЕ И ПАРАЗИТАРНЫЕ БОЛЕЗНИ", None), ("A00.9", "Холера, неуточненная; тест", "I")]


def test_a_file_that_is_not_an_export_is_refused_plainly(tmp_path: Path, database_url: str) -> None:
    unnamed = tmp_path / "mkb.csv"
    unnamed.write_text("\n".join([HEADER, *ROWS]), encoding="utf-8")
    no_version = load(tmp_path, database_url, str(unnamed))
    assert no_version.returncode == 1
    assert "give it with --version" in no_version.stderr
    other = tmp_path / "patients_1.0.csv"
    other.write_text("id;name\n1;x\n", encoding="utf-8")
    wrong = load(tmp_path, database_url, str(other))
    assert wrong.returncode == 1
    assert "line 1: the header has no column MKB_CODE, MKB_NAME, ID_PARENT, ACTUAL" in wrong.stderr
    empty = tmp_path / "empty_1.0.csv"
    empty.write_bytes(b"")
    with pytest.raises(nsi.NsiFileError, match="the header has no column"):
        nsi.read_file(empty)
    duplicates = nsi.read_file(export(tmp_path, [*ROWS, ROWS[-2].replace("15069;", "15070;")]))
    assert duplicates.duplicates_dropped == 1
