"""The checked exercises are honest: each check fails on the stage as committed, and passes
once the exercise's reference solution is applied to a copy of the stage. Plus the registry's
bookkeeping: every exercise has its check, its solution and its place in a chapter."""

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from documents import anchors
from shopctl.env import DEFAULT_PORT, stage_environment, tool_environment
from shopctl.exercises import CHECKS_DIR, SOLUTIONS_DIR, Exercise, load_exercises, run_check
from shopctl.stages import REPO_ROOT

EXERCISES = load_exercises()
WORKSHOP = REPO_ROOT / "workshop"
# What a copy of a stage leaves out: what a run or a test wrote, not what is committed.
NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc", "var", "*.sqlite3", ".pytest_cache")


def by_id(exercise: Exercise) -> str:
    return exercise.id


def stage_copy(exercise: Exercise, root: Path) -> Path:
    """A copy of the exercise's stage folder under root, laid out as in the repository (the
    generated protos and the workshop are linked, not copied: the check does not change them)."""
    shutil.copytree(
        REPO_ROOT / exercise.stage_folder, root / exercise.stage_folder, ignore=NOT_COPIED
    )
    for shared in ("proto", "workshop"):
        (root / shared).symlink_to(REPO_ROOT / shared)
    return root


def check_environment(exercise: Exercise, root: Path) -> dict[str, str]:
    """Embedded: a var/ of its own. Real: a database of its own, so that nothing collides
    with another run's test databases on the same server."""
    database_url = tool_environment().get("DATABASE_URL")
    if database_url:
        database = "shop_exercise_" + exercise.id.replace("-", "_")
        database_url = urlunsplit(urlsplit(database_url)._replace(path=f"/{database}"))
    env = stage_environment(port=DEFAULT_PORT, var_dir=root / "var", database_url=database_url)
    # git apply in root, never in a repository above it (TMPDIR inside a clone, say).
    env["GIT_CEILING_DIRECTORIES"] = str(root.parent)
    return env


def apply_solution(exercise: Exercise, root: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["git", "apply", "--verbose", str(exercise.solution)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        f"{exercise.solution.name} no longer applies to {exercise.stage_folder}:\n{result.stderr}"
    )


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_id)
def test_the_check_fails_before_and_passes_with_the_solution(exercise, tmp_path):
    root = stage_copy(exercise, tmp_path / "repository")
    env = check_environment(exercise, root)

    before = run_check(exercise, root, env, capture=True)
    assert before.returncode == pytest.ExitCode.TESTS_FAILED, (
        f"on the untouched stage the check must fail with failed tests (exit code 1), "
        f"not exit code {before.returncode}:\n{before.stdout}{before.stderr}"
    )

    apply_solution(exercise, root, env)
    after = run_check(exercise, root, env, capture=True)
    assert after.returncode == 0, (
        f"with {exercise.solution.name} applied the check must pass:\n{after.stdout}{after.stderr}"
    )
    assert " passed" in after.stdout and "skipped" not in after.stdout, after.stdout


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_id)
def test_each_exercise_has_its_check_its_solution_and_its_chapter(exercise):
    assert exercise.check.is_file(), f"no check {exercise.check}"
    assert exercise.solution.is_file(), f"no reference solution {exercise.solution}"
    assert exercise.id.startswith(f"{exercise.stage}-")
    assert (REPO_ROOT / exercise.folder / "pytest.ini").is_file()
    chapter, _, anchor = exercise.chapter.partition("#")
    text = (WORKSHOP / chapter).read_text()
    assert anchor in anchors(text), f"{chapter} has no heading with the anchor #{anchor}"
    assert f"make check EXERCISE={exercise.id}" in text, (
        f"{chapter} does not tell the learner to run `make check EXERCISE={exercise.id}`"
    )


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_id)
def test_a_solution_changes_only_its_own_stage(exercise):
    changed = re.findall(r"^diff --git a/(\S+) b/", exercise.solution.read_text(), re.MULTILINE)
    assert changed, f"{exercise.solution.name} changes nothing"
    outside = [path for path in changed if not path.startswith(f"{exercise.stage_folder}/")]
    assert not outside, f"{exercise.solution.name} changes files outside its stage: {outside}"


def test_the_exercises_page_lists_every_exercise():
    page = (WORKSHOP / "exercises" / "README.md").read_text()
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \|", page, re.MULTILINE))
    assert rows == {exercise.id for exercise in EXERCISES}


def test_every_check_and_solution_belongs_to_an_exercise():
    ids = {exercise.id for exercise in EXERCISES}
    assert len(ids) == len(EXERCISES), "two exercises share an id"
    checks = {path.name for path in CHECKS_DIR.glob("check_*.py")}
    assert checks == {exercise.check.name for exercise in EXERCISES}
    solutions = {path.name for path in SOLUTIONS_DIR.glob("*.patch")}
    assert solutions == {exercise.solution.name for exercise in EXERCISES}
