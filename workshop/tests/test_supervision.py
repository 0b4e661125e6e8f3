"""A running stage 04 whose payments process is SIGKILLed goes on serving, and supervisord
restarts payments alone and says so (issue 18, item 6), as compose and Kubernetes would.

One stage 04 is started for the module (in a tmp dir; on its own database in real mode):
about 20 s.
"""

import os
import signal
import time
from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from shopctl import supervisor
from shopctl.env import isolated_environment
from shopctl.runner import RunningStage, free_port, started
from shopctl.stages import find_stage

STAGE = find_stage("04")
SECONDS_TO_COME_BACK = 20  # supervisord restarts at once; the process needs a few s to serve


@pytest.fixture(scope="module")
def stage_04(tmp_path_factory) -> Iterator[RunningStage]:
    var_dir = tmp_path_factory.mktemp("stage-04")
    env = isolated_environment(
        port=free_port(STAGE.port_offsets()), var_dir=var_dir, database="shop_04_supervision"
    )
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
