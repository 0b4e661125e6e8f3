"""`shopctl check`: list the checked exercises, or run one exercise's check on the stage in the
working tree and say whether the task is done, with one of the exercise's hints when it is not:
the first a nudge, each next one (`--hint 2`, `make check HINT=2`) more, the last the answer."""

import textwrap

from shopctl import PYTEST_NO_TESTS_COLLECTED, PYTEST_TESTS_FAILED
from shopctl.env import DEFAULT_PORT, VAR_DIR, stage_environment
from shopctl.exercises import Exercise, find_exercise, load_exercises, run_check
from shopctl.stages import REPO_ROOT


def check(exercise_id: str | None, *, hint: int = 1) -> int:
    if not exercise_id:
        list_exercises(load_exercises())
        return 0
    exercise = find_exercise(exercise_id)
    hint_text = exercise.hint(hint)  # a wrong HINT= is refused before the check runs
    print(f"exercise {exercise.id}: {exercise.title}")
    print(f"  the task: workshop/{exercise.chapter}")
    print(f"  checking {exercise.folder}/ with {exercise.check.relative_to(REPO_ROOT)} …\n")
    var_dir = VAR_DIR / "check" / exercise.id
    env = stage_environment(port=DEFAULT_PORT, var_dir=var_dir)
    returncode = run_check(exercise, REPO_ROOT, env).returncode
    print()
    if returncode == 0:
        print(f"DONE: {exercise.id} passes its check.")
        return 0
    if returncode == PYTEST_TESTS_FAILED:
        print(f"NOT YET: {exercise.id}: the first failure above says what is missing.")
    elif returncode == PYTEST_NO_TESTS_COLLECTED:
        print(f"NOT YET: {exercise.id}: the check found nothing to test (pytest exit code 5).")
    else:
        print(
            f"NOT YET: {exercise.id}: the check could not run (pytest exit code {returncode}); "
            "an import or syntax error in your change is the usual cause: read the error above."
        )
    last = len(exercise.hints)
    print(f"Hint {hint} of {last}{' (the answer)' if hint == last else ''}:")
    print(textwrap.indent(textwrap.fill(hint_text, width=92), "  "))
    if hint < last:
        print(f"Stuck? `make check EXERCISE={exercise.id} HINT={hint + 1}` says more.")
    return 1


def list_exercises(exercises: list[Exercise]) -> None:
    print("The checked exercises (the task is in the chapter; `make check EXERCISE=<id>`):\n")
    width = max(len(exercise.id) for exercise in exercises)
    for exercise in exercises:
        print(f"  {exercise.id.ljust(width)}  {exercise.title}")
        print(f"  {' ' * width}  {exercise.pattern}; workshop/{exercise.chapter}")
    print("\nReference solutions are in workshop/solutions/: try the exercise first, then compare.")
