"""Offline checks of docker-compose.yml and the stages' Dockerfiles (no Docker needed).

Each check returns a list of problems, one sentence each, empty when all is well; the tests
run them on the repository and on broken copies, to prove that each one can fail.
"""

import json
import re
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from shopctl.stages import RELEASE, STAGE_FOLDER, Stage

Compose = dict[str, Any]

# What a learner opens in a browser, by process (a stage's service is <process>-<NN>):
# the API, RabbitMQ's management UI, Locust's web UI. Anything else published is a mistake.
# From stage 03 on the API is the strangler proxy's (`proxy`), with the monolith's `web` behind
# it, unpublished; a stage's profile still publishes 8000 once (the clash check below).
# The process that faces the public at each stage: web (01, 02), proxy (03), gateway (04).
EXPECTED_PORTS = {
    "web": 8000,
    "proxy": 8000,
    "gateway": 8000,
    "rabbitmq": 15672,
    "load": 8089,
    "jaeger": 16686,  # the UI; the OTLP receiver stays inside the network
    "prometheus": 9090,
}
# The profiles that run beside any stage's profile.
LOAD_PROFILE = "load"
OBSERVABILITY_PROFILE = "observability"
SIDE_PROFILES = {LOAD_PROFILE, OBSERVABILITY_PROFILE}
# Where the stages send their spans with the observability profile: Jaeger's OTLP/HTTP port.
OTLP_ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
JAEGER_OTLP_ENDPOINT = "http://jaeger:4318"
PROMETHEUS_CONFIG_IN_CONTAINER = "/etc/prometheus/prometheus.yml"
# Inside the compose network every stage process has SHOP_PORT 8000.
CONTAINER_SHOP_PORT = 8000
INFRASTRUCTURE = ("postgres", "rabbitmq")
# Docker images that hold a stage's code are built here, not pulled: nothing to pin.
LOCAL_IMAGE_PULL_POLICIES = {"never", "build"}
# ${NAME}, ${NAME:-default}, ${NAME-default}: what the checks see is the default.
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")
FULL_VERSION = re.compile(r"\d+\.\d+\.\d+")
# A documented `docker compose …` command, in a code block or inline: up to a comment, a
# backtick or the end of the line, with the variables set in front of it.
DOCUMENTED_COMMAND = re.compile(r"(?:\w+=\S+\s+)*docker compose [^`#\n]*")
# Subcommands whose first name is a service and the rest a command to run in it.
RUN_IN_A_SERVICE = {"exec", "run"}


def load_compose(path: Path) -> Compose:
    """The compose file as compose reads it: anchors and `<<` merges resolved into services
    that share nothing (YAML hands every alias the same object; JSON copies them apart)."""
    return json.loads(json.dumps(yaml.safe_load(path.read_text())))


def stages_with_a_procfile(root: Path) -> list[Stage]:
    """Every stage folder that has a Procfile; a folder still without one is not a stage yet."""
    return [
        Stage(name=path.name, number=match["number"], path=path)
        for path in sorted(root.iterdir())
        if (match := STAGE_FOLDER.match(path.name)) and (path / "Procfile").is_file()
    ]


def service_name(stage: Stage, process: str) -> str:
    return f"{process}-{stage.number}"


def schema_problems(compose_path: Path) -> list[str]:
    """Validate against the Compose specification's JSON schema, shipped in check-jsonschema."""
    result = subprocess.run(
        [
            sys.executable, "-m", "check_jsonschema",
            "--builtin-schema", "vendor.compose-spec",
            str(compose_path),
        ],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if result.returncode == 0:
        return []
    return [f"{compose_path.name} is not valid Compose:\n{result.stdout}{result.stderr}".strip()]


def service_problems(compose: Compose, stages: list[Stage]) -> list[str]:
    """Every Procfile process has its service in the stage's profile, started in order."""
    services = compose.get("services", {})
    problems = []
    for stage in stages:
        processes = stage.processes()
        if RELEASE not in processes:
            problems.append(f"{stage.procfile} has no `release:` line (migrate, seed, staff)")
        for process in processes:
            name = service_name(stage, process)
            service = services.get(name)
            if service is None:
                problems.append(
                    f"{stage.name}'s Procfile runs `{process}`, but there is no service "
                    f"`{name}` in profile {stage.number}"
                )
                continue
            problems += _process_service_problems(stage, process, name, service)
        for name, service in services.items():
            if stage.number in service.get("profiles", []) and name not in {
                service_name(stage, process) for process in processes
            }:
                problems.append(
                    f"service `{name}` is in profile {stage.number}, but {stage.name}'s "
                    "Procfile has no such process"
                )
    stage_numbers = {stage.number for stage in stages}
    for name, service in services.items():
        for profile in service.get("profiles", []):
            if profile not in SIDE_PROFILES and profile not in stage_numbers:
                problems.append(
                    f"service `{name}` is in profile {profile}, but no stage folder "
                    f"{profile}-… has a Procfile"
                )
    return problems


def _process_service_problems(stage: Stage, process: str, name: str, service: dict) -> list[str]:
    problems = []
    if service.get("profiles") != [stage.number]:
        problems.append(f"service `{name}` must be in profile {stage.number} (and only there)")
    if service.get("command") != process:
        problems.append(
            f"service `{name}` must run its Procfile line by name (command: {process}), "
            f"not {service.get('command')!r}"
        )
    depends_on = service.get("depends_on", {})
    for dependency in INFRASTRUCTURE:
        condition = depends_on.get(dependency, {}).get("condition")
        if condition != "service_healthy":
            problems.append(f"service `{name}` must wait for `{dependency}` to be healthy")
    if process != RELEASE:
        release = service_name(stage, RELEASE)
        condition = depends_on.get(release, {}).get("condition")
        if condition != "service_completed_successfully":
            problems.append(f"service `{name}` must start after `{release}` completed successfully")
    database = service.get("environment", {}).get("DATABASE_URL", "")
    if not database.endswith(f"/shop_{stage.number}"):
        problems.append(
            f"service `{name}`: DATABASE_URL must name the stage's own database "
            f"shop_{stage.number}, not {database!r}"
        )
    return problems


def port_problems(compose: Compose) -> list[str]:
    """Only the expected ports are published, and no two services that run together clash."""
    services = compose.get("services", {})
    problems = []
    published = {name: _host_ports(service) for name, service in services.items()}
    for name, ports in published.items():
        expected = EXPECTED_PORTS.get(_process_of(name))
        for port in ports:
            if port != expected:
                problems.append(
                    f"service `{name}` publishes host port {port}; "
                    "only the API and the UIs (RabbitMQ, Locust, Jaeger, Prometheus) are published"
                )
    stage_profiles = sorted(
        {profile for service in services.values() for profile in service.get("profiles", [])}
        - SIDE_PROFILES
    )
    for profile in stage_profiles or [LOAD_PROFILE]:
        together = [
            name
            for name, service in services.items()
            if not service.get("profiles") or ({profile} | SIDE_PROFILES) & set(service["profiles"])
        ]
        owners = Counter(port for name in together for port in published[name])
        for port, count in owners.items():
            if count > 1:
                clashing = [name for name in together if port in published[name]]
                problems.append(
                    f"host port {port} is published by {', '.join(clashing)}, which run together "
                    f"with --profile {profile} --profile {LOAD_PROFILE} "
                    f"--profile {OBSERVABILITY_PROFILE}"
                )
    return problems


def _process_of(service: str) -> str:
    """`web-01` -> `web`; `postgres` -> `postgres`."""
    return re.sub(r"-\d\d$", "", service)


def _host_ports(service: dict) -> list[int]:
    ports = []
    for port in service.get("ports", []):
        if isinstance(port, dict):  # the long syntax
            published = port.get("published")
        else:  # "8000", "8000:8000", "127.0.0.1:8000:8000", "8000:8000/tcp"
            parts = _interpolate(str(port)).split("/")[0].split(":")
            published = parts[-2] if len(parts) > 1 else None
        if published:
            ports.append(int(_interpolate(str(published))))
    return ports


def volume_problems(compose: Compose) -> list[str]:
    """Each named volume is declared, used, and written by one service only (others may
    mount it read-only: a stage's secrets and stage 04's certificates, which the release writes)."""
    declared = set(compose.get("volumes") or {})
    users: dict[str, list[str]] = {}
    writers: dict[str, list[str]] = {}
    for name, service in compose.get("services", {}).items():
        for volume in service.get("volumes", []):
            source, read_only = _volume_source(volume)
            if source and not source.startswith((".", "/", "~")):  # a named volume, not a path
                users.setdefault(source, []).append(name)
                if not read_only:
                    writers.setdefault(source, []).append(name)
    problems = [
        f"volume `{volume}` is mounted by {', '.join(names)}: two servers would share one "
        "data folder"
        for volume, names in writers.items()
        if len(names) > 1
    ]
    problems += [
        f"volume `{volume}` is used but not declared under volumes:"
        for volume in sorted(set(users) - declared)
    ]
    problems += [
        f"volume `{volume}` is declared but unused" for volume in sorted(declared - set(users))
    ]
    return problems


def _volume_source(volume: str | dict) -> tuple[str | None, bool]:
    """(source, read-only?) of a volume, in compose's short (src:dst[:ro]) or long syntax."""
    if isinstance(volume, dict):
        return volume.get("source"), bool(volume.get("read_only"))
    source, *rest = volume.split(":")
    return source, len(rest) > 1 and rest[-1] == "ro"


def production_problems(compose: Compose, stages: list[Stage], root: Path) -> list[str]:
    """Every stage runs with production settings: its image says so, and so does each of its
    services, none with a secret key written into the file (an empty one is made at start)."""
    problems = []
    for stage in stages:
        dockerfile = stage.path / "Dockerfile"
        env = [
            word
            for instruction, arguments in _instructions(dockerfile)
            if instruction == "ENV"
            for word in arguments
        ]
        if "SHOP_ENV=production" not in env:
            problems.append(f"{dockerfile.relative_to(root)} must set ENV SHOP_ENV=production")
        for name, service in compose.get("services", {}).items():
            if stage.number not in service.get("profiles", []):
                continue
            environment = service.get("environment", {})
            if environment.get("SHOP_ENV") != "production":
                problems.append(
                    f"service `{name}` must run with SHOP_ENV: production, "
                    f"not {environment.get('SHOP_ENV')!r}"
                )
            if _interpolate(str(environment.get("SHOP_SECRET_KEY", ""))):
                problems.append(
                    f"service `{name}` has a secret key written into the compose file: "
                    "leave SHOP_SECRET_KEY to the operator (empty: made at the first start)"
                )
            if not environment.get("SHOP_ALLOWED_HOSTS"):
                problems.append(f"service `{name}` needs SHOP_ALLOWED_HOSTS in production")
    return problems


def build_problems(compose: Compose, stages: list[Stage], root: Path) -> list[str]:
    """Each stage has a Dockerfile, and its services build that one from the root context."""
    services = compose.get("services", {})
    problems = []
    for stage in stages:
        dockerfile = stage.path / "Dockerfile"
        if not dockerfile.is_file():
            problems.append(f"{stage.name} has a Procfile but no Dockerfile ({dockerfile})")
        expected = {"context": ".", "dockerfile": f"{stage.name}/Dockerfile"}
        for process in stage.processes():
            name = service_name(stage, process)
            build = services.get(name, {}).get("build")
            if name in services and build != expected:
                problems.append(f"service `{name}` must build with {expected}, not {build}")
    for name, service in services.items():
        build = service.get("build")
        if isinstance(build, dict):
            dockerfile = root / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
            if not dockerfile.is_file():
                problems.append(f"service `{name}` builds from {dockerfile}, which does not exist")
    return problems


def copy_problems(dockerfile: Path, context: Path, stage: Stage) -> list[str]:
    """Every COPY/ADD source exists in the context and is not ignored; the stage copies itself."""
    problems = []
    ignored = _dockerignore_patterns(context)
    sources = [
        source
        for instruction, arguments in _instructions(dockerfile)
        if instruction in ("COPY", "ADD") and not any(a.startswith("--from") for a in arguments)
        for source in [a for a in arguments if not a.startswith("--")][:-1]
    ]
    for source in sources:
        relative = source.lstrip("/")
        if not list(context.glob(relative)):
            problems.append(f"{dockerfile}: COPY source `{source}` is not in the build context")
        elif any(
            pattern.fullmatch(part) for pattern in ignored for part in _self_and_parents(relative)
        ):
            problems.append(f"{dockerfile}: COPY source `{source}` is excluded by .dockerignore")
    copied_stages = {
        source.strip("/") for source in sources if STAGE_FOLDER.match(source.strip("/"))
    }
    if stage.name not in copied_stages:
        problems.append(f"{dockerfile} does not copy its own stage folder {stage.name}")
    problems += [
        f"{dockerfile} copies another stage's folder, {other}"
        for other in sorted(copied_stages - {stage.name})
    ]
    return problems


def pin_problems(compose: Compose, dockerfiles: list[Path]) -> list[str]:
    """Pulled images carry an explicit tag, never `latest`; base images a full version."""
    problems = []
    for name, service in compose.get("services", {}).items():
        if "build" in service or service.get("pull_policy") in LOCAL_IMAGE_PULL_POLICIES:
            continue
        image = service.get("image", "")
        if not _tag(image) or _tag(image) == "latest":
            problems.append(
                f"service `{name}`: image `{image}` must be pinned to a tag, not latest"
            )
    for dockerfile in dockerfiles:
        build_stages = set()  # FROM python:… AS build, then FROM build: a name, not an image
        for instruction, arguments in _instructions(dockerfile):
            if instruction != "FROM":
                continue
            image, *alias = [a for a in arguments if not a.startswith("--")]
            if alias and alias[0].upper() == "AS":
                build_stages.add(alias[-1])
            if image not in build_stages and not FULL_VERSION.search(_tag(image) or ""):
                problems.append(
                    f"{dockerfile}: base image `{image}` must be pinned to a full version "
                    "(python:3.11.14-slim-…), so that a rebuild gets the same Python"
                )
    return problems


def _tag(image: str) -> str | None:
    if "@sha256:" in image:
        return "digest"
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _instructions(dockerfile: Path) -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, arguments) of each instruction; continuation lines joined, comments gone."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    instructions = []
    for line in text.splitlines():
        words = line.split()
        if words and not words[0].startswith("#"):
            arguments = " ".join(words[1:])
            if arguments.startswith("["):  # the JSON form: COPY ["a", "b", "/app/"]
                arguments = " ".join(yaml.safe_load(arguments))
            instructions.append((words[0].upper(), arguments.split()))
    return instructions


def _dockerignore_patterns(context: Path) -> list[re.Pattern]:
    """The patterns of <context>/.dockerignore that exclude (`!` exceptions are not used here)."""
    ignore_file = context / ".dockerignore"
    if not ignore_file.is_file():
        return []
    patterns = []
    for line in ignore_file.read_text().splitlines():
        line = line.strip().strip("/")
        if line and not line.startswith(("#", "!")):
            regex = re.escape(line).replace(r"\*\*/", "(.*/)?").replace(r"\*", "[^/]*")
            patterns.append(re.compile(regex.replace(r"\?", "[^/]")))
    return patterns


def _self_and_parents(relative: str) -> list[str]:
    parts = relative.strip("/").split("/")
    return ["/".join(parts[: index + 1]) for index in range(len(parts))]


def _interpolate(value: str) -> str:
    """Compose's ${NAME:-default} with every variable unset: the value a fresh shell gets."""
    return VARIABLE.sub(lambda match: match["default"] or "", value)


def documented_command_problems(compose: Compose, text: str, source: str) -> list[str]:
    """Every `docker compose …` a page shows names profiles and services that exist."""
    services = compose.get("services", {})
    profiles = {profile for service in services.values() for profile in service.get("profiles", [])}
    problems = []
    for command in DOCUMENTED_COMMAND.findall(text):
        words = shlex.split(command)
        variables = dict(word.split("=", 1) for word in words[: words.index("docker")])
        words = words[words.index("compose") + 1 :]
        active = [words[index + 1] for index, word in enumerate(words[:-1]) if word == "--profile"]
        while words and words[0] == "--profile":
            words = words[2:]
        subcommand, *arguments = words or [""]
        names = [word for word in arguments if not word.startswith("-")]
        if subcommand in RUN_IN_A_SERVICE:
            names = names[:1]
        named = [*active, variables["STAGE"]] if "STAGE" in variables else active
        if (
            OBSERVABILITY_PROFILE in active
            and subcommand == "up"
            and variables.get(OTLP_ENDPOINT_VARIABLE) != JAEGER_OTLP_ENDPOINT
        ):
            problems.append(
                f"{source}: `{command.strip()}`: with --profile {OBSERVABILITY_PROFILE}, set "
                f"{OTLP_ENDPOINT_VARIABLE}={JAEGER_OTLP_ENDPOINT} in front, or the stage's "
                "spans never reach Jaeger"
            )
        for profile in dict.fromkeys(named):  # each once, in order
            if profile not in profiles:
                problems.append(f"{source}: `{command.strip()}`: there is no profile {profile}")
        for name in names:
            needed = services.get(name, {}).get("profiles", [])
            if name not in services:
                problems.append(f"{source}: `{command.strip()}`: there is no service `{name}`")
            elif needed and not set(needed) & set(active):
                problems.append(
                    f"{source}: `{command.strip()}`: `{name}` needs --profile {' or '.join(needed)}"
                )
    return problems


def observability_problems(compose: Compose, root: Path) -> list[str]:
    """Jaeger and Prometheus run in the observability profile, Jaeger with its OTLP receiver,
    Prometheus with the repository's scrape config; every stage process can be pointed at
    Jaeger from the shell (OTEL_EXPORTER_OTLP_ENDPOINT passed through, absent when unset)."""
    services = compose.get("services", {})
    problems = []
    for name in ("jaeger", "prometheus"):
        if name not in services:
            problems.append(f"there is no service `{name}` (profile {OBSERVABILITY_PROFILE})")
        elif services[name].get("profiles") != [OBSERVABILITY_PROFILE]:
            problems.append(f"service `{name}` must be in profile {OBSERVABILITY_PROFILE} only")
    jaeger = services.get("jaeger", {})
    if jaeger and str(jaeger.get("environment", {}).get("COLLECTOR_OTLP_ENABLED")) != "true":
        problems.append('service `jaeger` must set COLLECTOR_OTLP_ENABLED: "true" (OTLP receiver)')
    if "prometheus" in services and prometheus_config_path(compose, root) is None:
        problems.append(
            f"service `prometheus` must mount a scrape config of the repository at "
            f"{PROMETHEUS_CONFIG_IN_CONTAINER}"
        )
    for name, service in services.items():
        if not any(profile.isdigit() for profile in service.get("profiles", [])):
            continue  # not a stage's process
        environment = service.get("environment", {})
        if OTLP_ENDPOINT_VARIABLE not in environment:
            problems.append(
                f"service `{name}` must pass {OTLP_ENDPOINT_VARIABLE} through from the shell "
                f"(`{OTLP_ENDPOINT_VARIABLE}:` with no value)"
            )
        elif environment[OTLP_ENDPOINT_VARIABLE] not in (None, JAEGER_OTLP_ENDPOINT):
            problems.append(
                f"service `{name}`: {OTLP_ENDPOINT_VARIABLE} must be empty (from the shell) or "
                f"{JAEGER_OTLP_ENDPOINT}, not {environment[OTLP_ENDPOINT_VARIABLE]!r}"
            )
    return problems


def prometheus_config_path(compose: Compose, root: Path) -> Path | None:
    """The file of the repository that the prometheus service mounts as its config."""
    for volume in compose.get("services", {}).get("prometheus", {}).get("volumes", []):
        source, _, rest = volume.partition(":")
        if rest.split(":")[0] == PROMETHEUS_CONFIG_IN_CONTAINER and source.startswith("."):
            path = root / source
            return path if path.is_file() else None
    return None


def scrape_problems(compose: Compose, config: dict, stages: list[Stage]) -> list[str]:
    """Every scrape target is a stage process's service, on the port its Procfile gives its
    metrics; every long-running process of every stage is scraped, once."""
    services = compose.get("services", {})
    by_number = {stage.number: stage for stage in stages}
    problems = []
    scraped: Counter = Counter()
    for job in config.get("scrape_configs", []):
        for static in job.get("static_configs", []):
            for target in static.get("targets", []):
                host, _, port = target.rpartition(":")
                service = services.get(host)
                number = (service or {}).get("profiles", [""])[0]
                stage = by_number.get(number)
                process = _process_of(host)
                if service is None or stage is None or process not in stage.long_running():
                    problems.append(
                        f"job {job.get('job_name')}: target {target} is not a stage process's "
                        "service in docker-compose.yml"
                    )
                    continue
                scraped[host] += 1
                offset = stage.metrics_ports().get(process)
                expected = None if offset is None else CONTAINER_SHOP_PORT + offset
                if str(expected) != port:
                    problems.append(
                        f"job {job.get('job_name')}: target {target}: {stage.name}'s Procfile "
                        f"serves `{process}`'s metrics on {expected or 'no port'}, not {port}"
                    )
    for stage in stages:
        for process in stage.long_running():
            name = service_name(stage, process)
            if scraped[name] == 0:
                problems.append(f"{stage.name}'s `{process}` ({name}) is not scraped")
            elif scraped[name] > 1:
                problems.append(f"{name} is scraped {scraped[name]} times")
    return problems
