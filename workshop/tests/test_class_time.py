"""The day adds up: the agenda (workshop/README.md), its copy in the instructor notes, every
chapter's header and every instructor page give each block the same minutes; every exercise
of a chapter says whether it is done in class or at home; and the one checked exercise a
chapter does in class is 15 to 30 minutes long and registered in exercises.toml for that
chapter. The readers are proven on broken copies in test_documents_reader.py."""

import re

import pytest
from documents import (
    chapter_blocks,
    chapter_minutes,
    exercise_marks,
    instructor_span,
    minutes_of,
    section,
    timetable,
    timing_problems,
)
from shopctl.exercises import load_exercises
from shopctl.stages import REPO_ROOT

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode

WORKSHOP = REPO_ROOT / "workshop"
AGENDA = timetable(section((WORKSHOP / "README.md").read_text(), "A one-day session"))
NOTES_DAY = section((WORKSHOP / "instructor" / "README.md").read_text(), "The day")
CHAPTERS = sorted(WORKSHOP.glob("0[1-9]-*.md"))
IN_CLASS_CHECKED_MINUTES = range(15, 31)
# Chapters whose checked exercises are all too long for their block: each says so in its
# Exercises section. Chapter 2's one check (02-reporting-consumer) takes 60 to 90 minutes.
NO_CHECKED_EXERCISE_IN_CLASS = {"02-modular-monolith.md"}
EXERCISES = load_exercises()


def test_the_agenda_and_the_instructor_notes_give_the_same_day():
    notes = timetable(NOTES_DAY)
    assert len(AGENDA) >= 6, f"the agenda's table was not found: {AGENDA}"
    assert [(block.start, block.minutes) for block in notes] == [
        (block.start, block.minutes) for block in AGENDA
    ], "workshop/README.md's agenda and instructor/README.md's day must have the same times"


@pytest.mark.parametrize("block", timetable(NOTES_DAY)[:-1], ids=lambda block: block.start)
def test_each_instructor_page_teaches_its_block_of_the_agenda(block):
    page = re.search(r"\]\((?P<page>[\w.-]+\.md)\)", block.what)
    if page is None:  # lunch
        assert "lunch" in block.what, f"the block at {block.start} links no instructor page"
        return
    text = (WORKSHOP / "instructor" / page.group("page")).read_text()
    end = minutes_of(block.start) + block.minutes
    span = instructor_span(text)
    assert span is not None, f"instructor/{page.group('page')} does not say its block, h:mm to h:mm"
    assert (minutes_of(span[0]), minutes_of(span[1])) == (minutes_of(block.start), end), (
        f"instructor/{page.group('page')} teaches {span[0]} to {span[1]}; the agenda gives "
        f"{block.start} and {block.minutes} minutes"
    )
    assert timing_problems(text, *span) == [], f"instructor/{page.group('page')}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.name)
def test_each_chapter_header_promises_the_minutes_of_its_block(chapter):
    number = int(chapter.name[:2])
    minutes = chapter_minutes(chapter.read_text())
    block = chapter_blocks(AGENDA).get(number)
    if block is None:
        assert minutes is None, (
            f"{chapter.name} promises {minutes} minutes in class, not in the day"
        )
        return
    assert minutes == block.minutes, (
        f"{chapter.name}'s header promises {minutes} minutes in class; the agenda gives "
        f"chapter {number} {block.minutes} (from {block.start})"
    )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.name)
def test_each_chapter_marks_its_exercises_in_class_or_homework(chapter):
    text = chapter.read_text()
    marks = exercise_marks(text)
    assert marks, f"{chapter.name} has no numbered exercises in an Exercises section"
    untagged = [mark.number for mark in marks if mark.in_class is None]
    assert not untagged, (
        f"{chapter.name}: exercises {untagged} start with neither `*In class, N min:*` nor "
        "`*Homework:*`"
    )
    in_class = [mark for mark in marks if mark.in_class]
    block = chapter_minutes(text)
    if block is None:
        assert not in_class, f"{chapter.name} is not in the day, yet marks exercises in class"
    else:
        total = sum(mark.minutes for mark in in_class)
        assert total <= block, (
            f"{chapter.name}: {total} minutes of exercises in a {block}-minute block"
        )


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.name)
def test_one_checked_exercise_per_chapter_is_done_in_class(chapter):
    marks = exercise_marks(chapter.read_text())
    checked = [mark for mark in marks if mark.checks]
    in_class = [mark for mark in checked if mark.in_class]
    if not checked:
        assert chapter.name.startswith("05-"), f"{chapter.name} has no checked exercise"
        return
    if chapter.name in NO_CHECKED_EXERCISE_IN_CLASS:
        assert not in_class
        assert "no checked exercise of this chapter fits in class" in chapter.read_text()
        return
    assert len(in_class) == 1, (
        f"{chapter.name}: exactly one checked exercise in class, not "
        f"{[mark.number for mark in in_class]}"
    )
    (mark,) = in_class
    assert mark.minutes in IN_CLASS_CHECKED_MINUTES, (
        f"{chapter.name}, exercise {mark.number}: {mark.minutes} minutes in class, not 15 to 30"
    )
    registered = {exercise.id: exercise for exercise in EXERCISES}
    for exercise_id in mark.checks:
        assert exercise_id in registered, f"{exercise_id} is not in exercises.toml"
        assert registered[exercise_id].chapter.split("#")[0] == chapter.name, (
            f"{exercise_id} is registered for {registered[exercise_id].chapter}"
        )
    notes = (WORKSHOP / "instructor" / chapter.name).read_text()
    rows = [row for row in timetable(notes) if any(id_ in row.what for id_ in mark.checks)]
    assert rows, f"instructor/{chapter.name}'s timing table does not give {mark.checks} a time"
    stated = re.match(r"\s*(\d+)\s*\|", rows[0].what)
    given = f"{stated.group(1)} min" if stated else rows[0].what
    assert f"{mark.minutes} min" in given, (
        f"instructor/{chapter.name} gives {mark.checks} other minutes than the chapter's "
        f"{mark.minutes}: {rows[0].what}"
    )
