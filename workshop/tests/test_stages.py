"""Reading a stage's Procfile the way honcho does: the processes, the release, the errors."""

import re

import pytest
from shopctl import ShopctlError, runner
from shopctl.commands.test import Step, Steps, what_to_test
from shopctl.stages import Stage, all_stages

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode


def stage_with_procfile(tmp_path, text: str) -> Stage:
    (tmp_path / "Procfile").write_text(text)
    return Stage(name="09-example", number="09", path=tmp_path)


def test_a_procfile_reads_as_its_processes_in_file_order(tmp_path):
    stage = stage_with_procfile(
        tmp_path,
        "# the release runs once\n"
        "release: python manage.py migrate && python manage.py seed_demo\n"
        "\n"
        "web: gunicorn config.wsgi --bind ${SHOP_HOST:-127.0.0.1}:${SHOP_PORT:-8000}\n"
        "  worker:   celery -A config worker\n",
    )

    assert stage.processes() == {
        "release": "python manage.py migrate && python manage.py seed_demo",
        "web": "gunicorn config.wsgi --bind ${SHOP_HOST:-127.0.0.1}:${SHOP_PORT:-8000}",
        "worker": "celery -A config worker",
    }
    assert stage.release_command() == "python manage.py migrate && python manage.py seed_demo"
    assert stage.long_running() == ["web", "worker"]


def test_a_procfile_without_a_release_has_nothing_to_run_first(tmp_path):
    stage = stage_with_procfile(tmp_path, "web: gunicorn config.wsgi\n")

    assert stage.release_command() is None
    assert stage.long_running() == ["web"]


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "release: python manage.py migrate\n"])
def test_a_procfile_with_nothing_to_start_is_a_clear_error(tmp_path, text):
    stage = stage_with_procfile(tmp_path, text)

    with pytest.raises(ShopctlError, match="names no process to start"):
        stage.processes()


def test_a_missing_procfile_is_a_clear_error(tmp_path):
    with pytest.raises(ShopctlError, match="has no Procfile"):
        Stage(name="09-example", number="09", path=tmp_path).processes()


def test_the_ports_of_a_stage_are_read_from_its_procfile(tmp_path):
    stage = stage_with_procfile(
        tmp_path,
        "web: gunicorn config.wsgi --bind 127.0.0.1:$((${SHOP_PORT:-8000} + 10))\n"
        "grpc: serve --address 127.0.0.1:$(( ${SHOP_PORT:-8000}+21 ))\n"
        "proxy: python -m proxy\n",
    )

    assert stage.port_offsets() == [0, 10, 21, 39]  # 39: the broker proxy (real mode)
    assert stage.process_ports() == {"web": 10, "grpc": 21, "proxy": None}


def test_a_process_on_shop_port_itself_listens_on_offset_0(tmp_path):
    stage = stage_with_procfile(
        tmp_path,
        "gateway: gunicorn gateway.wsgi --bind 127.0.0.1:${SHOP_PORT:-8000}\n"
        "proxy: SHOP_PORT=${SHOP_PORT:-8000} python -m proxy\n"
        "relay: python -m orders relay_outbox\n",
    )

    assert stage.process_ports() == {"gateway": 0, "proxy": 0, "relay": None}


def test_a_metrics_port_is_read_apart_from_the_port_a_process_serves_on(tmp_path):
    stage = stage_with_procfile(
        tmp_path,
        "web: gunicorn config.wsgi --bind 127.0.0.1:${SHOP_PORT:-8000}\n"
        "orders: SHOP_METRICS_PORT=$((${SHOP_PORT:-8000} + 3)) python -m orders serve_grpc "
        "--address 127.0.0.1:$((${SHOP_PORT:-8000} + 23))\n"
        "relay: SHOP_METRICS_PORT=$(( ${SHOP_PORT:-8000}+5 )) python -m orders relay_outbox\n"
        "expiry: python -m inventory release_expired_reservations\n",
    )

    assert stage.process_ports() == {"web": 0, "orders": 23, "relay": None, "expiry": None}
    assert stage.metrics_ports() == {"web": 0, "orders": 3, "relay": 5, "expiry": None}
    assert stage.port_offsets() == [0, 3, 5, 23, 39]  # `make run` checks that all are free


def test_a_stage_is_tested_in_each_folder_with_a_pytest_ini(tmp_path):
    stage = stage_with_procfile(tmp_path, "web: gunicorn config.wsgi\n")
    for folder in (tmp_path, tmp_path / "catalog_service", tmp_path / "docs"):
        folder.mkdir(exist_ok=True)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "catalog_service" / "pytest.ini").write_text("[pytest]\n")

    assert stage.test_folders() == [tmp_path, tmp_path / "catalog_service"]


def test_make_test_runs_everything_when_nothing_is_named():
    with_workshop, stages = what_to_test([])
    assert with_workshop
    assert [stage.number for stage in stages] == [stage.number for stage in all_stages()]


def test_make_test_with_a_stage_runs_only_that_stage_not_the_workshops_suite():
    with_workshop, stages = what_to_test(["01"])
    assert not with_workshop
    assert [stage.name for stage in stages] == ["01-monolith"]


def test_the_workshops_suite_runs_when_named_alone_or_beside_stages():
    assert what_to_test(["workshop"]) == (True, [])
    with_workshop, stages = what_to_test(["workshop", "04"])
    assert with_workshop and [stage.number for stage in stages] == ["04"]


def test_a_free_port_for_a_stage_lies_below_the_ports_of_outgoing_connections():
    """A stage's ports drawn from the ephemeral range could be the local end of any
    connection on the machine at the moment a server binds them (a stop test saw a port
    "still taken" that way)."""
    offsets = (0, 1, 39)
    for _ in range(20):
        port = runner.free_port(offsets)
        assert port >= runner.FIRST_PORT
        assert port + max(offsets) < runner._first_ephemeral_port()
        assert all(runner.port_is_free(port + offset) for offset in offsets)


def test_the_summary_ends_with_the_line_ci_reads_and_is_plain_text_in_a_pipe(capsys):
    steps = Steps()
    steps.done = [
        Step("workshop", "pytest", result="ok", seconds=41.2),
        Step("01-monolith-with-a-long-name" * 8, "contract", result="FAILED", seconds=3),
    ]

    steps.print_summary()

    lines = capsys.readouterr().out.splitlines()
    # .ci/run's regex, on the last line: the counts it adds up.
    assert re.fullmatch(r"shopctl: [0-9]+ passed, [0-9]+ failed", lines[-1])
    assert lines[-1] == "shopctl: 1 passed, 1 failed"
    assert not any("\x1b" in line for line in lines)  # no colour codes in a log
    # A row wider than any terminal stays whole, on one line.
    assert any(line.startswith("01-monolith-with-a-long-name" * 8) for line in lines)
    assert len(lines) == 5  # header, rule, two rows, the counts
