"""docker-compose.yml and the stages' Dockerfiles, checked offline, and each check broken once.

Docker does not run where `make test` runs, so these read the files the way compose and
BuildKit would. The second half feeds each check a deliberately broken copy and asserts
that it names the fault: a check that cannot fail proves nothing.
"""

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from docker_checks import (
    build_problems,
    copy_problems,
    documented_command_problems,
    load_compose,
    observability_problems,
    pin_problems,
    port_problems,
    production_problems,
    prometheus_config_path,
    schema_problems,
    scrape_problems,
    service_problems,
    stages_with_a_procfile,
    volume_problems,
)
from shopctl.stages import REPO_ROOT, Stage

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
STAGES = stages_with_a_procfile(REPO_ROOT)
MONOLITH = Stage(name="01-monolith", number="01", path=REPO_ROOT / "01-monolith")
# A stage without a Dockerfile yet fails test_every_stage_has_a_dockerfile_that_compose_builds.
BUILT = [stage for stage in STAGES if (stage.path / "Dockerfile").is_file()]
# The pages that show `docker compose` commands to a learner.
PAGES = [REPO_ROOT / "README.md", *REPO_ROOT.glob("0*/README.md"), *REPO_ROOT.glob("workshop/*.md")]


def assert_none(problems: list[str]) -> None:
    assert problems == [], "\n".join(["", *problems])  # every problem, on its own line


@pytest.fixture
def compose() -> dict:
    return load_compose(COMPOSE_FILE)


def test_the_checks_see_the_stages():
    # Checks over an empty list of stages would all pass and prove nothing.
    assert MONOLITH in STAGES


def test_the_compose_file_follows_the_compose_specification():
    assert_none(schema_problems(COMPOSE_FILE))


def test_every_procfile_process_of_every_stage_has_its_service(compose):
    assert_none(service_problems(compose, STAGES))


def test_only_the_expected_ports_are_published_and_none_clash(compose):
    assert_none(port_problems(compose))


def test_named_volumes_are_declared_and_not_shared(compose):
    assert_none(volume_problems(compose))


def test_every_stage_has_a_dockerfile_that_compose_builds(compose):
    assert_none(build_problems(compose, STAGES, REPO_ROOT))


def test_every_stage_service_and_image_runs_in_production_mode(compose):
    assert_none(production_problems(compose, BUILT, REPO_ROOT))


@pytest.mark.parametrize("stage", BUILT, ids=[stage.name for stage in BUILT])
def test_every_copy_in_a_dockerfile_finds_its_source(stage):
    assert_none(copy_problems(stage.path / "Dockerfile", REPO_ROOT, stage))


def test_images_are_pinned(compose):
    dockerfiles = [stage.path / "Dockerfile" for stage in BUILT]
    assert_none(pin_problems(compose, dockerfiles))


def test_the_observability_profile_runs_jaeger_and_prometheus_and_reaches_every_stage(compose):
    assert_none(observability_problems(compose, REPO_ROOT))


def test_prometheus_scrapes_every_process_of_every_stage_on_its_metrics_port(compose):
    config_path = prometheus_config_path(compose, REPO_ROOT)
    assert config_path == REPO_ROOT / "docker" / "prometheus.yml"

    assert_none(scrape_problems(compose, yaml.safe_load(config_path.read_text()), STAGES))


def test_the_documented_docker_commands_match_the_compose_file(compose):
    problems = []
    for page in PAGES:
        source = str(page.relative_to(REPO_ROOT))
        problems += documented_command_problems(compose, page.read_text(), source)
    assert_none(problems)


# ---- The same checks on broken copies --------------------------------------------------------


def test_a_schema_invalid_compose_file_is_refused(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    # `depends_on` conditions are an enumeration: a typo is exactly what the schema catches.
    broken.write_text(COMPOSE_FILE.read_text().replace("service_healthy", "service_is_healthy", 1))

    [problem] = schema_problems(broken)

    assert "docker-compose.yml is not valid Compose" in problem
    assert "service_is_healthy" in problem


def test_a_procfile_process_without_a_service_is_named(compose):
    del compose["services"]["worker-01"]

    assert service_problems(compose, STAGES) == [
        "01-monolith's Procfile runs `worker`, but there is no service `worker-01` in profile 01"
    ]


def test_a_new_stage_without_a_profile_or_a_dockerfile_is_named(compose, tmp_path):
    folder = tmp_path / "05-next"
    folder.mkdir()
    shutil.copy(MONOLITH.procfile, folder / "Procfile")
    stage = Stage(name="05-next", number="05", path=folder)

    no_web = "05-next's Procfile runs `web`, but there is no service `web-05` in profile 05"
    assert no_web in service_problems(compose, [*STAGES, stage])
    assert build_problems(compose, [*STAGES, stage], REPO_ROOT) == [
        f"05-next has a Procfile but no Dockerfile ({folder / 'Dockerfile'})"
    ]


def test_a_web_process_started_before_its_release_is_named(compose):
    del compose["services"]["web-01"]["depends_on"]["release-01"]

    assert service_problems(compose, STAGES) == [
        "service `web-01` must start after `release-01` completed successfully"
    ]


def test_a_service_that_runs_a_command_of_its_own_is_named(compose):
    worker = compose["services"]["worker-01"]
    worker["command"] = "celery -A config worker"
    worker["depends_on"]["rabbitmq"] = {"condition": "service_started"}
    compose["services"]["beat-09"] = {"profiles": ["09"]}

    assert service_problems(compose, STAGES) == [
        "service `worker-01` must run its Procfile line by name (command: worker), "
        "not 'celery -A config worker'",
        "service `worker-01` must wait for `rabbitmq` to be healthy",
        "service `beat-09` is in profile 09, but no stage folder 09-… has a Procfile",
    ]


def test_two_stages_on_one_database_are_named(compose):
    compose["services"]["worker-01"]["environment"]["DATABASE_URL"] = "postgres://db/shop"

    assert service_problems(compose, STAGES) == [
        "service `worker-01`: DATABASE_URL must name the stage's own database shop_01, "
        "not 'postgres://db/shop'"
    ]


def test_a_clashing_host_port_is_named(compose):
    compose["services"]["load"]["ports"] = ["127.0.0.1:8000:8089"]

    problems = port_problems(compose)

    assert (
        "host port 8000 is published by web-01, load, which run together with --profile 01 "
        "--profile load --profile observability" in problems
    )


def test_a_published_database_port_is_named(compose):
    compose["services"]["postgres"]["ports"] = ["5432:5432"]

    assert port_problems(compose) == [
        "service `postgres` publishes host port 5432; "
        "only the API and the UIs (RabbitMQ, Locust, Jaeger, Prometheus) are published"
    ]


def test_a_shared_or_undeclared_volume_is_named(compose):
    compose["services"]["rabbitmq"]["volumes"] = ["postgres-data:/var/lib/rabbitmq"]

    assert volume_problems(compose) == [
        "volume `postgres-data` is mounted by postgres, rabbitmq: two servers would share one "
        "data folder",
        "volume `rabbitmq-data` is declared but unused",
    ]


def test_a_volume_others_mount_read_only_is_not_shared(compose):
    assert compose["services"]["web-01"]["volumes"] == ["secrets-01:/app/secrets:ro"]
    compose["services"]["worker-01"]["volumes"] = ["secrets-01:/app/secrets"]  # a 2nd writer

    assert volume_problems(compose) == [
        "volume `secrets-01` is mounted by release-01, worker-01: two servers would share one "
        "data folder"
    ]


def test_a_volume_others_mount_read_only_may_be_shared_but_not_written_twice(compose):
    services = compose["services"]
    assert volume_problems(compose) == []  # certs-04: release-04 writes, the others read

    services["orders-04"]["volumes"] = ["certs-04:/app/var/certs"]  # a second writer

    assert volume_problems(compose) == [
        "volume `certs-04` is mounted by release-04, orders-04: two servers would share one "
        "data folder"
    ]


def test_a_stage_out_of_production_mode_is_named(compose, tmp_path):
    compose["services"]["web-01"]["environment"]["SHOP_ENV"] = "development"
    compose["services"]["worker-01"]["environment"]["SHOP_SECRET_KEY"] = "${KEY:-written-here}"
    del compose["services"]["release-01"]["environment"]["SHOP_ALLOWED_HOSTS"]
    stage = Stage(name="01-monolith", number="01", path=tmp_path / "01-monolith")
    stage.path.mkdir()
    dockerfile = (MONOLITH.path / "Dockerfile").read_text()
    (stage.path / "Dockerfile").write_text(dockerfile.replace("SHOP_ENV=production", "X=1"))

    assert production_problems(compose, [stage], tmp_path) == [
        "01-monolith/Dockerfile must set ENV SHOP_ENV=production",
        "service `release-01` needs SHOP_ALLOWED_HOSTS in production",
        "service `web-01` must run with SHOP_ENV: production, not 'development'",
        "service `worker-01` has a secret key written into the compose file: leave "
        "SHOP_SECRET_KEY to the operator (empty: made at the first start)",
    ]


def run_entrypoint(process: str, folder, **environment: str) -> subprocess.CompletedProcess:
    """docker/entrypoint.sh with a stand-in honcho that prints the key it was given."""
    bin_folder = folder / "bin"
    bin_folder.mkdir(exist_ok=True)
    honcho = bin_folder / "honcho"
    honcho.write_text('#!/bin/sh\necho "key=$SHOP_SECRET_KEY"\n')
    honcho.chmod(0o755)
    python = bin_folder / "python"
    if not python.exists():
        python.symlink_to(sys.executable)
    env = {"PATH": f"{bin_folder}{os.pathsep}/usr/bin:/bin", **environment}
    return subprocess.run(
        ["sh", str(REPO_ROOT / "docker" / "entrypoint.sh"), process],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_release_makes_the_secret_key_once_and_every_process_reads_it(tmp_path):
    key_file = tmp_path / "secret_key"

    too_early = run_entrypoint("web", tmp_path, SHOP_SECRET_KEY_FILE=str(key_file))
    release = run_entrypoint("release", tmp_path, SHOP_SECRET_KEY_FILE=str(key_file))
    web = run_entrypoint("web", tmp_path, SHOP_SECRET_KEY_FILE=str(key_file))
    again = run_entrypoint("release", tmp_path, SHOP_SECRET_KEY_FILE=str(key_file))
    given = run_entrypoint(
        "web", tmp_path, SHOP_SECRET_KEY_FILE=str(key_file), SHOP_SECRET_KEY="the-operators"
    )

    assert too_early.returncode != 0 and "secret_key" in too_early.stderr
    key = key_file.read_text().strip()
    assert len(key) >= 50
    assert release.stdout == web.stdout == again.stdout == f"key={key}\n"
    assert given.stdout == "key=the-operators\n"


def test_a_copy_of_a_missing_file_is_named(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        (MONOLITH.path / "Dockerfile").read_text() + "COPY --chown=shop no-such-file /app/\n"
    )

    assert copy_problems(dockerfile, REPO_ROOT, MONOLITH) == [
        f"{dockerfile}: COPY source `no-such-file` is not in the build context"
    ]


def test_a_copy_of_an_ignored_or_another_stages_folder_is_named(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11.14-slim\nCOPY var/ /app/var/\nCOPY 02-x /app/02-x\n")
    (tmp_path / "var").mkdir()
    (tmp_path / "02-x").mkdir()
    (tmp_path / ".dockerignore").write_text("# runtime data\nvar\n")

    assert copy_problems(dockerfile, tmp_path, MONOLITH) == [
        f"{dockerfile}: COPY source `var/` is excluded by .dockerignore",
        f"{dockerfile} does not copy its own stage folder 01-monolith",
        f"{dockerfile} copies another stage's folder, 02-x",
    ]


def test_a_compose_build_of_another_dockerfile_is_named(compose):
    compose["services"]["worker-01"]["build"] = {"context": ".", "dockerfile": "Dockerfile"}

    assert build_problems(compose, STAGES, REPO_ROOT) == [
        "service `worker-01` must build with {'context': '.', 'dockerfile': "
        "'01-monolith/Dockerfile'}, not {'context': '.', 'dockerfile': 'Dockerfile'}",
        f"service `worker-01` builds from {REPO_ROOT / 'Dockerfile'}, which does not exist",
    ]


def test_unpinned_images_are_named(compose, tmp_path):
    compose["services"]["rabbitmq"]["image"] = "rabbitmq:latest"
    compose["services"]["postgres"]["image"] = "postgres"
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim AS base\nFROM base\n")

    assert pin_problems(compose, [dockerfile]) == [
        "service `postgres`: image `postgres` must be pinned to a tag, not latest",
        "service `rabbitmq`: image `rabbitmq:latest` must be pinned to a tag, not latest",
        f"{dockerfile}: base image `python:3.11-slim` must be pinned to a full version "
        "(python:3.11.14-slim-…), so that a rebuild gets the same Python",
    ]


def test_a_documented_command_with_a_wrong_service_or_profile_is_named(compose):
    page = """
    docker compose --profile 01 logs -f web    # the old name
    Then `STAGE=07 docker compose --profile 07 --profile load up` and
    `docker compose exec worker-01 ls` (no profile), `docker compose stop rabbitmq`.
    """

    assert documented_command_problems(compose, page, "README.md") == [
        "README.md: `docker compose --profile 01 logs -f web`: there is no service `web`",
        "README.md: `STAGE=07 docker compose --profile 07 --profile load up`: "
        "there is no profile 07",
        "README.md: `docker compose exec worker-01 ls`: `worker-01` needs --profile 01",
    ]


@pytest.fixture
def scrape_config(compose) -> dict:
    return yaml.safe_load(prometheus_config_path(compose, REPO_ROOT).read_text())


def test_a_scrape_target_on_the_wrong_port_or_of_no_service_is_named(compose, scrape_config):
    [job_04] = [job for job in scrape_config["scrape_configs"] if job["job_name"] == "04"]
    targets = job_04["static_configs"][0]["targets"]
    targets[targets.index("orders-04:8003")] = "orders-04:8023"  # its gRPC port, not metrics
    targets.append("billing-04:8009")

    assert scrape_problems(compose, scrape_config, STAGES) == [
        "job 04: target orders-04:8023: 04-services's Procfile serves `orders`'s metrics on "
        "8003, not 8023",
        "job 04: target billing-04:8009 is not a stage process's service in docker-compose.yml",
    ]


def test_a_process_nobody_scrapes_or_scraped_twice_is_named(compose, scrape_config):
    jobs = scrape_config["scrape_configs"]
    jobs[0]["static_configs"][0]["targets"].remove("worker-01:8001")
    jobs[1]["static_configs"][0]["targets"].append("web-02:8000")

    assert scrape_problems(compose, scrape_config, STAGES) == [
        "01-monolith's `worker` (worker-01) is not scraped",
        "web-02 is scraped 2 times",
    ]


def test_a_new_procfile_metrics_port_the_scrape_config_misses_is_named(
    compose, scrape_config, tmp_path
):
    # The Procfile moves the worker's metrics to + 9: the scrape config must follow.
    folder = tmp_path / "01-monolith"
    folder.mkdir()
    (folder / "Procfile").write_text(MONOLITH.procfile.read_text().replace("+ 1))", "+ 9))"))
    moved = Stage(name="01-monolith", number="01", path=folder)

    assert scrape_problems(compose, scrape_config, [moved, *STAGES[1:]]) == [
        "job 01: target worker-01:8001: 01-monolith's Procfile serves `worker`'s metrics on "
        "8009, not 8001"
    ]


def test_an_observability_profile_that_cannot_see_the_stages_is_named(compose, tmp_path):
    services = compose["services"]
    del services["jaeger"]["environment"]["COLLECTOR_OTLP_ENABLED"]
    services["prometheus"]["volumes"] = ["./docker/no-such.yml:/etc/prometheus/prometheus.yml:ro"]
    del services["orders-04"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"]
    services["web-01"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://localhost:4318"
    services["jaeger"]["profiles"] = ["observability", "load"]

    assert observability_problems(compose, REPO_ROOT) == [
        "service `jaeger` must be in profile observability only",
        'service `jaeger` must set COLLECTOR_OTLP_ENABLED: "true" (OTLP receiver)',
        "service `prometheus` must mount a scrape config of the repository at "
        "/etc/prometheus/prometheus.yml",
        "service `web-01`: OTEL_EXPORTER_OTLP_ENDPOINT must be empty (from the shell) or "
        "http://jaeger:4318, not 'http://localhost:4318'",
        "service `orders-04` must pass OTEL_EXPORTER_OTLP_ENDPOINT through from the shell "
        "(`OTEL_EXPORTER_OTLP_ENDPOINT:` with no value)",
    ]


def test_a_documented_observability_command_without_the_endpoint_is_named(compose):
    page = (
        "docker compose --profile 04 --profile observability up --build\n"
        "OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318 docker compose --profile 04 "
        "--profile observability up\n"
        "docker compose --profile 04 --profile observability down\n"
    )

    assert documented_command_problems(compose, page, "README.md") == [
        "README.md: `docker compose --profile 04 --profile observability up --build`: with "
        "--profile observability, set OTEL_EXPORTER_OTLP_ENDPOINT=http://jaeger:4318 in front, "
        "or the stage's spans never reach Jaeger"
    ]
