"""The page checker finds what it must: a typo in a make target, a folder that a `cd` cannot
reach, a renamed function, a stale excerpt's file. Without these, test_documents.py could
pass by reading nothing."""

from pathlib import Path

import pytest
from documents import (
    Makefile,
    anchors,
    code_blocks,
    code_references,
    commands,
    defines,
    picture_problems,
    problems_of,
    procfile_processes,
    stage_pictures,
)
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
