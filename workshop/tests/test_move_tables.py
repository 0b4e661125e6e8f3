"""Chapters 3 and 4 open with a "What moved where" table: each row a file of the earlier stage
and where it went in the later one. Every row must still be true: the old file exists in the
earlier stage, the new one in the later, and the two share most of their lines (a move with
edits, not a rewrite). move_table_problems is proven on broken copies of a table below."""

import difflib
import re
from pathlib import Path

import pytest
from shopctl.stages import REPO_ROOT

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode

HEADING = "## What moved where"
ROW = re.compile(r"^\|\s*`(?P<old>[^`]+)`\s*\|\s*`(?P<new>[^`]+)`\s*\|(?P<why>.*)\|\s*$")
# The share of lines the two files must still have in common (difflib's ratio, by line). The
# moves in the tables keep 0.44 to 1.0; a row naming the wrong file scores about 0.3 or less.
SIMILAR = 0.4

CHAPTERS = {
    "03-strangler.md": ("02-modular-monolith", "03-strangler"),
    "04-services.md": ("03-strangler", "04-services"),
}


def move_rows(chapter: Path) -> list[tuple[str, str, str]]:
    """(old path, new path, why) for each row of the table under HEADING."""
    lines = chapter.read_text().splitlines()
    if HEADING not in lines:
        return []
    rows = []
    for line in lines[lines.index(HEADING) + 1 :]:
        if line.startswith("## "):
            break
        match = ROW.match(line)
        if match:
            rows.append((match["old"], match["new"], match["why"].strip()))
    return rows


def similarity(old: Path, new: Path) -> float:
    matcher = difflib.SequenceMatcher(
        None, old.read_text().splitlines(), new.read_text().splitlines(), autojunk=False
    )
    return matcher.ratio()


def move_table_problems(chapter: Path, earlier: str, later: str, root: Path) -> list[str]:
    """What is wrong with the chapter's move table, one line per problem ([] if nothing)."""
    rows = move_rows(chapter)
    if not rows:
        return [f"{chapter.name}: no table under {HEADING!r}"]
    problems = []
    for old, new, why in rows:
        row = f"{chapter.name}: {old} -> {new}"
        if not old.startswith(f"{earlier}/") or not new.startswith(f"{later}/"):
            problems.append(f"{row}: must go from {earlier}/ to {later}/")
            continue
        if not why:
            problems.append(f"{row}: says not why")
        missing = [path for path in (old, new) if not (root / path).is_file()]
        if missing:
            problems.append(f"{row}: no such file {', '.join(missing)}")
            continue
        ratio = similarity(root / old, root / new)
        if ratio < SIMILAR:
            problems.append(f"{row}: only {ratio:.2f} alike (a move keeps {SIMILAR} or more)")
    return problems


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_every_row_of_the_move_table_is_a_move_between_the_two_stages(chapter):
    earlier, later = CHAPTERS[chapter]
    assert move_table_problems(REPO_ROOT / "workshop" / chapter, earlier, later, REPO_ROOT) == []


def broken_copy(tmp_path: Path, replace: str, by: str) -> Path:
    """Chapter 4 with one of its rows changed."""
    text = (REPO_ROOT / "workshop" / "04-services.md").read_text()
    assert replace in text
    copy = tmp_path / "04-services.md"
    copy.write_text(text.replace(replace, by, 1))
    return copy


@pytest.mark.parametrize(
    ("replace", "by", "said"),
    [
        # the new path names a file that is not there
        (
            "`04-services/chassis/outbox.py`",
            "`04-services/chassis/outboxes.py`",
            "no such file 04-services/chassis/outboxes.py",
        ),
        # the old path names a file of the wrong stage
        (
            "`03-strangler/kernel/money.py`",
            "`02-modular-monolith/kernel/money.py`",
            "must go from 03-strangler/ to 04-services/",
        ),
        # both files exist, but one is not the other moved
        (
            "`04-services/chassis/relay.py`",
            "`04-services/chassis/certificates.py`",
            "alike (a move keeps 0.4 or more)",
        ),
        # a row that says nothing about why
        (
            "| the event base, unchanged |",
            "|  |",
            "says not why",
        ),
    ],
)
def test_a_broken_row_is_reported(tmp_path, replace, by, said):
    chapter = broken_copy(tmp_path, replace, by)

    problems = move_table_problems(chapter, "03-strangler", "04-services", REPO_ROOT)

    assert len(problems) == 1 and said in problems[0], problems


def test_a_chapter_without_the_table_is_reported(tmp_path):
    chapter = broken_copy(tmp_path, HEADING, "## What moved, perhaps")

    assert move_table_problems(chapter, "03-strangler", "04-services", REPO_ROOT) == [
        f"04-services.md: no table under {HEADING!r}"
    ]
