"""The gRPC contracts of proto/: generate their Python code, and refuse wire-breaking changes.

Generated code goes to proto/_generated/ (git-ignored): put that folder on the Python path
and import `shop.catalog.v1.catalog_pb2`. It is regenerated whenever the .proto files
change (their content, not their timestamps, which a git checkout resets).

The compatibility check compares the .proto files with their last committed version, in the
spirit of `buf breaking` (its WIRE rules): a client built from the old contract must still
understand a server built from the new one, and the other way round. Adding fields and
methods is fine; deleting a field without reserving its number, renumbering a field,
changing its type or cardinality, deleting an enum value, a message, a service or a method,
or changing a method's request or response type breaks it.
"""

import hashlib
import shutil
import subprocess
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
    committed = _committed_protos(ref)
    if not committed:
        return []  # nothing committed yet: nothing to break
    with tempfile.TemporaryDirectory() as scratch:
        old_root = Path(scratch)
        for relative, text in committed.items():
            (old_root / relative).parent.mkdir(parents=True, exist_ok=True)
            (old_root / relative).write_text(text)
        old = descriptor_set(old_root, proto_files(old_root))
    new = descriptor_set(PROTO_DIR, proto_files())
    return breaking_changes(old, new)


def descriptor_set(root: Path, files: list[Path]):
    """The compiled descriptors (a FileDescriptorSet) of the given files under root."""
    from google.protobuf import descriptor_pb2

    descriptors = descriptor_pb2.FileDescriptorSet()
    if not files:
        return descriptors
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "set.pb"
        _protoc(root, files, f"--descriptor_set_out={output}")
        descriptors.ParseFromString(output.read_bytes())
    return descriptors


def breaking_changes(old, new) -> list[str]:
    """What a client or server built from `old` would misread in `new`, one line each."""
    old_messages, new_messages = _messages(old), _messages(new)
    problems = []
    for name, message in old_messages.items():
        if name not in new_messages:
            problems.append(f"message {name} was deleted")
            continue
        problems += _field_changes(name, message, new_messages[name])
    old_enums, new_enums = _enums(old), _enums(new)
    for name, enum in old_enums.items():
        if name not in new_enums:
            problems.append(f"enum {name} was deleted")
            continue
        reserved = [(r.start, r.end) for r in new_enums[name].reserved_range]  # end inclusive
        kept = {value.number for value in new_enums[name].value}
        for value in enum.value:
            if value.number not in kept and not any(a <= value.number <= b for a, b in reserved):
                problems.append(
                    f"enum value {name}.{value.name} ({value.number}) was deleted without "
                    "reserving its number"
                )
    old_services, new_services = _services(old), _services(new)
    for name, service in old_services.items():
        if name not in new_services:
            problems.append(f"service {name} was deleted")
            continue
        methods = {method.name: method for method in new_services[name].method}
        for method in service.method:
            if method.name not in methods:
                problems.append(f"method {name}.{method.name} was deleted")
                continue
            changed = methods[method.name]
            for side in ("input_type", "output_type"):
                if getattr(method, side) != getattr(changed, side):
                    problems.append(
                        f"method {name}.{method.name} changed its "
                        f"{'request' if side == 'input_type' else 'response'} type from "
                        f"{getattr(method, side).lstrip('.')} to "
                        f"{getattr(changed, side).lstrip('.')}"
                    )
            for side in ("client_streaming", "server_streaming"):
                if getattr(method, side) != getattr(changed, side):
                    problems.append(f"method {name}.{method.name} changed its {side}")
    return problems


def _field_changes(message_name: str, old, new) -> list[str]:
    from google.protobuf import descriptor_pb2

    field_type = descriptor_pb2.FieldDescriptorProto.Type
    by_number = {field.number: field for field in new.field}
    by_name = {field.name: field for field in new.field}
    reserved = [(r.start, r.end) for r in new.reserved_range]  # end exclusive
    problems = []
    for field in old.field:
        where = f"field {message_name}.{field.name} ({field.number})"
        changed = by_number.get(field.number)
        if changed is None:
            if field.name in by_name:
                problems.append(
                    f"{where} was renumbered to {by_name[field.name].number}: old clients "
                    "send and read the old number"
                )
            elif not any(start <= field.number < end for start, end in reserved):
                problems.append(
                    f"{where} was deleted without reserving its number: a later field "
                    f"could reuse it (add `reserved {field.number};`)"
                )
            continue
        old_type = field.type_name.lstrip(".") or field_type.Name(field.type)[5:].lower()
        new_type = changed.type_name.lstrip(".") or field_type.Name(changed.type)[5:].lower()
        if old_type != new_type:
            problems.append(f"{where} changed its type from {old_type} to {new_type}")
        if _repeated(field) != _repeated(changed):
            problems.append(
                f"{where} changed from {_cardinality(field)} to {_cardinality(changed)}"
            )
    return problems


def _repeated(field) -> bool:
    return field.label == field.LABEL_REPEATED


def _cardinality(field) -> str:
    return "repeated" if _repeated(field) else "singular"


def _messages(descriptors) -> dict:
    """Every message, nested ones included, by full name (package.Outer.Inner)."""
    found = {}

    def visit(prefix: str, messages) -> None:
        for message in messages:
            name = f"{prefix}.{message.name}" if prefix else message.name
            found[name] = message
            visit(name, message.nested_type)

    for file in descriptors.file:
        visit(file.package, file.message_type)
    return found


def _enums(descriptors) -> dict:
    found = {}
    for file in descriptors.file:
        for enum in file.enum_type:
            found[f"{file.package}.{enum.name}"] = enum
    for name, message in _messages(descriptors).items():
        for enum in message.enum_type:
            found[f"{name}.{enum.name}"] = enum
    return found


def _services(descriptors) -> dict:
    return {
        f"{file.package}.{service.name}": service
        for file in descriptors.file
        for service in file.service
    }


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


def _committed_protos(ref: str) -> dict[Path, str]:
    """{relative path: text} of proto/shop/**.proto as committed at `ref`; {} without git."""
    try:
        listing = subprocess.run(
            ["git", "ls-tree", "-r", "--name-only", ref, "--", "proto/shop"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return {}
    committed = {}
    for path in listing:
        if path.endswith(".proto"):
            text = subprocess.run(
                ["git", "show", f"{ref}:{path}"],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            committed[Path(path).relative_to("proto")] = text
    return committed
