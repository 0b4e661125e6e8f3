"""The tool's tables, drawn by rich: in a terminal with its width and colour; in a pipe, a
file or CI as plain text, no colour codes, never wrapped or cut."""

import sys

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
