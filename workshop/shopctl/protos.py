"""The gRPC contracts of proto/: generate their Python code, and refuse wire-breaking changes.

Generated code goes to proto/_generated/ (git-ignored): put that folder on the Python path
and import `shop.catalog.v1.catalog_pb2`. It is regenerated whenever the .proto files
change (their content, not their timestamps, which a git checkout resets).

The compatibility check is Buf's own: `buf breaking` (the buf-bin wheel) compares the .proto
files with their last committed version, with the rules of proto/buf.yaml: a client built
from the old contract must still understand a server built from the new one, and the other
way round. Adding fields and methods is fine; deleting a field or an enum value without
reserving its number, renumbering a field, changing its type or cardinality in a way the
wire format cannot absorb, deleting a message, an enum, a service or a method, or changing
a method's request or response type or its streaming breaks it.
"""

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from shopctl import ShopctlError
from shopctl.stages import REPO_ROOT

PROTO_DIR = REPO_ROOT / "proto"
GENERATED_DIR = PROTO_DIR / "_generated"
STAMP = ".generated-from"  # inside GENERATED_DIR: the digest of the .proto files


def proto_files(root: Path = PROTO_DIR) -> list[Path]:
    """Every contract, relative to root: shop/<context>/v1/<name>.proto."""
    return sorted(path.relative_to(root) for path in root.glob("shop/**/*.proto"))


def generate(*, force: bool = False) -> bool:
    """Regenerate proto/_generated/ if the .proto files changed; True if it did."""
    files = proto_files()
    if not files:
        return False
    digest = _digest(PROTO_DIR, files)
    stamp = GENERATED_DIR / STAMP
    if not force and stamp.is_file() and stamp.read_text() == digest:
        return False
    with tempfile.TemporaryDirectory(dir=PROTO_DIR) as scratch:
        output = Path(scratch) / "_generated"
        output.mkdir()
        _protoc(
            PROTO_DIR,
            files,
            f"--python_out={output}",
            f"--pyi_out={output}",
            f"--grpc_python_out={output}",
        )
        # Regular packages, so that an IDE and mypy see them, and no namespace package of
        # the same name elsewhere on the path can shadow part of them.
        for file in files:
            package = output
            for part in file.parent.parts:
                package = package / part
                (package / "__init__.py").touch()
        (output / STAMP).write_text(digest)
        shutil.rmtree(GENERATED_DIR, ignore_errors=True)
        output.rename(GENERATED_DIR)  # whole or not at all: a reader never sees half a tree
    return True


def check_against_commit(ref: str = "HEAD") -> list[str]:
    """The wire-breaking changes of the working tree's .proto files since `ref`."""
    if not _is_commit(ref):
        return []  # nothing committed: nothing to break
    return breaking_changes_between(PROTO_DIR, f"{REPO_ROOT / '.git'}#ref={ref},subdir=proto")


def breaking_changes_between(new: Path, old: Path | str) -> list[str]:
    """What a client or server built from `old` would misread in `new`, one line each.

    `buf breaking` does the comparison, with the rules of new/buf.yaml; `old` is a folder or
    any input Buf reads (a git ref: `<repo>/.git#ref=HEAD,subdir=proto`). Each line is
    `<file>:<line>: <what changed> [<Buf's rule id>]`, the file relative to new's parent.
    """
    result = subprocess.run(
        [_buf(), "breaking", new.name, "--against", str(old), "--error-format", "json"],
        cwd=new.parent,
        capture_output=True,
        text=True,
    )
    if result.returncode not in (0, 100):  # 100: breaking changes (or .proto files that fail)
        raise ShopctlError(f"buf breaking failed: {result.stderr.strip()}")
    found = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    if not_compiled := [change for change in found if change["type"] == "COMPILE"]:
        raise ShopctlError(
            "buf could not compile the contracts: "
            + "; ".join(
                f"{change['path']}:{change['start_line']}: {change['message']}"
                for change in not_compiled
            )
        )
    return [
        f"{change['path']}:{change['start_line']}: {change['message']} [{change['type']}]"
        for change in found
    ]


def _buf() -> str:
    """The buf binary of the buf-bin wheel, next to this interpreter in .venv/bin/."""
    buf = Path(sys.executable).parent / "buf"
    if not buf.is_file():
        raise ShopctlError(
            f"{buf} is missing: run any `make` target (`make protos`), which installs "
            "requirements.lock and with it buf-bin, Buf's CLI"
        )
    return str(buf)


def _is_commit(ref: str) -> bool:
    """Whether this checkout has git history with `ref` in it (an unpacked archive has none)."""
    if not (REPO_ROOT / ".git").exists():  # a folder or, in a git worktree, a file
        return False
    try:
        subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def _protoc(root: Path, files: list[Path], *outputs: str) -> None:
    """grpc_tools' protoc, with the well-known types (google/protobuf/*.proto) on its path."""
    import grpc_tools
    from grpc_tools import protoc

    well_known = Path(grpc_tools.__file__).parent / "_proto"
    sources = [str(root / file) for file in files]  # protoc maps them back under -I root
    if protoc.main(["protoc", f"-I{root}", f"-I{well_known}", *outputs, *sources]) != 0:
        raise ShopctlError(f"protoc could not compile {', '.join(map(str, files))} (see above)")


def _digest(root: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file).encode() + b"\0" + (root / file).read_bytes() + b"\0")
    return digest.hexdigest()
