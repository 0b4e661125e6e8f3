"""The gRPC contracts: they compile, and a wire-breaking change is refused with a reason."""

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


def compile_proto(root: Path, text: str):
    path = root / "shop" / "demo" / "v1" / "demo.proto"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return protos.descriptor_set(root, protos.proto_files(root))


def changes(tmp_path: Path, after: str) -> list[str]:
    old = compile_proto(tmp_path / "old", BEFORE)
    new = compile_proto(tmp_path / "new", after)
    return protos.breaking_changes(old, new)


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
    problems = changes(tmp_path, BEFORE.replace("string name = 2;", ""))

    assert problems == [
        "field shop.demo.v1.Thing.name (2) was deleted without reserving its number: "
        "a later field could reuse it (add `reserved 2;`)"
    ]


def test_deleting_a_field_and_reserving_its_number_is_compatible(tmp_path):
    assert changes(tmp_path, BEFORE.replace("string name = 2;", "reserved 2;")) == []


def test_renumbering_a_field_breaks(tmp_path):
    problems = changes(tmp_path, BEFORE.replace("string name = 2;", "string name = 7;"))

    assert problems == [
        "field shop.demo.v1.Thing.name (2) was renumbered to 7: old clients send and read "
        "the old number"
    ]


@pytest.mark.parametrize(
    ("before", "after", "problem"),
    [
        ("int64 id = 1;\n  string name", "string id = 1;\n  string name", "from int64 to string"),
        (
            "Colour colour = 4;",
            "Thing colour = 4;",
            "from shop.demo.v1.Colour to shop.demo.v1.Thing",
        ),
        ("repeated string tags = 3;", "string tags = 3;", "changed from repeated to singular"),
    ],
)
def test_changing_a_fields_type_or_cardinality_breaks(tmp_path, before, after, problem):
    problems = changes(tmp_path, BEFORE.replace(before, after, 1))

    assert len(problems) == 1 and problem in problems[0], problems


def test_deleting_an_enum_value_breaks_unless_reserved(tmp_path):
    assert changes(tmp_path, BEFORE.replace("COLOUR_RED = 1;", "")) == [
        "enum value shop.demo.v1.Colour.COLOUR_RED (1) was deleted without reserving its number"
    ]
    assert changes(tmp_path, BEFORE.replace("COLOUR_RED = 1;", "reserved 1;")) == []


def test_deleting_or_retyping_a_method_breaks(tmp_path):
    deleted = changes(
        tmp_path, BEFORE.replace("rpc ListThings(GetThingRequest) returns (Things);", "")
    )
    retyped = changes(tmp_path, BEFORE.replace("returns (Things)", "returns (Thing)"))

    assert deleted == ["method shop.demo.v1.DemoService.ListThings was deleted"]
    assert retyped == [
        "method shop.demo.v1.DemoService.ListThings changed its response type from "
        "shop.demo.v1.Things to shop.demo.v1.Thing"
    ]


def test_moving_to_another_package_deletes_everything_old_clients_know(tmp_path):
    problems = changes(tmp_path, BEFORE.replace("package shop.demo.v1;", "package shop.demo.v2;"))

    assert "service shop.demo.v1.DemoService was deleted" in problems
    assert "message shop.demo.v1.Thing was deleted" in problems


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
