"""`shopctl run`: start one stage on port 8000 and keep it running until Ctrl-C."""

from shopctl import ShopctlError
from shopctl.env import describe_mode, ensure_database, mode, run_environment
from shopctl.runner import health, port_is_free, start
from shopctl.stages import find_stage


def run(stage_number: str) -> int:
    """Start the stage, print where everything is, and stop it all on Ctrl-C or SIGTERM."""
    stage = find_stage(stage_number)
    env = run_environment(stage)
    port = int(env["SHOP_PORT"])
    if not port_is_free(port):
        raise ShopctlError(_port_taken(port))
    if "DATABASE_URL" in env:
        ensure_database(env["DATABASE_URL"])

    print(f"shopctl: starting {stage.name} in {mode(env)} mode")
    running = start(stage, env)
    print(_banner(stage.name, running.base_url, env))
    try:
        returncode = running.wait()
    except KeyboardInterrupt:
        print(f"\nshopctl: stopping {stage.name}…")
        running.stop()
        print(f"shopctl: {stage.name} stopped")
        return 130
    print(f"shopctl: {stage.name} stopped by itself (honcho exit code {returncode})")
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


def _banner(stage_name: str, base_url: str, env: dict[str, str]) -> str:
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
    return f"\n{rule}\n  {stage_name} is ready\n\n{body}\n\n  Ctrl-C to stop\n{rule}\n"
