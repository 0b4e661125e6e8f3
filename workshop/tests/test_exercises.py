"""The checked exercises are honest: each check fails on the stage as committed, and passes
once the exercise's reference solution is applied to a copy of the stage; where a plausible
wrong answer is kept (solutions/wrong/<id>.patch), the check fails on it, and by exactly the
tests the wrong answer names. Plus the registry's bookkeeping: every exercise has its check,
its solution, its hints and its place in a chapter."""

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from documents import anchors
from shopctl import ShopctlError
from shopctl.commands import check as check_command
from shopctl.env import DEFAULT_PORT, stage_environment, tool_environment
from shopctl.exercises import CHECKS_DIR, Exercise, load_exercises, run_check
from shopctl.stages import REPO_ROOT

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode

EXERCISES = load_exercises()
WORKSHOP = REPO_ROOT / "workshop"
SOLUTIONS_DIR = WORKSHOP / "solutions"
# What a copy of a stage leaves out: what a run or a test wrote, not what is committed.
NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc", "var", "*.sqlite3", ".pytest_cache")


def by_id(exercise: Exercise) -> str:
    return exercise.id


def solution(exercise: Exercise) -> Path:
    return SOLUTIONS_DIR / f"{exercise.id}.patch"


def wrong_solution(exercise: Exercise) -> Path:
    """A plausible wrong answer that the check must catch (see solutions/README.md)."""
    return SOLUTIONS_DIR / "wrong" / f"{exercise.id}.patch"


def stage_folder(exercise: Exercise) -> str:
    """The top-level folder the exercise works in: "04-services"."""
    return exercise.folder.split("/")[0]


def stage_copy(exercise: Exercise, root: Path) -> Path:
    """A copy of the exercise's stage folder under root, laid out as in the repository (the
    generated protos and the workshop are linked, not copied: the check does not change them)."""
    shutil.copytree(
        REPO_ROOT / stage_folder(exercise), root / stage_folder(exercise), ignore=NOT_COPIED
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


def apply_solution(
    exercise: Exercise, root: Path, env: dict[str, str], patch: Path | None = None
) -> None:
    patch = patch or solution(exercise)
    result = subprocess.run(
        ["git", "apply", "--verbose", str(patch)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, (
        f"{patch.name} no longer applies to {stage_folder(exercise)}:\n{result.stderr}"
    )


def must_fail(patch: Path) -> set[str]:
    """The tests a wrong solution's preamble names, under "The check must fail these tests:"."""
    preamble = patch.read_text().split("\ndiff --git ", 1)[0]
    _, found, listed = preamble.partition("The check must fail these tests:\n")
    assert found, f"{patch.name} does not say which tests of the check must fail"
    return {line.strip() for line in listed.splitlines() if line.strip()}


def failed_tests(output: str) -> set[str]:
    """The names of the tests pytest's short summary lists as failed (parameters dropped)."""
    return set(re.findall(r"^FAILED \S*::(\w+)", output, re.MULTILINE))


# A piece of code in a hint: `transaction.atomic()`, `mode = "monolith"`, `unit_price_cents`.
CODE = re.compile(r'\S*[=(_"]\S*')
WRONG = [exercise for exercise in EXERCISES if wrong_solution(exercise).is_file()]


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
        f"with {solution(exercise).name} applied the check must pass:\n{after.stdout}{after.stderr}"
    )
    assert " passed" in after.stdout and "skipped" not in after.stdout, after.stdout


@pytest.mark.parametrize("exercise", WRONG, ids=by_id)
def test_the_check_fails_on_the_kept_wrong_solution(exercise, tmp_path):
    root = stage_copy(exercise, tmp_path / "repository")
    env = check_environment(exercise, root)
    expected = must_fail(wrong_solution(exercise))

    apply_solution(exercise, root, env, wrong_solution(exercise))
    wrong = run_check(exercise, root, env, capture=True)

    assert wrong.returncode == pytest.ExitCode.TESTS_FAILED, (
        f"with {wrong_solution(exercise).name} applied the check must fail (exit code 1), "
        f"not exit with {wrong.returncode}:\n{wrong.stdout}{wrong.stderr}"
    )
    assert failed_tests(wrong.stdout) == expected, (
        f"the wrong solution must fail exactly {sorted(expected)}, the tests that catch its "
        f"mistake (the rest of it is right):\n{wrong.stdout}"
    )


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_id)
def test_each_exercise_has_its_check_its_solution_and_its_chapter(exercise):
    assert exercise.check.is_file(), f"no check {exercise.check}"
    assert solution(exercise).is_file(), f"no reference solution {solution(exercise)}"
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
    for patch in (solution(exercise), wrong_solution(exercise)):
        if patch == wrong_solution(exercise) and not patch.is_file():
            continue
        changed = re.findall(r"^diff --git a/(\S+) b/", patch.read_text(), re.MULTILINE)
        assert changed, f"{patch.name} changes nothing"
        outside = [path for path in changed if not path.startswith(f"{stage_folder(exercise)}/")]
        assert not outside, f"{patch.name} changes files outside its stage: {outside}"
        strays = [path for path in changed if path.endswith((".orig", ".rej", ".pyc"))]
        assert not strays, f"{patch.name} adds leftovers of a merge or a run: {strays}"


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_id)
def test_the_hints_go_from_a_nudge_to_the_answer(exercise):
    """The first hint, printed by every NOT YET, must not give the answer away: it quotes none
    of the code the last hint (the answer) spells out (names with `_`, calls, `key = value`)."""
    assert len(exercise.hints) >= 2, f"{exercise.id}: a nudge first, the answer last"
    assert len(set(exercise.hints)) == len(exercise.hints), f"{exercise.id}: a hint repeats"
    first, answer = (set(CODE.findall(hint)) for hint in (exercise.hints[0], exercise.hints[-1]))
    assert answer, f"{exercise.id}: the last hint is the answer, and names no code"
    assert not first & answer, (
        f"{exercise.id}: the first hint already says {sorted(first & answer)}: keep it a nudge"
    )


def test_make_check_gives_the_hints_one_step_at_a_time(capsys, monkeypatch):
    not_yet = subprocess.CompletedProcess([], returncode=pytest.ExitCode.TESTS_FAILED)
    monkeypatch.setattr(check_command, "run_check", lambda *args, **kwargs: not_yet)
    exercise = EXERCISES[0]
    *steps, answer = exercise.hints

    def printed(hint: int) -> str:
        assert check_command.check(exercise.id, hint=hint) == 1
        return " ".join(capsys.readouterr().out.split())  # the hints are printed wrapped

    first = printed(1)
    assert " ".join(steps[0].split()) in first and " ".join(answer.split()) not in first
    assert f"make check EXERCISE={exercise.id} HINT=2" in first
    last = printed(len(exercise.hints))
    assert " ".join(answer.split()) in last and "(the answer)" in last and "HINT=" not in last
    with pytest.raises(ShopctlError, match=f"hints 1 to {len(exercise.hints)}"):
        check_command.check(exercise.id, hint=len(exercise.hints) + 1)


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
    assert solutions == {solution(exercise).name for exercise in EXERCISES}
    wrong = {path.name for path in (SOLUTIONS_DIR / "wrong").glob("*.patch")}
    assert wrong <= solutions, f"wrong solutions of no exercise: {sorted(wrong - solutions)}"
