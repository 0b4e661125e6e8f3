"""How DRF's nested validation errors become the flat `fields` of API.md. No database."""

from kernel.http_errors import error_body, flatten_fields
from rest_framework import serializers


class LineSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1)


class AddressSerializer(serializers.Serializer):
    city = serializers.CharField()


class OrderLikeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    address = AddressSerializer()
    lines = LineSerializer(many=True)


def test_a_top_level_field_keeps_its_name():
    assert flatten_fields({"sku": ["A product with this sku already exists."]}) == {
        "sku": ["A product with this sku already exists."]
    }


def test_nested_and_listed_fields_are_named_with_dots():
    serializer = OrderLikeSerializer(
        data={
            "email": "not-an-email",
            "address": {},
            "lines": [{"product_id": 1, "quantity": 1}, {"product_id": 0, "quantity": 1}],
        }
    )
    assert not serializer.is_valid()

    assert flatten_fields(serializer.errors) == {
        "email": ["Enter a valid email address."],
        "address.city": ["This field is required."],
        "lines.1.product_id": ["Ensure this value is greater than or equal to 1."],
    }


def test_messages_are_plain_strings():
    serializer = LineSerializer(data={})
    assert not serializer.is_valid()

    fields = flatten_fields(serializer.errors)

    assert all(type(message) is str for messages in fields.values() for message in messages)


def test_an_error_without_a_field_is_a_non_field_error():
    assert flatten_fields(["Unable to log in."]) == {"non_field_errors": ["Unable to log in."]}
    assert flatten_fields("Unable to log in.") == {"non_field_errors": ["Unable to log in."]}


def test_the_error_envelope_has_fields_or_details_only_when_given():
    assert error_body("not_found", "Not found.") == {
        "error": {"code": "not_found", "message": "Not found."}
    }
    assert error_body("out_of_stock", "No.", details={"shortages": []}) == {
        "error": {"code": "out_of_stock", "message": "No.", "details": {"shortages": []}}
    }
