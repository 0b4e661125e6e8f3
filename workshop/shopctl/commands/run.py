"""`shopctl run`: start one stage on port 8000 and keep it running until Ctrl-C."""

import httpx

from shopctl import ShopctlError
from shopctl.env import describe_mode, ensure_database, mode, run_environment
from shopctl.runner import RunningStage, health, port_is_free
from shopctl.stages import BROKER_PROXY_OFFSET, find_stage


def run(stage_number: str) -> int:
    """Start the stage, print where everything is, and stop it all on Ctrl-C or SIGTERM."""
    stage = find_stage(stage_number)
    env = run_environment(stage)
    port = int(env["SHOP_PORT"])
    if not port_is_free(port):
        raise ShopctlError(_port_taken(port))
    for offset in stage.port_offsets()[1:]:  # the ports of the processes behind the first
        if not port_is_free(port + offset):
            whose = (
                "shopctl's proxy to the broker in real mode"
                if offset == BROKER_PROXY_OFFSET
                else f"a process of {stage.name}"
            )
            raise ShopctlError(
                f"port {port + offset} (SHOP_PORT + {offset}, {whose}) is "
                f"taken: `ss -ltnp 'sport = :{port + offset}'` names the program. Stop it, or "
                "start the stage with SHOP_PORT=<another port>."
            )
    if "DATABASE_URL" in env:
        ensure_database(env["DATABASE_URL"])

    print(f"shopctl: starting {stage.name} in {mode(env)} mode")
    try:
        # Whatever ends this block, Ctrl-C or SIGTERM included, stops every process of the run.
        with RunningStage(stage, env) as running:
            running.start()
            extra = _process_map(stage, port)
            if running.broker_proxy:
                proxy = running.broker_proxy
                extra += (
                    f"  Broker proxy  127.0.0.1:{proxy.port} -> {proxy.upstream[0]}:"
                    f"{proxy.upstream[1]}, the stage's own path to RabbitMQ "
                    '(`make fault FAULT="broker 30s"` cuts it)\n'
                )
            if stage.has_proxy():
                extra += _route_table(running.base_url)
            print(_banner(stage.name, running.base_url, env, extra))
            returncode = running.wait()
            print(f"shopctl: {stage.name} stopped by itself (supervisord exit code {returncode})")
    except KeyboardInterrupt:
        print(f"shopctl: {stage.name} stopped")
        return 130
    return returncode


def _port_taken(port: int) -> str:
    answer = health(f"http://127.0.0.1:{port}")
    if answer and answer.get("stage"):
        return (
            f"port {port} is taken: stage {answer['stage']} is running there already. "
            "Stop it (Ctrl-C in its terminal) or start this one with SHOP_PORT=<another port>."
        )
    return (
        f"port {port} is taken by another program (`ss -ltnp 'sport = :{port}'` or "
        f"`lsof -i :{port}` names it). Stop it, or start the stage with SHOP_PORT=<another port>."
    )


def _banner(stage_name: str, base_url: str, env: dict[str, str], extra: str = "") -> str:
    lines = [
        ("API", f"{base_url}/api/"),
        ("OpenAPI docs", f"{base_url}/api/docs/"),
        ("Schema", f"{base_url}/api/schema/"),
        ("Emails", f"{env['SHOP_VAR_DIR']}/emails/"),
        *describe_mode(env),
        ("Staff login", f"{env['SHOP_STAFF_USER']} / {env['SHOP_STAFF_PASSWORD']}"),
    ]
    width = max(len(label) for label, _ in lines)
    body = "\n".join(f"  {label.ljust(width)}  {value}" for label, value in lines)
    rule = "=" * 72
    extra = f"\n{extra}" if extra else ""
    return f"\n{rule}\n  {stage_name} is ready\n\n{body}\n{extra}\n  Ctrl-C to stop\n{rule}\n"


def _route_table(base_url: str) -> str:
    """A stage with a strangler proxy (03): its route table and where each side listens."""
    try:
        response = httpx.get(f"{base_url}/_proxy/routes", timeout=2, trust_env=False)
        table = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        table = None
    if not isinstance(table, dict) or "routes" not in table:
        return ""
    lines = [f"  Route table  {table['file']} (edit it: the proxy reloads it)"]
    for route in table["routes"]:
        where = (
            route["mode"]
            if route["mode"] == "monolith"
            else f"{route['mode']} -> {route['service']}"
        )
        if route["mode"] == "canary":
            where += f" ({route['percent']} %)"
        lines.append(f"    {','.join(route['methods']):<10} {route['prefix']:<22} {where}")
    lines.append(f"    {'*':<10} {'(anything else)':<22} {table['unmatched']}")
    for name, url in table["upstreams"].items():
        lines.append(f"  {name.capitalize():<11}  {url}")
    lines.append(f"  Proxy        {base_url}/_proxy/ (a page), /_proxy/routes and /_proxy/stats")
    return "\n".join(lines) + "\n"


def _process_map(stage, port: int) -> str:
    """Every process the stage runs, the port of those that listen on one, and where
    Prometheus finds its metrics."""
    lines = [f"  {'Processes':<29}{'listens on':<18}metrics"]
    metrics = stage.metrics_ports()
    for name, offset in stage.process_ports().items():
        where = f"127.0.0.1:{port + offset}" if offset is not None else ""
        metrics_offset = metrics.get(name)
        metrics_url = f":{port + metrics_offset}/metrics" if metrics_offset is not None else ""
        lines.append(f"    {name:<22}     {where:<17} {metrics_url}")
    return "\n".join(lines) + "\n"
