"""How shopctl turns a Procfile line into a supervisord program: the shell replaced by the
program (`exec`), after any leading variable assignments, whatever their values hold; how
supervisord stops it; and what its log says of a program it had to kill."""

import configparser

import pytest
from shopctl.stages import find_stage
from shopctl.supervisor import RunFiles, _exec, killed, write_config


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


def program_sections(stage, tmp_path) -> configparser.RawConfigParser:
    files = RunFiles.for_var_dir(tmp_path)
    write_config(stage, files)
    config = configparser.RawConfigParser()
    config.read(files.config)
    return config


def test_the_stop_signal_goes_to_a_program_alone_and_the_kill_to_its_group(tmp_path):
    """Celery's prefork parent stops its pool children itself; a SIGTERM sent to them too
    could kill one holding the pool's queue lock and leave the parent stuck until the SIGKILL.
    Only a line that keeps its shell is signalled as a group (the shell passes nothing on)."""
    worker = program_sections(find_stage("01"), tmp_path)["program:worker"]
    assert "exec celery" in worker["command"]
    assert (worker["stopasgroup"], worker["killasgroup"]) == ("false", "true")


def test_a_line_that_keeps_its_shell_is_stopped_as_a_group(tmp_path, monkeypatch):
    stage = find_stage("01")
    lines = {**stage.processes(), "worker": "sleep 1 && celery -A config worker"}
    monkeypatch.setattr(type(stage), "processes", lambda self: lines)
    config = program_sections(stage, tmp_path)
    assert config["program:worker"]["stopasgroup"] == "true"
    assert config["program:web"]["stopasgroup"] == "false"


def test_the_programs_killed_after_their_grace_are_read_from_supervisords_log(tmp_path):
    log = tmp_path / "supervisord.log"
    log.write_text(
        "2026-12-06 03:53:03,101 INFO waiting for worker to die\n"
        "2026-12-06 03:53:06,120 WARN killing 'worker' (5980) with SIGKILL\n"
        "2026-12-06 03:53:06,130 WARN stopped: worker (terminated by SIGKILL)\n"
        "2026-12-06 03:53:06,140 INFO stopped: web (exit status 0)\n"
    )
    assert killed(log) == ["worker"]
    assert killed(tmp_path / "none.log") == []
