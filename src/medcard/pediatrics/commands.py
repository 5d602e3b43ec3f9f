"""``medcard rules report``: every rule row of the pediatric rules data, its act, period and verification status.

    medcard rules report [--status verified|secondary|UNVERIFIED]

Prints a tab-separated table (kind, code, act, from, to, status, sources) and, last, the counts
of all rows by status. Reads only the packaged rules files: no database is needed.
"""

from __future__ import annotations

from typing import Annotated

import typer

rules_app = typer.Typer(help="The pediatric rules data (vaccination calendar, preventive examinations).",
                        no_args_is_help=True)


@rules_app.command("report")
def report(
    status: Annotated[str | None, typer.Option(
        help="Show only the rows of this status: verified, secondary or UNVERIFIED (the counts cover all).")] = None,
) -> None:
    """Every rule row with its act, effective dates and verification status, and the counts by status."""
    from medcard.pediatrics import rules_report

    if status is not None and status not in rules_report.STATUS_NAMES.values():
        raise typer.BadParameter("--status is verified, secondary or UNVERIFIED")
    rows = rules_report.report_rows()
    shown = [row for row in rows if status is None or row.status == status]
    typer.echo(rules_report.render(rows, shown), nl=False)
