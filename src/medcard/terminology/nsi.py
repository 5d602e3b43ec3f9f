"""Reading the official ICD-10 reference, NSI 1005, as the Ministry of Health's NSI portal exports it.

The export (``1.2.643.5.1.13.13.11.1005_<version>.csv``, alone or in a ZIP) is CSV with a header
row ``ID;REC_CODE;MKB_CODE;MKB_NAME;ID_PARENT;ADDL_CODE;ACTUAL;DATE``: semicolons, values quoted or
not, UTF-8 (with or without a byte-order mark) in current exports, Windows-1251 in older ones. Rows
are a tree by ``ID_PARENT`` (chapter ``I`` > block ``A00-A09`` > category ``A00`` > subcategory
``A00.0``), not in ID order; ``ACTUAL`` is 1 for codes in force, 0 for retired ones. Columns may come
in another order or with more columns beside them; only ID, MKB_CODE, MKB_NAME, ID_PARENT and ACTUAL
are read.

The whole file is checked before anything is written: a bad row stops the load with its line and
column (up to :data:`MAX_PROBLEMS` of them at once), and nothing of the file is kept.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from medcard.terminology.icd10 import Row

REQUIRED = ("ID", "MKB_CODE", "MKB_NAME", "ID_PARENT", "ACTUAL")
OFFICIAL_HEADER = "ID;REC_CODE;MKB_CODE;MKB_NAME;ID_PARENT;ADDL_CODE;ACTUAL;DATE"
MAX_PROBLEMS = 20
MAX_BYTES = 64 * 1024 * 1024  # the 2.27 export is about 2.7 MB
MAX_TITLE = 2000
# Cyrillic letters that look like Latin ones: typed into codes by hand they look right and match nothing.
_LOOKALIKES = str.maketrans("АВСЕНКМОРТХ", "ABCEHKMOPTX")
_CODE = re.compile(r"[IVX]+|[A-Z][0-9]{2}-[A-Z][0-9]{2}|[A-Z][0-9]{2}(?:\.[0-9A-Z]{1,2})?[+*]?")
_VERSION_IN_NAME = re.compile(r"_([0-9]+(?:\.[0-9]+)+)$")


@dataclass(frozen=True, slots=True)
class Problem:
    """One bad place in the file: its line (1 is the header), column name, and what is wrong."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}" if self.column else \
            f"line {self.line}: {self.message}"


class NsiFileError(Exception):
    """The file cannot be loaded: the problems found (the first :data:`MAX_PROBLEMS`) and how many in all."""

    def __init__(self, source: str, problems: list[Problem], total: int | None = None) -> None:
        self.problems = problems
        self.total = total if total is not None else len(problems)
        more = f"\n  ... and {self.total - len(problems)} more" if self.total > len(problems) else ""
        listed = "\n  ".join(str(p) for p in problems)
        super().__init__(f"{source}: not loaded, {self.total} problem(s):\n  {listed}{more}")


@dataclass
class NsiList:
    """A checked NSI 1005 file: its version, rows (one per code), encoding, and codes given twice."""

    version: str
    rows: list[Row]
    encoding: str
    duplicates_dropped: int = 0
    retired: int = field(init=False)

    def __post_init__(self) -> None:
        self.retired = sum(not r.actual for r in self.rows)


def version_from_name(path: Path) -> str | None:
    """The version in an NSI export's file name: ``..._2.27.csv`` -> ``2.27``."""
    match = _VERSION_IN_NAME.search(path.stem)
    return match[1] if match else None


def read_file(path: Path, version: str | None = None) -> NsiList:
    """Read and check an NSI 1005 export (CSV, or a ZIP holding one CSV); NsiFileError if anything is wrong."""
    source = path.name
    data = path.read_bytes()[: MAX_BYTES + 1]
    if len(data) > MAX_BYTES:
        raise NsiFileError(source, [Problem(0, "", f"larger than {MAX_BYTES // 2**20} MB: not an NSI 1005 export")])
    if data[:4] == b"PK\x03\x04":
        source, data = _from_zip(path, data)
    version = version or version_from_name(Path(source)) or version_from_name(path)
    if not version:
        raise NsiFileError(source, [Problem(0, "", "the version of the list is not in the file name "
                                                   "(…1005_2.27.csv): give it with --version")])
    text, encoding = decode(data)
    rows, dropped = parse(source, text)
    return NsiList(version, rows, encoding, dropped)


def _from_zip(path: Path, data: bytes) -> tuple[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = [i for i in z.infolist() if i.filename.lower().endswith(".csv")]
        if len(members) != 1:
            raise NsiFileError(path.name, [Problem(0, "", f"the ZIP holds {len(members)} CSV files, not one")])
        if members[0].file_size > MAX_BYTES:
            raise NsiFileError(path.name, [Problem(0, "", f"{members[0].filename} is larger than "
                                                          f"{MAX_BYTES // 2**20} MB")])
        return f"{path.name}:{members[0].filename}", z.read(members[0])


def decode(data: bytes) -> tuple[str, str]:
    """The file's text and encoding: UTF-8 (a byte-order mark is dropped), else Windows-1251."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        # Windows-1251 maps every byte but 0x98, so this is the last word: a file in another
        # encoding shows up as bad codes and titles, which the checks below name.
        return data.decode("cp1251", errors="replace"), "windows-1251"


def _delimiter(header_line: str) -> str:
    """The separator the header uses: the official one is ``;``, but a re-saved file may have ``,`` or tabs."""
    return max(";,\t", key=header_line.count)


def parse(source: str, text: str) -> tuple[list[Row], int]:
    """Check every row and build the list: the rows, one per code, and how many duplicate codes were dropped."""
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    header = [h.strip().strip('"').upper() for h in next(reader, [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise NsiFileError(source, [Problem(1, "", f"the header has no column {', '.join(missing)} "
                                                   f"(an NSI 1005 export's header is {OFFICIAL_HEADER})")])
    where = {name: header.index(name) for name in REQUIRED}
    parsed = _Rows(source)
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue  # blank lines, the usual last one among them
        parsed.add(reader.line_num, fields, len(header), where)
    return parsed.finish()


@dataclass
class _Parsed:
    line: int
    id: int
    code: str
    title: str
    parent_id: int | None
    actual: bool


class _Rows:
    """The rows read so far and the problems found; :meth:`finish` resolves parents and duplicates."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.rows: list[_Parsed] = []
        self.problems: list[Problem] = []
        self.total_problems = 0

    def problem(self, line: int, column: str, message: str) -> None:
        self.total_problems += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(line, column, message))

    def add(self, line: int, fields: list[str], width: int, where: dict[str, int]) -> None:
        if len(fields) != width:
            self.problem(line, "", f"{len(fields)} values where the header has {width} columns")
            return
        before = self.total_problems
        row_id = self._integer(line, "ID", fields[where["ID"]], required=True)
        code = fields[where["MKB_CODE"]].strip().upper().translate(_LOOKALIKES)
        if not _CODE.fullmatch(code):
            self.problem(line, "MKB_CODE", f"{_shown(code)} is not an ICD-10 code, block or chapter")
        title = " ".join(fields[where["MKB_NAME"]].split())
        if not title:
            self.problem(line, "MKB_NAME", "the title is empty")
        elif len(title) > MAX_TITLE:
            self.problem(line, "MKB_NAME", f"the title is {len(title)} characters long (at most {MAX_TITLE})")
        parent_id = self._integer(line, "ID_PARENT", fields[where["ID_PARENT"]], required=False)
        actual = fields[where["ACTUAL"]].strip()
        if actual not in ("0", "1"):
            self.problem(line, "ACTUAL", f"{_shown(actual)} where 1 (in force) or 0 (retired) belongs")
        if self.total_problems == before and row_id is not None:
            self.rows.append(_Parsed(line, row_id, code, title, parent_id, actual == "1"))

    def _integer(self, line: int, column: str, value: str, *, required: bool) -> int | None:
        value = value.strip()
        if not value and not required:
            return None
        if not value.isascii() or not value.isdigit() or len(value) > 18:
            self.problem(line, column, f"{_shown(value)} is not a row number" if value else "empty")
            return None
        return int(value)

    def finish(self) -> tuple[list[Row], int]:
        by_id: dict[int, _Parsed] = {}
        for r in self.rows:
            if (other := by_id.get(r.id)) is not None:
                self.problem(r.line, "ID", f"{r.id} is the ID of line {other.line} too")
            by_id[r.id] = r
        for r in self.rows:
            if r.parent_id is not None and (r.parent_id not in by_id or r.parent_id == r.id):
                self.problem(r.line, "ID_PARENT", f"no row has the ID {r.parent_id}" if r.parent_id != r.id
                             else "a row cannot be its own parent")
        kept, dropped = self._one_per_code()
        if self.total_problems:
            raise NsiFileError(self.source, self.problems, self.total_problems)
        rows = [Row(r.code, r.title, by_id[r.parent_id].code if r.parent_id is not None else None, r.actual)
                for r in kept]
        return rows, dropped

    def _one_per_code(self) -> tuple[list[_Parsed], int]:
        """One row per code: of two rows with one code, the one in force; two in force is a problem."""
        by_code: dict[str, _Parsed] = {}
        dropped = 0
        for r in self.rows:
            other = by_code.get(r.code)
            if other is None:
                by_code[r.code] = r
                continue
            if other.actual and r.actual:
                self.problem(r.line, "MKB_CODE", f"{r.code} is in force on line {other.line} too")
            elif r.actual or (not other.actual and r.id > other.id):
                by_code[r.code] = r  # the row in force wins; of two retired ones, the later
            dropped += 1
        return list(by_code.values()), dropped


def _shown(value: str) -> str:
    """A value as a problem quotes it: repr, cut short."""
    return repr(value[:40]) + ("…" if len(value) > 40 else "")
