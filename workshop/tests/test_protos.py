"""The gRPC contracts: they compile, and `buf breaking` refuses a wire-breaking change."""

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from shopctl import protos

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode

BEFORE = """
syntax = "proto3";
package shop.demo.v1;

service DemoService {
  rpc GetThing(GetThingRequest) returns (Thing);
  rpc ListThings(GetThingRequest) returns (Things);
}

enum Colour {
  COLOUR_UNSPECIFIED = 0;
  COLOUR_RED = 1;
}

message Thing {
  int64 id = 1;
  string name = 2;
  repeated string tags = 3;
  Colour colour = 4;
}

message Things { repeated Thing things = 1; }
message GetThingRequest { int64 id = 1; }
"""


def contract(root: Path, text: str) -> Path:
    """A module as Buf reads it: the demo .proto under root, with proto/buf.yaml's rules."""
    path = root / "shop" / "demo" / "v1" / "demo.proto"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    shutil.copy(protos.PROTO_DIR / "buf.yaml", root)
    return root


def changes(tmp_path: Path, after: str) -> list[tuple[str, str]]:
    """(Buf's rule id, what changed) of each breaking change from BEFORE to `after`."""
    problems = protos.breaking_changes_between(
        contract(tmp_path / "new", after), contract(tmp_path / "old", BEFORE)
    )
    found = []
    for problem in problems:
        where_and_what, rule = problem.rsplit(" [", 1)
        assert where_and_what.startswith("new/shop/demo/v1/demo.proto:"), problem
        found.append((rule.rstrip("]"), where_and_what))
    return found


def rules(problems: list[tuple[str, str]]) -> list[str]:
    return [rule for rule, _ in problems]


def test_adding_fields_messages_and_methods_is_compatible(tmp_path):
    after = BEFORE.replace("Colour colour = 4;", "Colour colour = 4;\n  string note = 5;")
    after = after.replace(
        "rpc ListThings", "rpc CountThings(GetThingRequest) returns (Things);\n  rpc ListThings"
    )
    after += "message Extra { int32 n = 1; }\n"

    assert changes(tmp_path, after) == []


def test_renaming_a_field_keeps_the_wire_format(tmp_path):
    assert changes(tmp_path, BEFORE.replace("string name = 2;", "string title = 2;")) == []


def test_deleting_a_field_without_reserving_its_number_breaks(tmp_path):
    [(rule, what)] = changes(tmp_path, BEFORE.replace("string name = 2;", ""))

    assert rule == "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"
    assert '"2" with name "name" on message "Thing"' in what


def test_deleting_a_field_and_reserving_its_number_is_compatible(tmp_path):
    assert changes(tmp_path, BEFORE.replace("string name = 2;", "reserved 2;")) == []


def test_renumbering_a_field_breaks(tmp_path):
    """To the wire, a field renumbered is its old number deleted (and a new one added)."""
    [(rule, what)] = changes(tmp_path, BEFORE.replace("string name = 2;", "string name = 7;"))

    assert rule == "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"
    assert '"2" with name "name" on message "Thing"' in what


@pytest.mark.parametrize(
    ("before", "after", "rule", "problem"),
    [
        (
            "int64 id = 1;\n  string name",
            "string id = 1;\n  string name",
            "FIELD_WIRE_COMPATIBLE_TYPE",
            'name "id" on message "Thing" changed type from "int64" to "string"',
        ),
        (
            "Colour colour = 4;",
            "Thing colour = 4;",
            "FIELD_WIRE_COMPATIBLE_TYPE",
            'name "colour" on message "Thing" changed type from "enum" to "message"',
        ),
        (
            "repeated string tags = 3;",
            "string tags = 3;",
            "FIELD_WIRE_COMPATIBLE_CARDINALITY",
            'name "tags" on message "Thing" changed cardinality from "repeated"',
        ),
    ],
)
def test_changing_a_fields_type_or_cardinality_breaks(tmp_path, before, after, rule, problem):
    problems = changes(tmp_path, BEFORE.replace(before, after, 1))

    assert len(problems) == 1 and problems[0][0] == rule and problem in problems[0][1], problems


def test_a_type_change_the_wire_format_absorbs_is_compatible(tmp_path):
    """Buf's WIRE rules, not a stricter "same type": int32 and int64 are both varints."""
    assert changes(tmp_path, BEFORE.replace("int64 id = 1;", "int32 id = 1;", 1)) == []


def test_deleting_an_enum_value_breaks_unless_reserved(tmp_path):
    [(rule, what)] = changes(tmp_path, BEFORE.replace("COLOUR_RED = 1;", ""))

    assert rule == "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED"
    assert 'enum value "1" on enum "Colour"' in what
    assert changes(tmp_path, BEFORE.replace("COLOUR_RED = 1;", "reserved 1;")) == []


def test_deleting_or_retyping_a_method_breaks(tmp_path):
    [deleted] = changes(
        tmp_path / "deleted",
        BEFORE.replace("rpc ListThings(GetThingRequest) returns (Things);", ""),
    )
    [retyped] = changes(tmp_path / "retyped", BEFORE.replace("returns (Things)", "returns (Thing)"))

    assert deleted[0] == "RPC_NO_DELETE"
    assert 'RPC "ListThings" on service "DemoService"' in deleted[1]
    assert retyped[0] == "RPC_SAME_RESPONSE_TYPE"
    assert '"shop.demo.v1.Things" to "shop.demo.v1.Thing"' in retyped[1]


def test_deleting_a_message_breaks(tmp_path):
    after = BEFORE.replace("message Things { repeated Thing things = 1; }", "")
    after = after.replace("returns (Things)", "returns (Thing)")

    problems = changes(tmp_path, after)

    assert rules(problems) == ["PACKAGE_MESSAGE_NO_DELETE", "RPC_SAME_RESPONSE_TYPE"], problems
    assert 'message "Things" was deleted from package "shop.demo.v1"' in problems[0][1]


def test_moving_to_another_package_deletes_everything_old_clients_know(tmp_path):
    problems = changes(tmp_path, BEFORE.replace("package shop.demo.v1;", "package shop.demo.v2;"))

    assert rules(problems) == ["FILE_SAME_PACKAGE"], problems
    assert 'from "shop.demo.v1" to "shop.demo.v2"' in problems[0][1]


def test_the_contracts_are_wire_compatible_with_the_last_commit():
    """The check `make protos` runs: edit a .proto in a breaking way and this fails."""
    assert protos.check_against_commit("HEAD") == []


def test_the_generated_code_imports_and_builds_a_product():
    protos.generate()
    script = (
        "from shop.catalog.v1 import catalog_pb2, catalog_pb2_grpc\n"
        "product = catalog_pb2.Product(id=1, sku='BK-0001', price_cents=1250, currency='EUR')\n"
        "assert catalog_pb2.Product.FromString(product.SerializeToString()) == product\n"
        "assert catalog_pb2_grpc.CatalogServiceStub\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(protos.GENERATED_DIR)},
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
