"""The tool's tables: on the terminal drawn by rich, with its width and colour (in a pipe, a
file or CI as plain text, no colour codes, never wrapped or cut); in the reports, markdown."""

import sys
from collections.abc import Collection, Iterable, Sequence

from rich import box
from rich.console import Console
from rich.table import Table

# Wider than any table of ours: away from a terminal, a row stays one line, however long.
UNLIMITED_WIDTH = 10_000


def new_table(*columns: str, numbers: tuple[str, ...] = ()) -> Table:
    """A table with these column headers; the ones in `numbers` are right-aligned."""
    # A rule under the header, and above the footer when there is one (a total).
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, justify="right" if column in numbers else "left", no_wrap=True)
    return table


def print_table(table: Table) -> None:
    terminal = sys.stdout.isatty()
    console = Console(
        file=sys.stdout,
        width=None if terminal else UNLIMITED_WIDTH,
        color_system="auto" if terminal else None,
        highlight=False,
    )
    console.print(table)


def markdown_table(
    columns: Sequence[str], rows: Iterable[Sequence[object]], *, numbers: Collection[str] = ()
) -> str:
    """A markdown table (GitHub's flavour) for the reports: a header, a rule that aligns the
    columns named in `numbers` to the right, a line per row. A `|` in a cell is escaped, so
    that an error message cannot break its row into more columns than the header has."""
    rule = ["---:" if column in numbers else "---" for column in columns]
    lines = [_markdown_row(columns), _markdown_row(rule)]
    lines += [_markdown_row([str(cell).replace("|", "\\|") for cell in row]) for row in rows]
    return "\n".join(lines)


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"
