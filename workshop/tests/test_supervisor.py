"""How shopctl turns a Procfile line into a supervisord program: the shell replaced by the
program (`exec`), after any leading variable assignments, whatever their values hold."""

import pytest
from shopctl.supervisor import _exec


@pytest.mark.parametrize(
    ("line", "program_line"),
    [
        ("python -m orders relay_outbox", "exec python -m orders relay_outbox"),
        (
            "SHOP_PORT=${SHOP_PORT:-8000} python -m proxy",
            "SHOP_PORT=${SHOP_PORT:-8000} exec python -m proxy",
        ),
        (
            "SHOP_METRICS_PORT=$((${SHOP_PORT:-8000} + 1)) python -m catalog serve_grpc",
            "SHOP_METRICS_PORT=$((${SHOP_PORT:-8000} + 1)) exec python -m catalog serve_grpc",
        ),
        (
            "A=1 B=$(( 2 + 3 )) celery -A config worker",
            "A=1 B=$(( 2 + 3 )) exec celery -A config worker",
        ),
    ],
)
def test_exec_comes_after_the_assignments_even_with_spaces_inside_them(line, program_line):
    assert _exec(line) == program_line


def test_a_line_of_several_commands_keeps_its_shell():
    line = "python manage.py migrate && python manage.py seed_demo"
    assert _exec(line) == line


def test_every_procfile_line_of_every_stage_execs_a_program_not_an_expression():
    from shopctl.stages import RELEASE, all_stages

    for stage in all_stages():
        for name, command in stage.processes().items():
            if name == RELEASE:
                continue
            program = _exec(command).split(" exec ", 1)[-1].removeprefix("exec ")
            assert program.split()[0] in {"gunicorn", "python", "celery"}, (stage.name, name)
