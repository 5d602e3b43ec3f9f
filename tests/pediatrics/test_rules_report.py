"""``medcard rules report``: every rule row with its act, period and status, and the counts the docs quote."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from medcard.cli import app
from medcard.pediatrics.rules_report import counts, report_rows, summary

CONVENTIONS = Path(__file__).resolve().parents[2] / "docs" / "fhir-conventions.md"
NAMES = {"V": "verified", "V-2": "secondary", "UNVERIFIED": "UNVERIFIED"}


def _raw_statuses() -> Counter[str]:
    """The rule rows' statuses read straight from the JSON files, without the loader."""
    found: Counter[str] = Counter()
    data = resources.files("medcard.pediatrics") / "data"
    for folder in ("calendar", "examinations"):
        for file in (data / folder).iterdir():
            doc: dict[str, Any] = json.loads(file.read_text(encoding="utf-8"))
            rows: list[dict[str, Any]] = [*doc.get("items", []), *doc.get("catch_up", []),
                                          *doc.get("risk_groups", [])]
            rows += [doc[key] for key in ("simultaneous", "defaults") if doc.get(key)]
            for visit in doc.get("visits", []):
                rows += [visit, *visit["specialists"], *visit["tests"]]
            for key in ("specialists", "tests", "health_groups", "pe_groups"):
                rows += [entry for entry in doc.get(key, []) if "status" in entry]
            found.update(NAMES[row["status"]] for row in rows)
    return found


def test_the_report_counts_every_row_of_the_files_by_status() -> None:
    rows = report_rows()
    total = counts(rows)
    raw = _raw_statuses()
    assert (total.verified, total.secondary, total.unverified) == (raw["verified"], raw["secondary"],
                                                                   raw["UNVERIFIED"])
    assert total.total == len(rows)


def test_the_command_prints_each_row_with_act_dates_and_status_and_the_counts_last() -> None:
    result = CliRunner().invoke(app, ["rules", "report"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "kind\tcode\tact\tfrom\tto\tstatus\tsources"
    assert "catch-up rule\thib-start-13m\t1122н\t2021-12-20\t…\tsecondary\tmr-1122n" in lines
    # the old version, for the days before 1122н took effect, from the 125н footnote
    assert "catch-up rule\thib-start-1-5y\t125н\t…\t2021-12-19\tUNVERIFIED\t—" in lines
    assert ("visit\t514n-2y\t514н (ред. приказа 396н от 13.06.2019)\t2019-10-15\t2025-08-31\t"
            "secondary (no source: due_to)\tshilovo-med") in lines
    assert "visit\t514n-2y\t514н\t2018-01-01\t2019-10-14\tsecondary (no source: due_to)\tshilovo-med" in lines
    assert lines[-1] == summary(counts(report_rows()))


def test_the_status_option_filters_the_rows_not_the_counts() -> None:
    result = CliRunner().invoke(app, ["rules", "report", "--status", "secondary"])
    assert result.exit_code == 0, result.output
    table = result.output.split("\n\n")[0].splitlines()[1:]
    assert table
    assert all(line.split("\t")[5].startswith("secondary") for line in table)
    assert result.output.splitlines()[-1] == summary(counts(report_rows()))
    refused = CliRunner().invoke(app, ["rules", "report", "--status", "V-2"])
    assert refused.exit_code == 2
    assert "verified, secondary or UNVERIFIED" in refused.output


def test_the_docs_quote_the_counts_of_the_data_as_it_is() -> None:
    assert summary(counts(report_rows())) in CONVENTIONS.read_text(encoding="utf-8")
