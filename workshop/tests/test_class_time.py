"""The day adds up: the agenda (workshop/README.md), its copy in the instructor notes, every
chapter's header and every instructor page give each block the same minutes; every exercise
of a chapter says whether it is done in class or at home; and the one checked exercise a
chapter does in class is 15 to 30 minutes long, registered in exercises.toml for that
chapter, and timed alike in the instructor's page. documents.day_problems is proven on
broken copies of these pages in test_documents_reader.py."""

import pytest
from documents import day_problems
from shopctl.exercises import load_exercises
from shopctl.stages import REPO_ROOT

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode


def test_the_agenda_the_chapters_and_the_instructor_notes_agree_on_the_day():
    registered = {exercise.id: exercise.chapter for exercise in load_exercises()}
    assert day_problems(REPO_ROOT / "workshop", registered) == []
