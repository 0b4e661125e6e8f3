"""Every page of the repository works as written: its shell commands name make targets,
variables, folders and files that exist (and the blocks marked runnable run), its links lead
somewhere, and its references to code name files and functions that exist."""

import re
import subprocess
from pathlib import Path

import pytest
from documents import (
    Makefile,
    anchors,
    code_blocks,
    code_references,
    commands,
    defines,
    links,
    markdown_files,
    picture_problems,
    problems_of,
    procfile_processes,
    prose,
    stage_pictures,
)
from shopctl.env import tool_environment
from shopctl.stages import REPO_ROOT, all_stages

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode

PAGES = markdown_files(REPO_ROOT)
MAKEFILE = Makefile.read(REPO_ROOT / "Makefile")
TOP_LEVEL = {path.name for path in REPO_ROOT.iterdir() if not path.name.startswith(".")}
SHELL_BLOCKS = [block for page in PAGES for block in code_blocks(page) if block.is_shell]
RUNNABLE_TIMEOUT = 120  # seconds, a whole block


def page_id(page) -> str:
    return str(page.relative_to(REPO_ROOT))


def block_id(block) -> str:
    return f"{block.path.relative_to(REPO_ROOT)}:{block.line}"


def test_the_pages_are_found():
    names = {page_id(page) for page in PAGES}
    assert {"README.md", "workshop/README.md", "workshop/03-strangler.md"} <= names


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=block_id)
def test_every_shell_command_names_what_exists(block):
    syntax = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True)
    assert syntax.returncode == 0, f"{block.where}: not valid shell:\n{syntax.stderr}"
    problems = [
        f"{' '.join(command.words)}: {problem}"
        for command in commands(block.text, REPO_ROOT)
        for problem in problems_of(command, REPO_ROOT, MAKEFILE)
    ]
    assert not problems, f"{block.where}:\n" + "\n".join(problems)


RUNNABLE = [block for block in SHELL_BLOCKS if block.runnable]


# A page's `.venv/bin/pytest` runs tests of a stage's test folders, which `make test` runs in
# full in both modes (each stage's pytest step). Here they are collected, not run again:
# the command must still find its files and select at least one test (pytest exits 5 if a
# -k selects none, 4 if a path is wrong). Measured: 47 s less CPU for this suite (425 -> 378 s).
PYTEST_COMMAND = re.compile(r"(\.venv/bin/pytest)(?=\s|$)")


def collect_only(text: str) -> str:
    """The block with each of its pytest commands told to collect, not run."""
    return PYTEST_COMMAND.sub(r"\1 --collect-only", text)


@pytest.mark.parametrize("block", RUNNABLE, ids=block_id)
def test_every_runnable_block_runs(block, tmp_path):
    env = tool_environment()
    # A stage's tests run by a page write their databases and files under this run's tmp dir.
    env["SHOP_VAR_DIR"] = str(tmp_path / "var")
    env.pop("SHOP_PORT", None)
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", collect_only(block.text)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUNNABLE_TIMEOUT,
    )
    assert result.returncode == 0, (
        f"{block.where} exited with {result.returncode}:\n{result.stdout[-3000:]}"
        f"{result.stderr[-3000:]}"
    )


def test_the_pytest_commands_of_runnable_blocks_are_tests_make_test_runs_in_full():
    """What makes collecting them enough (above): each one runs in a stage's test folder."""
    folders = {folder for stage in all_stages() for folder in stage.test_folders()}
    elsewhere = [
        f"{block.where}: {' '.join(command.words)} (in {command.cwd})"
        for block in RUNNABLE
        for command in commands(block.text, REPO_ROOT)
        if PYTEST_COMMAND.search(command.words[0]) and command.cwd not in folders
    ]
    assert not elsewhere, "pytest outside a stage's test folders:\n" + "\n".join(elsewhere)


@pytest.mark.parametrize(
    ("selection", "exit_code"),
    [("tests/test_queries.py -k no_such_test", 5), ("tests/no_such_file.py", 4)],
)
def test_a_collected_pytest_command_still_fails_when_it_finds_no_test(selection, exit_code):
    block = f"cd 01-monolith\n../.venv/bin/pytest -q {selection}"
    result = subprocess.run(
        ["bash", "-e", "-c", collect_only(block)], cwd=REPO_ROOT, env=tool_environment()
    )
    assert result.returncode == exit_code


def test_some_blocks_are_runnable():
    assert len(RUNNABLE) >= 5, "the pages mark fewer than 5 blocks as runnable"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_link_leads_somewhere(page):
    text = prose(page)
    broken = []
    for target in links(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif (
            anchor
            and destination.suffix == ".md"
            and anchor not in anchors(destination.read_text())
        ):
            broken.append(f"{target}: no heading with the anchor #{anchor}")
    assert not broken, f"{page_id(page)}:\n" + "\n".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_reference_to_code_names_what_exists(page):
    missing = []
    for path, name in code_references(prose(page), TOP_LEVEL):
        target = REPO_ROOT / path
        if not target.exists():
            missing.append(f"{path}: no such file")
        elif name and not (target.is_file() and defines(target.read_text(), name, target.suffix)):
            missing.append(f"{path}:{name}: {name} is not defined there")
    assert not missing, f"{page_id(page)}:\n" + "\n".join(missing)


def python_files() -> dict[Path, str]:
    """Every committed Python file of the stages and the workshop, by path, with its text."""
    found = {}
    for top in TOP_LEVEL:
        folder = REPO_ROOT / top
        if folder.is_dir() and top not in ("var", "docker"):
            for path in folder.rglob("*.py"):
                if "_generated" not in path.parts and "__pycache__" not in path.parts:
                    found[path] = path.read_text()
    return found


PYTHON_BLOCKS = [
    block
    for page in PAGES
    for block in code_blocks(page)
    if block.language == "python" and "sketch" not in block.flags
]


@pytest.fixture(scope="module")
def sources() -> dict[Path, str]:
    return python_files()


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=block_id)
def test_every_quoted_snippet_is_still_in_the_code(block, sources):
    """A ```python block quotes the code (a `...` line skips some): when the code changes,
    the page must change with it. Code written for the page only is marked ```python sketch."""
    chunks = [
        chunk.strip("\n")
        for chunk in re.split(r"^\s*\.\.\.\s*$", block.text, flags=re.MULTILINE)
        if chunk.strip()
    ]
    missing = [chunk for chunk in chunks if not any(chunk in text for text in sources.values())]
    assert not missing, (
        f"{block.where}: this excerpt is no longer in the code (or mark the block "
        "```python sketch):\n" + "\n---\n".join(missing)
    )


STAGES = ["01-monolith", "02-modular-monolith", "03-strangler", "04-services"]


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_is_pictured_in_its_readme_and_its_chapter_as_its_procfile_runs(stage):
    readme, chapter = REPO_ROOT / stage / "README.md", REPO_ROOT / "workshop" / f"{stage}.md"
    pictures = {page: stage_pictures(page) for page in (readme, chapter)}
    for page, found in pictures.items():
        assert len(found) == 1, f"{page_id(page)}: {len(found)} pictures of {stage}, not one"
    [(in_readme,), (in_chapter,)] = pictures.values()
    assert f"of {stage}/Procfile" in in_readme.text, f"{in_readme.where} pictures another stage"
    assert in_readme.text == in_chapter.text, (
        f"{in_readme.where} and {in_chapter.where} draw {stage} differently: copy one to the other"
    )
    problems = picture_problems(in_readme.text, procfile_processes(REPO_ROOT / stage / "Procfile"))
    assert not problems, f"{in_readme.where}:\n" + "\n".join(problems)
