"""Faults on a running stage 04 (issue 18, items 6, 7 and 9).

A process SIGKILLed is restarted alone by supervisord while the stage goes on serving, as
compose and Kubernetes would; `make fault` kills, restarts, pauses, slows or fails one
process of the stage, or takes its broker away, through the run's supervisord; `make
invariants` says whether the books still agree, and says BROKEN when a charge is lost.

One stage 04 is started for the module (in a tmp dir; on its own database in real mode):
about 20 s, then a few seconds a fault. The broker fault is also run on stages 01, 02 and
03, started side by side (about 65 s in all): in real mode it cuts the stage's connections
at shopctl's broker proxy, and a client of the same RabbitMQ that does not go through it
must not notice.
"""

import contextlib
import os
import re
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import httpx
import kombu
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from shopctl import supervisor
from shopctl.env import isolated_environment
from shopctl.runner import RUN_ID_VARIABLE, RunningStage, free_port, started
from shopctl.stages import REPO_ROOT, find_stage

STAGE = find_stage("04")
SECONDS_TO_COME_BACK = 20  # supervisord restarts at once; the process needs a few s to serve


def database_name(purpose: str) -> str:
    """Real mode: a database named after the caller's own (`shop_ci` -> `shop_ci_faults`), so
    that runs of this suite by different people on one PostgreSQL do not meet."""
    url = os.environ.get("DATABASE_URL")
    own = urlsplit(url).path.lstrip("/") if url else ""
    return f"{own or 'shop_04'}_{purpose}"


@pytest.fixture(scope="module")
def stage_04(tmp_path_factory) -> Iterator[RunningStage]:
    var_dir = tmp_path_factory.mktemp("stage-04")
    env = isolated_environment(
        port=free_port(STAGE.port_offsets()), var_dir=var_dir, database=database_name("faults")
    )
    # The probes below speak plaintext gRPC; real mode turns mutual TLS on by default, which
    # the chassis's own suite tests (chassis/tests/test_mutual_tls.py).
    env["SHOP_GRPC_TLS"] = "off"
    with started(STAGE, env, log_path=var_dir / "processes.log") as running:
        yield running


def program(running: RunningStage, name: str) -> dict:
    return supervisor.program_states(running.files.socket, running.files.password)[name]


def grpc_health(port: int) -> int | None:
    """The standard health check's answer of the gRPC server on this port, None if none."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
        except grpc.RpcError:
            return None
    return reply.status


def test_a_killed_process_is_restarted_alone_while_the_stage_keeps_serving(stage_04):
    payments_port = int(stage_04.env["SHOP_PORT"]) + STAGE.process_ports()["payments"]
    before = program(stage_04, "payments")
    others = {
        name: info["pid"]
        for name, info in supervisor.program_states(
            stage_04.files.socket, stage_04.files.password
        ).items()
        if name != "payments"
    }
    assert grpc_health(payments_port) == health_pb2.HealthCheckResponse.SERVING

    os.kill(before["pid"], signal.SIGKILL)

    answers = []
    deadline = time.monotonic() + SECONDS_TO_COME_BACK
    with httpx.Client(base_url=stage_04.base_url, timeout=5, trust_env=False) as client:
        while True:
            answers.append(client.get("/api/products/1/").status_code)
            now = program(stage_04, "payments")
            serving = grpc_health(payments_port) == health_pb2.HealthCheckResponse.SERVING
            if now["pid"] != before["pid"] and now["statename"] == "RUNNING" and serving:
                break
            assert time.monotonic() < deadline, f"payments not back after {SECONDS_TO_COME_BACK} s"
            time.sleep(0.2)

    assert set(answers) == {200}, "the rest of the stage stopped serving while payments was down"
    after = supervisor.program_states(stage_04.files.socket, stage_04.files.password)
    assert {name: after[name]["pid"] for name in others} == others, "more than payments restarted"
    assert stage_04.deaths() == {"payments": 1}
    log = stage_04.files.log.read_text()
    assert "exited: payments (terminated by SIGKILL; not expected)" in log
    assert log.count("spawned: 'payments'") == 2
    # Shown with the rest of the stage's output, where the class is looking.
    assert "exited: payments" in stage_04.log_path.read_text()


# --- make fault and make invariants, on the same running stage -------------------------------
def shopctl(running: RunningStage, *arguments: str) -> subprocess.CompletedProcess:
    """`python -m shopctl …` as `make fault`/`make invariants` run it, for this stage."""
    env = dict(running.env)
    env.pop(RUN_ID_VARIABLE)  # a tool of the class, not a process of the run
    return subprocess.run(
        [sys.executable, "-m", "shopctl", *arguments],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def background_fault(running: RunningStage, *words: str) -> subprocess.Popen:
    env = dict(running.env)
    env.pop(RUN_ID_VARIABLE)
    return subprocess.Popen(
        [sys.executable, "-m", "shopctl", "fault", "--stage", running.stage.number, *words],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not (result := condition()):
        assert time.monotonic() < deadline, f"not {what} after {seconds} s"
        time.sleep(0.2)
    return result


def get(running: RunningStage, path: str) -> httpx.Response:
    return httpx.get(running.base_url + path, timeout=10, trust_env=False)


def checkout(running: RunningStage) -> str:
    with httpx.Client(base_url=running.base_url, timeout=30, trust_env=False) as client:
        cart = client.post("/api/carts/").json()["id"]
        client.post(f"/api/carts/{cart}/items/", json={"product_id": 3, "quantity": 2})
        answer = client.post(
            "/api/orders/",
            json={"cart_id": cart, "email": "fault@example.com", "payment_token": "tok_visa"},
        )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def emails_for(running: RunningStage, order: str) -> int:
    folder = Path(running.env["SHOP_VAR_DIR"]) / "emails"
    return sum(
        path.read_text().count(f"Your order {order} is confirmed") for path in folder.glob("*.log")
    )


def test_make_fault_without_a_fault_lists_what_it_can_do_and_the_processes(stage_04):
    result = shopctl(stage_04, "fault", "--stage", "04")
    assert result.returncode == 0, result.stderr
    assert "kill <process>" in result.stdout and "broker [30s]" in result.stdout
    assert re.search(r"payments\s+RUNNING\s+pid \d+", result.stdout)


def test_a_fault_on_a_stage_that_is_not_running_is_a_clear_error(stage_04, tmp_path):
    env = {**stage_04.env, "SHOP_VAR_DIR": str(tmp_path)}
    env.pop(RUN_ID_VARIABLE)
    result = subprocess.run(
        [sys.executable, "-m", "shopctl", "fault", "--stage", "04", "kill", "payments"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "is not running from this checkout" in result.stderr


def test_a_process_the_stage_does_not_have_is_named_in_the_error(stage_04):
    result = shopctl(stage_04, "fault", "--stage", "04", "kill", "paymnets")
    assert result.returncode == 1
    assert "no process 'paymnets'" in result.stderr and "payments" in result.stderr


def test_fault_kill_crashes_the_process_and_supervisord_brings_it_back(stage_04):
    before = program(stage_04, "orders")["pid"]
    deaths = stage_04.deaths().get("orders", 0)
    result = shopctl(stage_04, "fault", "--stage", "04", "kill", "orders")
    assert result.returncode == 0, result.stderr
    assert "orders running again" in result.stdout
    assert program(stage_04, "orders")["pid"] != before
    assert stage_04.deaths()["orders"] == deaths + 1
    assert "exited: orders (terminated by SIGKILL; not expected)" in stage_04.files.log.read_text()


def test_fault_restart_stops_and_starts_the_process_cleanly(stage_04):
    before = program(stage_04, "catalog")["pid"]
    result = shopctl(stage_04, "fault", "--stage", "04", "restart", "catalog")
    assert result.returncode == 0, result.stderr
    assert program(stage_04, "catalog")["pid"] != before
    assert "catalog" not in stage_04.deaths(), "a clean restart is not a death"
    wait_until(lambda: get(stage_04, "/api/products/1/").status_code == 200, 20, "serving")


def test_fault_pause_freezes_the_process_and_resumes_it(stage_04):
    fault = background_fault(stage_04, "pause", "inventory", "4s")
    try:
        wait_until(lambda: "paused inventory" in _peek(fault), 20, "paused")
        frozen = get(stage_04, "/api/inventory/1/")
        assert frozen.status_code == 503, frozen.text  # the gateway's deadline, not a hang
        assert get(stage_04, "/api/products/1/").status_code == 200  # the rest serves
        assert fault.wait(timeout=30) == 0
    finally:
        fault.kill()
    assert get(stage_04, "/api/inventory/1/").status_code == 200


def test_fault_latency_delays_every_call_of_one_grpc_service(stage_04):
    fault = background_fault(stage_04, "latency", "catalog", "700ms", "4s")
    try:
        wait_until(lambda: "catalog: 700 ms more" in _peek(fault), 20, "started")
        time.sleep(0.6)  # the service reads its fault file every 0.5 s
        started = time.monotonic()
        assert get(stage_04, "/api/products/1/").status_code == 200
        assert time.monotonic() - started >= 0.7
        assert fault.wait(timeout=30) == 0
    finally:
        fault.kill()
    assert not (Path(stage_04.env["SHOP_VAR_DIR"]) / "faults" / "catalog.json").exists()


def test_fault_errors_fail_every_call_of_one_grpc_service_then_stop(stage_04):
    fault = background_fault(stage_04, "errors", "catalog", "3s")
    try:
        wait_until(lambda: "catalog: every call fails" in _peek(fault), 20, "started")
        time.sleep(0.6)
        failing = get(stage_04, "/api/products/1/")
        assert failing.status_code == 503
        assert failing.json()["error"]["code"] == "service_unavailable"
        assert fault.wait(timeout=30) == 0
    finally:
        fault.kill()
    wait_until(lambda: get(stage_04, "/api/products/1/").status_code == 200, 5, "serving")


def test_fault_broker_holds_events_back_until_the_broker_is_back(stage_04):
    """Both modes: the file broker's folder moved aside, or (real mode) the stage's
    connections cut at shopctl's proxy. The order is taken, its email waits, then comes once."""
    with broker_fault(stage_04, "5s") as fault:
        order = checkout(stage_04)  # the order is taken: its event waits in the outbox
        time.sleep(2)
        assert emails_for(stage_04, order) == 0, "the email left while the broker was away"
        assert fault.wait(timeout=30) == 0
    wait_until(lambda: emails_for(stage_04, order) == 1, 30, "emailed after the broker came back")
    time.sleep(1)
    assert emails_for(stage_04, order) == 1


@contextlib.contextmanager
def broker_fault(running: RunningStage, duration: str) -> Iterator[subprocess.Popen]:
    """`make fault FAULT="broker <duration>"` in the background, once it has taken effect;
    in real mode, checks on the way that it cut the stage's connections and nobody else's."""
    fault = background_fault(running, "broker", duration)
    try:
        started = wait_until(
            lambda: re.search(r"out of reach|(\d+) connection\(s\) to RabbitMQ", _peek(fault)),
            20,
            f"the broker fault started ({_peek(fault)!r})",
        )
        if "BROKER_URL" in running.env:
            assert int(started[1]) > 0, "the proxy carried none of the stage's connections"
            assert_the_broker_still_serves_others()
        yield fault
    finally:
        fault.kill()


def assert_the_broker_still_serves_others() -> None:
    """A client of the same RabbitMQ that does not go through the stage's proxy (the
    BROKER_URL of the test run itself) connects and publishes as usual."""
    with kombu.Connection(os.environ["BROKER_URL"], connect_timeout=3) as other:
        other.ensure_connection(max_retries=1)
        queue = kombu.Queue(f"faults-bystander-{uuid.uuid4().hex}")(other.default_channel)
        queue.declare()
        try:
            kombu.Producer(other.default_channel).publish({"still": "here"}, routing_key=queue.name)
            message = wait_until(lambda: queue.get(no_ack=True), 5, "published and got back")
            assert message.payload == {"still": "here"}
        finally:
            queue.delete()


EARLIER = ["01", "02", "03"]


@pytest.fixture(scope="module")
def earlier_stages(tmp_path_factory) -> Iterator[dict[str, RunningStage]]:
    """Stages 01, 02 and 03, started side by side (their releases are most of the time) on
    ports 40 apart, and stopped side by side."""
    ports: list[int] = []
    while len(ports) < len(EARLIER):
        port = free_port(list(range(41)))  # a stage may use SHOP_PORT .. SHOP_PORT + 40
        if all(abs(port - other) > 40 for other in ports):
            ports.append(port)
    runs = {}
    with contextlib.ExitStack() as stack, ThreadPoolExecutor(len(EARLIER)) as pool:
        for number, port in zip(EARLIER, ports, strict=True):
            stage = find_stage(number)
            var_dir = tmp_path_factory.mktemp(f"stage-{number}")
            env = isolated_environment(
                port=port, var_dir=var_dir, database=database_name(f"faults_{number}")
            )
            runs[number] = stack.enter_context(
                RunningStage(stage, env, log_path=var_dir / "processes.log")
            )
        try:
            list(pool.map(lambda running: running.start(), runs.values()))
            yield runs
        finally:
            list(pool.map(lambda running: running.stop(), runs.values()))


@pytest.mark.parametrize("number", EARLIER)
def test_fault_broker_at_the_earlier_stages_loses_the_email_at_01_and_nothing_after(
    number, earlier_stages
):
    """Chapters 1 and 2's outage exercise, in either mode: an order placed while the broker
    is away is taken; at 01 its email is lost (sent after commit, or never), from 02 on it
    waits in the outbox and leaves once the broker is back."""
    running = earlier_stages[number]
    with broker_fault(running, "4s") as fault:
        order = checkout(running)
        time.sleep(1)
        assert emails_for(running, order) == 0, "the email left while the broker was away"
        assert fault.wait(timeout=30) == 0
    if number == "01":
        later = checkout(running)
        wait_until(lambda: emails_for(running, later) == 1, 30, "the next order emailed")
        assert emails_for(running, order) == 0
        books = shopctl(running, "invariants", "--stage", number)
        assert books.returncode == 1, books.stdout
        assert re.search(rf"emails\s+BROKEN.*\n.*{order}", books.stdout), books.stdout
    else:
        wait_until(lambda: emails_for(running, order) == 1, 30, "emailed once it was back")
        books = shopctl(running, "invariants", "--stage", number)
        assert books.returncode == 0, books.stdout
    assert emails_for(running, order) == (0 if number == "01" else 1)


def test_invariants_agree_after_the_faults_and_fail_on_a_lost_charge(stage_04):
    checkout(stage_04)
    agree = wait_until(
        lambda: (
            (result := shopctl(stage_04, "invariants", "--stage", "04")).returncode == 0 and result
        ),
        60,
        "agreeing (emails on their way?)",
    )
    assert "invariants: the books agree" in agree.stdout

    deleted = subprocess.run(
        [sys.executable, "-m", "payments", "shell", "-c",
         "from payments.models import Charge; "
         "Charge.objects.filter(status='approved').order_by('id').first().delete()"],
        cwd=STAGE.path, env=stage_04.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert deleted.returncode == 0, deleted.stderr
    broken = shopctl(stage_04, "invariants", "--stage", "04")
    assert broken.returncode == 1
    assert re.search(r"money\s+BROKEN", broken.stdout)
    assert "confirmed, no approved charge" in broken.stdout
    assert "invariants: BROKEN (money)" in broken.stdout


def _peek(process: subprocess.Popen) -> str:
    """What a background command printed so far (a line at a time, without blocking long)."""
    text = getattr(process, "_seen", "")
    while select.select([process.stdout], [], [], 0.05)[0]:
        line = process.stdout.readline()
        if not line:
            break
        text += line
    process._seen = text
    return text
