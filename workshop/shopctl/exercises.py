"""The course's checked exercises: the registry (workshop/exercises/exercises.toml), where each
exercise's check lives, and how a check runs.

A check is a pytest file in workshop/exercises/checks/ that runs under the Django settings and
`pythonpath` of the folder the exercise changes (that folder's pytest.ini), against whichever
copy of the stage it is pointed at: the learner's working tree for `make check`, a scratch
copy with the solution applied for the test that proves the check (workshop/tests/
test_exercises.py). It fails before the task is done and passes after.
"""

import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from shopctl import ShopctlError
from shopctl.stages import REPO_ROOT

EXERCISES_DIR = REPO_ROOT / "workshop" / "exercises"
REGISTRY = EXERCISES_DIR / "exercises.toml"
CHECKS_DIR = EXERCISES_DIR / "checks"
REQUIRED_KEYS = {"id", "stage", "folder", "title", "pattern", "chapter", "hints"}


@dataclass(frozen=True)
class Exercise:
    id: str  # "03-route-inventory": the stage's number, then a name
    stage: str  # "03"
    folder: str  # where the check runs, relative to the repository root: "04-services/orders"
    title: str
    pattern: str
    chapter: str  # "03-strangler.md#5-exercises", relative to workshop/
    hints: tuple[str, ...]  # a nudge first, the answer last

    def hint(self, step: int) -> str:
        """Hint number `step` (1 is the first); ShopctlError for a step it does not have."""
        if not 1 <= step <= len(self.hints):
            raise ShopctlError(f"{self.id} has hints 1 to {len(self.hints)}, not HINT={step}")
        return self.hints[step - 1]

    @property
    def check(self) -> Path:
        return CHECKS_DIR / f"check_{self.id.replace('-', '_')}.py"


def load_exercises(registry: Path = REGISTRY) -> list[Exercise]:
    """Every exercise of the registry, in its order; ShopctlError names a broken entry."""
    try:
        document = tomllib.loads(registry.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ShopctlError(f"cannot read the exercises in {registry}: {error}") from error
    exercises = []
    for index, raw in enumerate(document.get("exercise", []), start=1):
        missing = REQUIRED_KEYS - set(raw)
        unknown = set(raw) - REQUIRED_KEYS
        if missing or unknown:
            raise ShopctlError(
                f"{registry}: exercise {index} ({raw.get('id', 'no id')}): "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        hints = raw["hints"]
        if not isinstance(hints, list) or len(hints) < 2:
            raise ShopctlError(
                f"{registry}: exercise {raw['id']}: `hints` must list two steps or more "
                "(a nudge first, the answer last)"
            )
        fields = {key: raw[key].strip() for key in REQUIRED_KEYS - {"hints"}}
        exercises.append(Exercise(**fields, hints=tuple(hint.strip() for hint in hints)))
    return exercises


def find_exercise(wanted: str) -> Exercise:
    exercises = load_exercises()
    for exercise in exercises:
        if exercise.id == wanted:
            return exercise
    known = ", ".join(exercise.id for exercise in exercises)
    raise ShopctlError(f"no exercise {wanted!r}; the exercises are: {known}")


def check_command(exercise: Exercise) -> list[str]:
    """pytest on the exercise's check, with the ini file of the folder it changes."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        "pytest.ini",
        "--rootdir",
        ".",
        # Each check reads as a list of sentences; the first failure is what to fix first.
        "-q",
        "--no-header",
        "--tb=short",
        # The stage's log lines and prints would bury the assertion's message.
        "--show-capture=no",
        "-p",
        "no:cacheprovider",
        str(exercise.check),
    ]


def run_check(
    exercise: Exercise, root: Path, env: dict[str, str], *, capture: bool = False
) -> subprocess.CompletedProcess:
    """Run the check against the stage under `root` (the repository, or a copy of it)."""
    folder = root / exercise.folder
    if not (folder / "pytest.ini").is_file():
        raise ShopctlError(f"{exercise.id}: no pytest.ini in {folder}")
    return subprocess.run(
        check_command(exercise),
        cwd=folder,
        env=env,
        capture_output=capture,
        text=True,
    )
