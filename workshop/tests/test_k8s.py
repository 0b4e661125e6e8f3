"""The Kubernetes manifests of deploy/k8s/, rendered and checked offline, each check broken once.

No cluster runs where `make test` runs: the overlays are rendered by the venv's kubectl
(`kubectl kustomize`, what `kubectl apply -k` sends), validated against the schema of a
pinned Kubernetes release, and cross-checked against the Procfiles, docker-compose.yml and
the health endpoints. The second half feeds each check a deliberately broken copy.
"""

import copy
import shutil

import pytest
from docker_checks import load_compose
from k8s_checks import (
    KUBERNETES_VERSION,
    OVERLAYS,
    documented_kubectl_problems,
    kubectl,
    network_problems,
    of_kind,
    port_problems,
    process_problems,
    reference_problems,
    render,
    schema_problems,
    secret_problems,
    selector_problems,
)
from shopctl.stages import REPO_ROOT, find_stage

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode

K8S = REPO_ROOT / "deploy" / "k8s"
STAGES = {number: find_stage(number) for number in OVERLAYS}
# The pages that show `kubectl` commands to a learner.
PAGES = [
    REPO_ROOT / "README.md",
    K8S / "README.md",
    *REPO_ROOT.glob("0*/README.md"),
    *REPO_ROOT.glob("workshop/*.md"),
]


def assert_none(problems: list[str]) -> None:
    assert problems == [], "\n".join(["", *problems])  # every problem, on its own line


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    """Each overlay, rendered once for the module (a kubectl run each, well under a second)."""
    return {number: render(K8S / folder) for number, folder in OVERLAYS.items()}


@pytest.fixture
def stage_04(rendered) -> list[dict]:
    """A copy of stage 04's resources that a test may break."""
    return copy.deepcopy(rendered["04"])


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose(REPO_ROOT / "docker-compose.yml")


def by_namespace(rendered: dict[str, list[dict]]) -> dict[str, list[dict]]:
    return {f"shop-{number}": resources for number, resources in rendered.items()}


def deployment(resources: list[dict], name: str) -> dict:
    return of_kind(resources, "Deployment")[name]


def test_the_checks_see_every_overlay_and_nothing_else(rendered):
    # Checks over an empty rendering would all pass and prove nothing.
    assert kubectl().is_file(), f"{kubectl()} is missing: make test installs it from the lock"
    assert sorted(path.name for path in K8S.glob("stage-*")) == sorted(OVERLAYS.values())
    for number, resources in rendered.items():
        assert of_kind(resources, "Namespace") == {f"shop-{number}": resources[0]}
        assert len(of_kind(resources, "Deployment")) == len(STAGES[number].long_running())


@pytest.mark.parametrize("number", OVERLAYS)
def test_every_manifest_is_valid_for_the_pinned_kubernetes_release(rendered, number):
    assert_none(schema_problems(rendered[number]))


@pytest.mark.parametrize("number", OVERLAYS)
def test_every_procfile_process_has_its_deployment_in_the_image_compose_builds(
    rendered, number, compose
):
    assert_none(process_problems(rendered[number], STAGES[number], compose))


@pytest.mark.parametrize("number", OVERLAYS)
def test_ports_and_probes_match_the_procfile_and_the_health_endpoints(rendered, number):
    assert_none(port_problems(rendered[number], STAGES[number]))


@pytest.mark.parametrize("number", OVERLAYS)
def test_selectors_match_labels(rendered, number):
    assert_none(selector_problems(rendered[number]))


@pytest.mark.parametrize("number", OVERLAYS)
def test_every_configmap_and_secret_a_pod_reads_exists(rendered, number):
    assert_none(reference_problems(rendered[number]) + secret_problems(rendered[number]))


@pytest.mark.parametrize("number", OVERLAYS)
def test_each_database_is_reachable_only_from_its_own_service(rendered, number):
    assert_none(network_problems(rendered[number], STAGES[number]))


def test_the_documented_kubectl_commands_name_what_the_overlays_make(rendered):
    problems = []
    for page in PAGES:
        if page.is_file():
            source = str(page.relative_to(REPO_ROOT))
            problems += documented_kubectl_problems(
                by_namespace(rendered), page.read_text(), source
            )
    assert_none(problems)


def test_the_pages_name_the_release_the_manifests_are_validated_against():
    for page in (REPO_ROOT / "README.md", REPO_ROOT / "workshop" / "05-kubernetes.md"):
        assert f"Kubernetes {KUBERNETES_VERSION}" in " ".join(page.read_text().split()), page


# ---- The same checks on broken copies --------------------------------------------------------


def test_a_manifest_with_a_mistyped_field_is_refused_after_rendering(tmp_path):
    broken = tmp_path / "k8s"
    shutil.copytree(K8S, broken)
    gateway = broken / "stage-04" / "gateway.yaml"
    # A typo the API server would drop without a word, and the probe with it.
    gateway.write_text(gateway.read_text().replace("readinessProbe:", "readinesProbe:", 1))

    resources = render(broken / "stage-04")

    problems = schema_problems([deployment(resources, "gateway")])  # one: the others cost time

    assert len(problems) == 1, problems
    assert problems[0].startswith(
        f"Deployment/gateway is not valid Kubernetes {KUBERNETES_VERSION}:"
    )
    assert "readinesProbe" in problems[0]


def test_an_overlay_that_does_not_render_is_named(tmp_path):
    broken = tmp_path / "k8s"
    shutil.copytree(K8S, broken)
    (broken / "stage-04" / "payments.yaml").unlink()

    with pytest.raises(ValueError, match="payments.yaml"):
        render(broken / "stage-04")


def test_a_wrong_type_is_named(stage_04):
    deployment(stage_04, "orders")["spec"]["replicas"] = "one"

    [problem] = schema_problems([deployment(stage_04, "orders")])

    assert "Deployment/orders" in problem and "spec.replicas" in problem


def test_a_procfile_process_without_a_deployment_is_named(stage_04, compose):
    stage_04.remove(deployment(stage_04, "saga-recovery"))

    assert process_problems(stage_04, STAGES["04"], compose) == [
        "04-services's Procfile runs `saga-recovery`, but there is no Deployment"
    ]


def test_a_deployment_that_runs_a_command_or_another_image_is_named(stage_04, compose):
    container = deployment(stage_04, "orders")["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python", "-m", "orders", "serve_grpc"]
    container["image"] = "shop-workshop/stage-03:v2"

    assert process_problems(stage_04, STAGES["04"], compose) == [
        "Deployment/orders must run its Procfile line by name (args: [orders], no command), "
        "not command=['python', '-m', 'orders', 'serve_grpc'] args=['orders']",
        "Deployment/orders: container `orders` runs image `shop-workshop/stage-03:v2`, but "
        "docker-compose.yml builds `shop-workshop/stage-04` for orders-04",
    ]


def test_a_missing_release_job_is_named(stage_04, compose):
    stage_04.remove(of_kind(stage_04, "Job")["release"])

    assert process_problems(stage_04, STAGES["04"], compose) == [
        "04-services's Procfile has a `release` line, but there is no Job"
    ]


def test_a_port_that_is_not_the_procfiles_is_named(stage_04):
    payments = deployment(stage_04, "payments")["spec"]["template"]["spec"]["containers"][0]
    payments["ports"][0]["containerPort"] = 8025
    payments["readinessProbe"]["grpc"]["port"] = 8025

    assert port_problems(stage_04, STAGES["04"]) == [
        "Deployment/payments declares ports [8025], but its Procfile line listens on 8024 "
        "(SHOP_PORT 8000 + 24)",
        "Service/payments forwards to [8025], not to 8024",
        "Deployment/payments: readinessProbe must ask the gRPC health service on 8024 "
        "(grpc: {port: 8024}), not on 8025",
    ]


def test_a_probe_on_the_wrong_endpoint_or_none_is_named(stage_04):
    gateway = deployment(stage_04, "gateway")["spec"]["template"]["spec"]["containers"][0]
    gateway["readinessProbe"]["httpGet"]["path"] = "/api/health/"
    del gateway["livenessProbe"]

    assert port_problems(stage_04, STAGES["04"]) == [
        "Deployment/gateway: readinessProbe must GET /api/health/ready/ on 8000, "
        "not /api/health/ on 8000",
        "Deployment/gateway has no livenessProbe",
    ]


def test_a_selector_that_misses_its_pods_is_named(stage_04):
    gateway = deployment(stage_04, "gateway")
    gateway["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] = "gateway-v2"
    gateway["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "gateway-v2"

    problems = selector_problems(stage_04)

    assert problems == [
        "Service/gateway selects {'app.kubernetes.io/name': 'gateway'}, which no pod carries",
        "PodDisruptionBudget/gateway selects {'app.kubernetes.io/name': 'gateway'}, which no "
        "pod carries",
        "Deployment/gateway runs more than one replica but has no PodDisruptionBudget",
    ]


def test_an_hpa_of_a_missing_deployment_and_a_deployment_not_selecting_its_pods_are_named(
    stage_04,
):
    of_kind(stage_04, "HorizontalPodAutoscaler")["catalog"]["spec"]["scaleTargetRef"]["name"] = (
        "catalogue"
    )
    deployment(stage_04, "inventory")["spec"]["selector"]["matchLabels"] = {"tier": "x"}

    assert selector_problems(stage_04) == [
        "Deployment/inventory: selector {'tier': 'x'} does not match its pods' labels "
        "{'app.kubernetes.io/name': 'inventory', 'app.kubernetes.io/part-of': 'shop', "
        "'shop.workshop/db-inventory': 'client', 'shop.workshop/tier': 'service'}",
        "HorizontalPodAutoscaler/catalog scales {'apiVersion': 'apps/v1', 'kind': "
        "'Deployment', 'name': 'catalogue'}, which does not exist",
    ]


def test_a_missing_configmap_or_secret_key_is_named(stage_04):
    [config] = of_kind(stage_04, "ConfigMap").values()
    stage_04.remove(config)
    [secret] = of_kind(stage_04, "Secret").values()
    del secret["data"]["RABBITMQ_DEFAULT_PASS"]

    problems = reference_problems(stage_04)

    assert (
        f"Deployment/gateway reads ConfigMap {config['metadata']['name']}, which does not "
        "exist" in problems
    )
    assert (
        f"StatefulSet/rabbitmq reads key RABBITMQ_DEFAULT_PASS of Secret "
        f"{secret['metadata']['name']}, which has no such key" in problems
    )


def test_a_broker_url_with_other_credentials_is_named(stage_04):
    [secret] = of_kind(stage_04, "Secret").values()
    secret["data"]["RABBITMQ_DEFAULT_USER"] = "Z3Vlc3Q="  # guest

    assert secret_problems(stage_04) == [
        "BROKER_URL logs in as 'shop', but RabbitMQ's user is 'guest' (or the passwords differ)"
    ]


def test_a_process_that_may_reach_another_services_database_is_named(stage_04):
    gateway = deployment(stage_04, "gateway")["spec"]["template"]["metadata"]["labels"]
    gateway["shop.workshop/db-orders"] = "client"

    assert network_problems(stage_04, STAGES["04"]) == [
        "Deployment/gateway may reach the databases ['gateway', 'orders'], but its Procfile "
        "line uses ['gateway']"
    ]


def test_a_database_open_to_the_shop_or_without_a_policy_is_named(stage_04):
    policies = of_kind(stage_04, "NetworkPolicy")
    policies["orders-postgres"]["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"] = {
        "app.kubernetes.io/part-of": "shop"
    }
    stage_04.remove(policies["payments-postgres"])

    assert network_problems(stage_04, STAGES["04"]) == [
        "NetworkPolicy/orders-postgres lets [{'app.kubernetes.io/part-of': 'shop'}] reach "
        "orders-postgres; only pods labelled {'shop.workshop/db-orders': 'client'} may",
        "no NetworkPolicy lets the payments service reach payments-postgres",
    ]


def test_a_process_that_does_not_wait_for_the_release_is_named(stage_04):
    del deployment(stage_04, "orders-relay")["spec"]["template"]["spec"]["initContainers"]
    deployment(stage_04, "catalog")["spec"]["template"]["metadata"]["labels"][
        "shop.workshop/public"
    ] = "true"

    assert network_problems(stage_04, STAGES["04"]) == [
        "Deployment/catalog is labelled shop.workshop/public",
        "Deployment/orders-relay does not wait for the release to migrate its database "
        "(an init container running `python -m orders migrate --check`)",
    ]


def test_a_documented_kubectl_command_naming_what_does_not_exist_is_named(rendered):
    page = """
    kubectl -n shop-04 scale deployment/gateway --replicas=3
    kubectl -n shop-04 rollout status deploy/catalogue
    kubectl -n shop-05 get svc/gateway
    `kubectl logs job/release`
    """

    assert documented_kubectl_problems(by_namespace(rendered), page, "page.md") == [
        "page.md: `kubectl -n shop-04 rollout status deploy/catalogue`: there is no Deployment "
        "catalogue in shop-04",
        "page.md: `kubectl -n shop-05 get svc/gateway`: no overlay makes namespace shop-05",
        "page.md: `kubectl logs job/release`: names no namespace (-n shop-03 / shop-04)",
    ]
