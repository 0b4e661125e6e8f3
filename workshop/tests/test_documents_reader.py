"""The page checker finds what it must: a typo in a make target, a folder that a `cd` cannot
reach, a renamed function, a stale excerpt's file. Without these, test_documents.py could
pass by reading nothing."""

import shutil
from pathlib import Path

import pytest
from documents import (
    Makefile,
    anchors,
    chapter_blocks,
    chapter_minutes,
    code_blocks,
    code_references,
    commands,
    day_problems,
    defines,
    exercise_marks,
    instructor_span,
    picture_problems,
    problems_of,
    procfile_processes,
    section,
    stage_pictures,
    timetable,
    timing_problems,
)
from shopctl.exercises import load_exercises
from shopctl.stages import REPO_ROOT

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode

MAKEFILE = Makefile(targets={"run", "test"}, variables={"STAGE"})


def problems(script: str, root: Path = REPO_ROOT) -> list[str]:
    return [
        problem
        for command in commands(script, root)
        for problem in problems_of(command, root, MAKEFILE)
    ]


def test_a_make_target_or_variable_that_does_not_exist_is_named():
    assert problems("make run STAGE=02") == []
    assert problems("make rnu") == ["make has no target 'rnu'"]
    assert problems("make run STAGES=02") == ["make has no variable STAGES"]


def test_a_cd_moves_the_rest_of_the_block():
    script = "cd 04-services && ../.venv/bin/python -m orders check\ncd orders"
    found = commands(script, REPO_ROOT)
    assert [command.cwd.name for command in found] == [REPO_ROOT.name, "04-services", "04-services"]
    assert problems("cd 04-services\ncd 04-services") == [
        "no folder 04-services (from 04-services/)"
    ]


def test_files_named_as_arguments_must_exist_unless_generated():
    assert problems("cat workshop/README.md var/01-monolith/emails/x.eml") == []
    assert problems("cat workshop/READ_ME.md") == ["no file workshop/READ_ME.md (from ./)"]
    assert problems("curl -H 'Content-Type: application/json' http://127.0.0.1:8000/a/b.json") == []


def test_an_unknown_program_is_named_and_prefixes_are_not_programs():
    assert problems("DATABASE_URL=postgres://x make run") == []
    assert problems("mkae run") == ["unknown program 'mkae'"]


def test_heredoc_bodies_continuations_and_redirections_are_not_commands():
    script = (
        "cd 03-strangler && ../.venv/bin/python - <<'PY'\n"
        "import grpc\n"
        "PY\n"
        "make run \\\n  STAGE=03 2>&1 | tee var/run.log\n"
    )
    words = [command.words for command in commands(script, REPO_ROOT)]
    assert words == [
        ["cd", "03-strangler"],
        ["../.venv/bin/python", "-"],
        ["make", "run", "STAGE=03"],
        ["tee", "var/run.log"],
    ]


def test_blocks_keep_their_language_and_flags(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n1. Step:\n\n   ```sh runnable\n   make run\n   ```\n\n```text\nout\n```\n"
    )
    blocks = code_blocks(page)
    assert [(block.language, block.flags, block.text) for block in blocks] == [
        ("sh", {"runnable"}, "make run"),
        ("text", set(), "out"),
    ]


def test_references_to_code_are_read_and_checked():
    text = "See `04-services/orders/sagas.py:recover` and `workshop/README.md`, not `shop/x.py`."
    assert code_references(text, {"04-services", "workshop"}) == [
        ("04-services/orders/sagas.py", "recover"),
        ("workshop/README.md", ""),
    ]
    source = "class Saga:\n    def run(self):\n        pass\nLIMIT: int = 3\n"
    assert defines(source, "Saga.run", ".py") and defines(source, "LIMIT", ".py")
    assert not defines(source, "Saga.walk", ".py")


def test_anchors_are_githubs():
    assert anchors(
        "# Chapter 3: the strangler fig\n## 14. Exercises, part 2\n## Exercises\n## Exercises"
    ) == {
        "chapter-3-the-strangler-fig",
        "14-exercises-part-2",
        "exercises",
        "exercises-1",
    }


def test_a_stage_picture_that_strays_from_its_procfile_is_caught():
    [picture] = stage_pictures(REPO_ROOT / "03-strangler" / "README.md")
    processes = procfile_processes(REPO_ROOT / "03-strangler" / "Procfile")
    assert "catalog-grpc" in processes and picture_problems(picture.text, processes) == []

    # A process renamed in the picture only, and a link to a node never declared.
    renamed = picture.text.replace('proxy["proxy:', 'router["router:').replace(
        "catalog_grpc --> catalog_db", "catalog_rpc --> catalog_db"
    )
    assert picture_problems(renamed, processes) == [
        "the box 'router' is not a process of 03-strangler/Procfile",
        "'client -- \"read 1: GET /api/products/1/\" --> proxy': proxy is not declared before it",
        "'proxy -- \"read 2: route catalog reads, mode service\" --> catalog_web': proxy is not "
        "declared before it",
        "'client -- \"checkout 1: POST /api/orders/\" --> proxy': proxy is not declared before it",
        "'proxy -- \"checkout 2: no route matches: the monolith\" --> web': proxy is not declared "
        "before it",
        "'catalog_rpc --> catalog_db': catalog_rpc is not declared before it",
        "03-strangler/Procfile runs 'proxy', which the picture leaves out",
    ]

    # A process left out, an unquoted box, and no checkout path.
    trimmed = "\n".join(
        line for line in picture.text.splitlines() if "relay" not in line and "checkout" not in line
    ).replace('web["web: the monolith, :8010"]', "web[web]")
    assert picture_problems(trimmed, processes) == [
        "'web[web]': not a node or a link this reader knows",
        "03-strangler/Procfile runs 'relay', which the picture leaves out",
        "03-strangler/Procfile runs 'web', which the picture leaves out",
        "no link labelled 'checkout N: ...': the path of a checkout is missing",
    ]
    assert picture_problems("flowchart LR\n    a --> b", processes) == [
        "no `%% The processes of <stage>/Procfile` comment"
    ]


WORKSHOP = REPO_ROOT / "workshop"


def test_the_agenda_is_read_as_blocks_of_minutes():
    agenda = section((WORKSHOP / "README.md").read_text(), "A one-day session")
    blocks = chapter_blocks(timetable(agenda))
    assert sorted(blocks) == [1, 2, 3, 4] and all(block.minutes for block in blocks.values())
    # Chapter 2 starting ten minutes later is ten minutes off chapter 1 and chapter 2.
    late = chapter_blocks(timetable(agenda.replace("| 1:30 |", "| 1:40 |")))
    assert (late[1].minutes - blocks[1].minutes, late[2].minutes - blocks[2].minutes) == (10, -10)
    assert timetable("no table here") == []


def test_a_chapter_header_says_its_minutes_in_class_or_none():
    text = (WORKSHOP / "03-strangler.md").read_text()
    minutes = chapter_minutes(text)
    assert minutes is not None
    assert chapter_minutes(text.replace(f"{minutes} minutes in class", "about two hours")) is None
    assert chapter_minutes((WORKSHOP / "05-kubernetes.md").read_text()) is None


def test_an_instructor_timing_table_that_does_not_add_up_is_named():
    text = (WORKSHOP / "instructor" / "03-strangler.md").read_text()
    start, end = instructor_span(text)
    assert timing_problems(text, start, end) == []
    # A row five minutes longer than the next row's time allows; a last row past the block.
    longer = text.replace("| 4:20 | 15 |", "| 4:20 | 20 |", 1)
    assert timing_problems(longer, start, end) == ["the row at 4:35 should start at 4:40"]
    overrun = text.replace("| 5:10 | 5 |", "| 5:10 | 10 |", 1)
    assert timing_problems(overrun, start, end) == [
        "the timing table's minutes end at 5:20, not at 5:15"
    ]
    assert timing_problems(text, "3:40", end) == [
        "the timing table starts at 3:45, the block at 3:40",
        "the row at 3:45 should start at 3:40",
    ]
    shuffled = text.replace("| 4:55 |", "| 4:45 |", 1)
    assert "the rows at 4:50 and 4:45 are out of order" in timing_problems(shuffled, start, end)
    # A page whose table has no minutes column (chapter 1's) is held to its block's span.
    first = (WORKSHOP / "instructor" / "01-monolith.md").read_text()
    assert timing_problems(first, "0:20", "1:30") == []
    assert timing_problems(first, "0:20", "1:20") == [
        "the row at 1:25 is outside the block 0:20 to 1:20"
    ]
    assert timing_problems("nothing", "0:20", "1:30") == [
        "no timing table (rows starting with a time, h:mm)"
    ]


def test_exercise_tags_and_checks_are_read_from_the_exercises_sections():
    text = (WORKSHOP / "04-services.md").read_text()
    marks = exercise_marks(text)
    assert [mark.number for mark in marks] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [mark.number for mark in marks if mark.in_class] == [7]
    assert marks[6].minutes == 20 and marks[6].checks == ["04-trace-saga-steps"]
    assert marks[7].in_class is False and marks[7].checks == ["04-stalled-cancellations"]
    # Section 10's numbered questions are not exercises; an exercise without a tag is None.
    untagged = text.replace("7. *In class, 20 min, checked:* **Show", "7. **Show", 1)
    assert exercise_marks(untagged)[6].in_class is None
    homework = text.replace("7. *In class, 20 min, checked:*", "7. *Homework:*", 1)
    assert exercise_marks(homework)[6].in_class is False
    assert exercise_marks(homework)[6].minutes is None
    # A command in a fenced block that looks like a numbered item does not start an exercise.
    fenced = "## 9. Exercises\n\n1. *Homework:* **A.**\n   ```sh\n2. make x\n   ```\n"
    assert [mark.number for mark in exercise_marks(fenced)] == [1]


REGISTERED = {exercise.id: exercise.chapter for exercise in load_exercises()}


@pytest.fixture
def pages(tmp_path):
    """A copy of the pages the day is read from: the agenda, the chapters, the notes."""
    (tmp_path / "instructor").mkdir()
    for page in [WORKSHOP / "README.md", *WORKSHOP.glob("0[1-9]-*.md")]:
        shutil.copy(page, tmp_path / page.name)
    for page in (WORKSHOP / "instructor").glob("*.md"):
        shutil.copy(page, tmp_path / "instructor" / page.name)
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path.name}: the broken copy would break nothing"
    path.write_text(text.replace(old, new, 1))


def test_the_day_adds_up_on_the_copy(pages):
    assert day_problems(pages, REGISTERED) == []


@pytest.mark.parametrize(
    ("page", "old", "new", "named"),
    [
        (
            "01-monolith.md",
            "**Time:** 70 minutes in class",
            "**Time:** 75 minutes in class",
            ["01-monolith.md: the header promises 75 minutes in class, the agenda 70"],
        ),
        (
            "README.md",
            "| 5:15 | chapter 4",
            "| 5:00 | chapter 4",
            [
                "instructor/README.md: 'The day' has other times than the agenda",
                "03-strangler.md: the header promises 90 minutes in class, the agenda 75",
                "04-services.md: the header promises 90 minutes in class, the agenda 105",
            ],
        ),
        (
            "instructor/04-services.md",
            "**Block:** 5:15 to 6:45 (90 minutes)",
            "**Block:** 5:15 to 7:15 (120 minutes)",
            [
                "instructor/04-services.md: teaches 5:15 to 7:15, the agenda 5:15 to 6:45",
                "instructor/04-services.md: the timing table's minutes end at 6:45, not at 7:15",
            ],
        ),
        (
            "instructor/04-services.md",
            "| 6:10 | 20 | exercise 7 in class",
            "| 6:10 | 25 | exercise 7 in class",
            [
                "instructor/04-services.md: the row at 6:30 should start at 6:35",
                "instructor/04-services.md: the timing table does not give 04-trace-saga-steps "
                "the chapter's 20 minutes",
            ],
        ),
        (
            "03-strangler.md",
            "2. *Homework:* **Lose an upstream.**",
            "2. **Lose an upstream.**",
            [
                "03-strangler.md: exercises [2] start with neither *In class, N min:* nor "
                "*Homework:*"
            ],
        ),
        (
            "04-services.md",
            "2. *Homework:* **Make the saga choose wrong",
            "2. *In class, 20 min:* **Make the saga choose wrong",
            [
                "04-services.md: exactly one checked exercise in class, not [2, 7]",
                "instructor/04-services.md: the timing table does not give 04-saga-step the "
                "chapter's 20 minutes",
            ],
        ),
        (
            "04-services.md",
            "7. *In class, 20 min, checked:*",
            "7. *In class, 45 min, checked:*",
            [
                "04-services.md: exercise 7 takes 45 minutes in class, not 15 to 30",
                "instructor/04-services.md: the timing table does not give 04-trace-saga-steps "
                "the chapter's 45 minutes",
            ],
        ),
        (
            "01-monolith.md",
            "make check EXERCISE=01-low-stock",
            "make check EXERCISE=01-low-stocks",
            [
                "01-monolith.md: 01-low-stocks is not registered in exercises.toml for "
                "01-monolith.md",
                "instructor/01-monolith.md: the timing table does not give 01-low-stocks the "
                "chapter's 15 minutes",
            ],
        ),
        (
            "02-modular-monolith.md",
            "4. *In class, 15 min, checked:* **Tell the world",
            "4. *Homework:* **Tell the world",
            ["02-modular-monolith.md: exactly one checked exercise in class, not []"],
        ),
        (
            "05-kubernetes.md",
            "1. *Homework:* **Balance",
            "1. *In class, 10 min:* **Balance",
            ["05-kubernetes.md: not in the day, yet it marks exercises in class"],
        ),
    ],
    ids=[
        "a-chapter-header",
        "the-agenda",
        "an-instructor-block",
        "an-instructor-row",
        "an-untagged-exercise",
        "two-checked-in-class",
        "a-long-exercise-in-class",
        "an-unregistered-check",
        "none-checked-in-class",
        "chapter-5-in-class",
    ],
)
def test_a_broken_copy_of_the_day_is_named(pages, page, old, new, named):
    edit(pages / page, old, new)
    assert day_problems(pages, REGISTERED) == named
