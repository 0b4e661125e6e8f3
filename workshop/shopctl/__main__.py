"""The command line: `python -m shopctl run|test|load` (the Makefile's targets call this)."""

import argparse
import signal
import sys
from typing import TextIO

from shopctl import ShopctlError, protos
from shopctl.commands.bench import ONLY, PARTS, bench
from shopctl.commands.capacity import capacity
from shopctl.commands.check import check
from shopctl.commands.compare import compare
from shopctl.commands.doctor import doctor
from shopctl.commands.fault import fault
from shopctl.commands.invariants import invariants
from shopctl.commands.load import load
from shopctl.commands.run import run
from shopctl.commands.test import test
from shopctl.commands.trace import trace


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="shopctl", description="Run, test and load-test the stages of the workshop's shop."
    )
    # Each command names the function that does it (`handler`); main() calls it.
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser("run", help="start a stage on port 8000 until Ctrl-C")
    run_parser.add_argument("--stage", default="01", help="stage number (default: 01)")
    run_parser.set_defaults(handler=lambda arguments: run(arguments.stage))

    test_parser = commands.add_parser(
        "test", help="a stage's tests, the contract suite and a Locust smoke run"
    )
    _several_stages(test_parser)
    test_parser.set_defaults(handler=lambda arguments: test(arguments.stages))

    load_parser = commands.add_parser("load", help="a Locust load run with CSV and HTML reports")
    load_parser.add_argument("--stage", default="01", help="stage number (default: 01)")
    _load_shape(load_parser)
    load_parser.add_argument(
        "--host", help="load this URL instead of the running or a freshly started stage"
    )
    load_parser.set_defaults(
        handler=lambda arguments: load(
            arguments.stage,
            users=arguments.users,
            spawn_rate=arguments.spawn_rate,
            duration=arguments.duration,
            host=arguments.host,
        )
    )

    compare_parser = commands.add_parser(
        "compare", help="every stage under the same Locust load, and a side-by-side report"
    )
    _several_stages(compare_parser)
    _load_shape(compare_parser)
    _mode(compare_parser)
    compare_parser.set_defaults(
        handler=lambda arguments: compare(
            arguments.stages,
            users=arguments.users,
            spawn_rate=arguments.spawn_rate,
            duration=arguments.duration,
            mode=arguments.mode,
        )
    )

    capacity_parser = commands.add_parser(
        "capacity",
        help="each stage's capacity under a latency SLO, a scorecard of its costs, a chart",
    )
    _several_stages(capacity_parser)
    capacity_parser.add_argument(
        "--slo", type=float, default=100, help="p95 latency the stage must keep, ms (default: 100)"
    )
    capacity_parser.add_argument(
        "--step", default="15s", help="how long each step of the load lasts (default: 15s)"
    )
    capacity_parser.add_argument(
        "--max-users", type=int, default=64, help="the last step's users (default: 64)"
    )
    _mode(capacity_parser)
    capacity_parser.set_defaults(
        handler=lambda arguments: capacity(
            arguments.stages,
            slo_ms=arguments.slo,
            step_duration=arguments.step,
            max_users=arguments.max_users,
            mode=arguments.mode,
        )
    )

    protos_parser = commands.add_parser(
        "protos",
        help="regenerate proto/_generated/ and check the contracts against the last commit",
    )
    protos_parser.set_defaults(handler=lambda arguments: check_protos())
    bench_parser = commands.add_parser(
        "bench", help="the workshop's costs (framework, proxy, gRPC hop, queries) against floors"
    )
    bench_parser.add_argument(
        "--only",
        choices=ONLY,
        help="costs: against the floors, queries per request; saturation: the stages' ratios "
        "at their limit, against their goals (default: both); tracing: only the costs' row of "
        "stage 04 with tracing off and on",
    )
    bench_parser.set_defaults(
        handler=lambda arguments: bench(parts=(arguments.only,) if arguments.only else PARTS)
    )
    doctor_parser = commands.add_parser(
        "doctor", help="is this machine ready for the course (Python, packages, ports, stages)"
    )
    doctor_parser.add_argument(
        "--quick", action="store_true", help="skip starting every stage (about 10 s each)"
    )
    doctor_parser.set_defaults(handler=lambda arguments: doctor(quick=arguments.quick))
    check_parser = commands.add_parser(
        "check", help="an exercise's check: is the task done? (no exercise: list them)"
    )
    check_parser.add_argument(
        "exercise", nargs="?", help="the exercise's id, e.g. 03-route-inventory"
    )
    check_parser.add_argument(
        "--hint",
        type=int,
        default=1,
        help="which hint to print if the task is not done: 1 a nudge (default), 2 more, "
        "the last the answer",
    )
    check_parser.set_defaults(
        handler=lambda arguments: check(arguments.exercise, hint=arguments.hint)
    )
    fault_parser = commands.add_parser(
        "fault", help="break one part of a running stage for a while (no fault: the list)"
    )
    fault_parser.add_argument("--stage", default="01", help="stage number (default: 01)")
    fault_parser.add_argument("fault", nargs="*", help='e.g. kill payments, "pause inventory 20s"')
    fault_parser.set_defaults(handler=lambda arguments: fault(arguments.stage, arguments.fault))
    invariants_parser = commands.add_parser(
        "invariants", help="do a stage's books agree? (money, orders, stock, emails)"
    )
    invariants_parser.add_argument("--stage", default="01", help="stage number (default: 01)")
    invariants_parser.set_defaults(handler=lambda arguments: invariants(arguments.stage))
    trace_parser = commands.add_parser(
        "trace", help="the recent traces of the stages, or one trace's waterfall (terminal, HTML)"
    )
    trace_parser.add_argument(
        "--id",
        dest="trace_id",
        help="a trace id (the X-Trace-Id header of a response; 8 or more hex digits do), or last",
    )
    trace_parser.add_argument("--stage", help="only this stage's span file (default: every stage)")
    trace_parser.set_defaults(handler=lambda arguments: trace(arguments.trace_id, arguments.stage))
    return parser.parse_args(argv)


def _several_stages(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stage",
        dest="stages",
        action="extend",
        nargs="+",
        default=[],
        metavar="NN",
        help="stage number(s); test also takes `workshop`, the course's own tests "
        "(default: every stage folder, and for test the workshop's tests too)",
    )


def _mode(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=("embedded", "real"),
        help="embedded: SQLite and the file broker; real: DATABASE_URL and BROKER_URL, or "
        "this machine's PostgreSQL and RabbitMQ when unset (default: as the environment says)",
    )


def _load_shape(parser: argparse.ArgumentParser) -> None:
    """The options every load-generating command shares."""
    parser.add_argument("--users", type=int, default=20, help="simulated users (default: 20)")
    parser.add_argument(
        "--spawn-rate", type=float, default=5, help="users started per second (default: 5)"
    )
    parser.add_argument("--duration", default="60s", help="e.g. 30s, 2m (default: 60s)")


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    # Our output and the processes' output share the terminal: print each line when it is made.
    sys.stdout.reconfigure(line_buffering=True)
    sys.stdout = ForgivingStream(sys.stdout)
    # SIGTERM (from CI, a process manager, `kill`) stops a stage the same way Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    # And Ctrl-C itself, even when this process was started with SIGINT ignored (a shell
    # starts background jobs so, and so may a CI runner): Python keeps an inherited "ignore".
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # Every command may start code that imports the generated gRPC modules; `protos`
        # generates them itself, from scratch.
        if arguments.command != "protos" and protos.generate():
            print(f"shopctl: regenerated {protos.GENERATED_DIR} from the changed .proto files")
        return arguments.handler(arguments)
    except ShopctlError as error:
        print(f"shopctl: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


class ForgivingStream:
    """stdout that goes quiet, instead of raising, once nobody reads it. `make run | grep x`
    and Ctrl-C stops grep as well; a BrokenPipeError on the next line printed must not keep
    the tool from stopping the stage, which would leave it running on its ports."""

    def __init__(self, stream: TextIO):
        self._stream = stream
        self._reader_gone = False

    def write(self, text: str) -> int:
        if not self._reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._reader_gone = True
        return len(text)

    def flush(self) -> None:
        if not self._reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._reader_gone = True

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def check_protos() -> int:
    """`make protos`: generate from scratch, then refuse wire-breaking changes."""
    protos.generate(force=True)
    print(f"shopctl: generated {protos.GENERATED_DIR} from {len(protos.proto_files())} file(s)")
    problems = protos.check_against_commit()
    for problem in problems:
        print(f"shopctl: breaking change: {problem}", file=sys.stderr)
    if problems:
        print(
            "shopctl: the contracts must stay wire-compatible with the last commit: add fields "
            "and methods, reserve what you delete (proto/README.md)",
            file=sys.stderr,
        )
        return 1
    print("shopctl: the contracts are wire-compatible with the last commit")
    return 0


def exit_with(code: int) -> None:
    """Exit with `code`, even after a Ctrl-C that was caught on its way.

    CPython marks "an unhandled KeyboardInterrupt" whenever one passes out of code that
    exec() or eval() runs from a string (the functions dataclasses and namedtuple generate,
    for one, while a module is imported in the middle of a run), even when a caller catches
    it later; under `python -m` it then ends the process by SIGINT at exit, and whoever
    waits for the tool sees -2 instead of our 130 (a stop test saw it in about 1 run in 6,
    Ctrl-C while waiting for readiness). Running an empty string clears that mark: the
    interrupt was handled, the code below is what the tool chose.
    """
    exec("")  # noqa: S102 - a constant empty string: clears the mark described above
    sys.exit(code)


if __name__ == "__main__":
    try:
        returncode = main(sys.argv[1:])
    except KeyboardInterrupt:
        # A Ctrl-C that lands after main's own handler (while it prints that the stage has
        # stopped, say) is an interruption all the same: 130, not death by SIGINT.
        returncode = 130
    exit_with(returncode)
