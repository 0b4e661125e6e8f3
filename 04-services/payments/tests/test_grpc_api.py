"""shop.payments.v1.PaymentsService over a real channel to an in-process server, called
through chassis.clients.payments: every RPC, idempotency, declines, refunds, voids and their
race with charges, and each error as the orders service will see it (decoded back into the
chassis's exception)."""

import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from chassis.errors import InvalidState, NotFound, ValidationFailed
from shop.payments.v1 import payments_pb2

from payments import provider
from payments.models import Charge

from .conftest import charge_request

pytestmark = pytest.mark.django_db(transaction=True)  # the servicer runs in the server's threads

APPROVED, DECLINED, REFUNDED, VOIDED = (
    payments_pb2.Charge.APPROVED,
    payments_pb2.Charge.DECLINED,
    payments_pb2.Charge.REFUNDED,
    payments_pb2.Charge.VOIDED,
)


def raised(call, *arguments) -> Exception:
    """What `call(*arguments)` raised (the test says what it must be)."""
    with pytest.raises(Exception) as error:
        call(*arguments)
    return error.value


def refund(payments, charge: payments_pb2.Charge, key: str = "") -> payments_pb2.Charge:
    request = payments_pb2.RefundChargeRequest(
        charge_id=charge.charge_id, idempotency_key=key or f"refund-{charge.order_id}"
    )
    return payments.call("RefundCharge", request)


def void(payments, request: payments_pb2.CreateChargeRequest) -> payments_pb2.Charge:
    """VoidCharge of the key (and order) of this charge request."""
    return payments.call(
        "VoidCharge",
        payments_pb2.VoidChargeRequest(
            idempotency_key=request.idempotency_key, order_id=request.order_id
        ),
    )


# --- CreateCharge ----------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["tok_visa", "tok_mastercard"])
def test_an_approved_token_makes_an_approved_charge_in_eur(payments, token):
    before = datetime.datetime.now(datetime.UTC)
    request = charge_request(amount_cents=1999, payment_token=token)

    charge = payments.call("CreateCharge", request)

    assert charge.status == APPROVED
    assert (charge.idempotency_key, charge.order_id) == (request.idempotency_key, request.order_id)
    assert (charge.amount_cents, charge.currency) == (1999, "EUR")
    assert charge.created_at.ToDatetime(datetime.UTC) >= before
    row = Charge.objects.get()
    assert str(row.charge_id) == charge.charge_id
    assert row.provider_reference.startswith("ch_")


def test_a_declined_charge_is_an_answer_not_an_error_and_is_recorded(payments):
    request = charge_request(payment_token="tok_chargeDeclined")

    charge = payments.call("CreateCharge", request)

    assert charge.status == DECLINED
    row = Charge.objects.get(idempotency_key=request.idempotency_key)
    assert (row.status, row.provider_reference) == (Charge.Status.DECLINED, "")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"payment_token": "tok_unknown"}, "payment_token"),
        ({"payment_token": ""}, "payment_token"),
        ({"amount_cents": 0}, "amount_cents"),
        ({"amount_cents": -100}, "amount_cents"),
        ({"currency": "USD"}, "currency"),
        ({"idempotency_key": " "}, "idempotency_key"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
        ({"order_id": ""}, "order_id"),
    ],
)
def test_an_invalid_charge_names_its_field_and_records_nothing(
    payments, provider_calls, fields, field
):
    error = raised(payments.call, "CreateCharge", charge_request(**fields))

    assert type(error) is ValidationFailed
    assert list(error.fields) == [field]
    assert provider_calls == []
    assert not Charge.objects.exists()


def test_an_unknown_token_is_refused_with_the_apis_message(payments):
    error = raised(payments.call, "CreateCharge", charge_request(payment_token="tok_unknown"))

    assert error.fields == {"payment_token": ["Unknown payment token."]}


# --- idempotency -----------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["tok_visa", "tok_chargeDeclined"])
def test_the_same_key_again_answers_the_first_charge_without_asking_the_provider(
    payments, provider_calls, token
):
    request = charge_request(payment_token=token)

    first = payments.call("CreateCharge", request)
    again = payments.call("CreateCharge", request)

    assert again == first
    assert provider_calls == [request.idempotency_key]
    assert Charge.objects.count() == 1


@pytest.mark.parametrize("change", [{"amount_cents": 2501}, {"order_id": "another-order"}])
def test_the_same_key_for_another_charge_is_refused(payments, provider_calls, change):
    request = charge_request()
    payments.call("CreateCharge", request)
    other = charge_request(idempotency_key=request.idempotency_key, **change)

    error = raised(payments.call, "CreateCharge", other)

    assert type(error) is ValidationFailed
    assert error.fields == {
        "idempotency_key": ["This idempotency key was already used for another charge."]
    }
    assert len(provider_calls) == 1
    assert Charge.objects.count() == 1


def test_concurrent_charges_with_one_key_make_one_charge_and_one_provider_call(
    payments, monkeypatch
):
    """Eight copies of one call at once, while the provider takes its time: every copy
    passes the "is there a charge with this key?" read before the first one commits, so
    only the unique key can stop the other seven."""
    calls = []
    authorize = provider.authorize

    def slow_authorize(**request) -> str:
        calls.append(request["idempotency_key"])
        time.sleep(0.3)  # the first charge's transaction stays open while the others arrive
        return authorize(**request)

    monkeypatch.setattr(provider, "authorize", slow_authorize)
    request = charge_request()
    copies = 8
    together = threading.Barrier(copies)

    def charge(_) -> payments_pb2.Charge:
        together.wait()
        return payments.call("CreateCharge", request, timeout=10)

    with ThreadPoolExecutor(copies) as pool:
        answers = list(pool.map(charge, range(copies)))

    assert calls == [request.idempotency_key]
    assert {answer.charge_id for answer in answers} == {answers[0].charge_id}
    assert {answer.status for answer in answers} == {APPROVED}
    assert Charge.objects.count() == 1


# --- RefundCharge ----------------------------------------------------------------------------
def test_a_refund_turns_an_approved_charge_into_a_refunded_one(payments):
    charge = payments.call("CreateCharge", charge_request())

    refunded = refund(payments, charge, key="refund-1")

    assert refunded.status == REFUNDED
    assert (refunded.charge_id, refunded.amount_cents) == (charge.charge_id, charge.amount_cents)
    row = Charge.objects.get()
    assert row.refunded_at is not None
    assert row.refund_idempotency_key == "refund-1"


def test_refunding_twice_answers_the_first_refund(payments, monkeypatch):
    charge = payments.call("CreateCharge", charge_request())
    refunds = []
    monkeypatch.setattr(provider, "refund", lambda **request: refunds.append(request))
    first = refund(payments, charge, key="refund-1")

    again = refund(payments, charge, key="refund-1")
    other_key = refund(payments, charge, key="refund-2")

    assert again == first == other_key
    assert len(refunds) == 1
    assert Charge.objects.get().refund_idempotency_key == "refund-1"


def test_a_declined_charge_cannot_be_refunded(payments):
    charge = payments.call("CreateCharge", charge_request(payment_token="tok_chargeDeclined"))

    error = raised(refund, payments, charge)

    assert type(error) is InvalidState
    assert error.message == "A declined charge took no money: there is nothing to refund."
    assert Charge.objects.get().status == Charge.Status.DECLINED


@pytest.mark.parametrize("charge_id", ["6d1f6a52-5f0e-4a8e-9f43-3c1b1d2a7e10", "not-a-uuid", ""])
def test_refunding_an_unknown_charge_is_not_found(payments, charge_id):
    request = payments_pb2.RefundChargeRequest(charge_id=charge_id, idempotency_key="refund-1")

    assert type(raised(payments.call, "RefundCharge", request)) is NotFound


def test_a_refund_key_used_for_another_charge_is_refused(payments):
    first = payments.call("CreateCharge", charge_request())
    second = payments.call("CreateCharge", charge_request())
    refund(payments, first, key="refund-1")

    error = raised(refund, payments, second, "refund-1")

    assert error.fields == {
        "idempotency_key": ["This idempotency key was already used to refund another charge."]
    }
    assert Charge.objects.get(charge_id=second.charge_id).status == Charge.Status.APPROVED


# --- VoidCharge ------------------------------------------------------------------------------
def test_a_void_of_an_unused_key_makes_a_later_charge_with_it_answer_the_void_unpaid(
    payments, provider_calls
):
    """The recovery gave the checkout up; then its CreateCharge, still on its way, lands."""
    request = charge_request(amount_cents=4200)

    voided = void(payments, request)
    late = payments.call("CreateCharge", request)

    assert voided.status == VOIDED
    assert (voided.idempotency_key, voided.order_id) == (request.idempotency_key, request.order_id)
    assert (voided.amount_cents, voided.currency) == (0, "EUR")
    assert late == voided
    assert provider_calls == []
    row = Charge.objects.get()
    assert (row.status, row.amount_cents, row.provider_reference) == (Charge.Status.VOIDED, 0, "")


@pytest.mark.parametrize("token", ["tok_visa", "tok_chargeDeclined"])
def test_a_void_of_a_key_already_used_answers_its_charge_and_changes_nothing(payments, token):
    request = charge_request(payment_token=token)
    charge = payments.call("CreateCharge", request)

    assert void(payments, request) == charge
    assert charge.status == (APPROVED if token == "tok_visa" else DECLINED)
    assert Charge.objects.get().status != Charge.Status.VOIDED


def test_a_void_of_a_refunded_charge_answers_it_refunded(payments):
    request = charge_request()
    refunded = refund(payments, payments.call("CreateCharge", request))

    assert void(payments, request) == refunded
    assert refunded.status == REFUNDED


def test_voiding_twice_answers_the_first_void(payments):
    request = charge_request()

    first = void(payments, request)

    assert void(payments, request) == first
    assert Charge.objects.count() == 1


def test_a_void_with_a_key_used_for_another_order_is_refused(payments):
    request = charge_request()
    payments.call("CreateCharge", request)

    other = charge_request(idempotency_key=request.idempotency_key, order_id="another-order")

    error = raised(void, payments, other)

    assert error.fields == {
        "idempotency_key": ["This idempotency key was already used for another charge."]
    }
    assert Charge.objects.get().status == Charge.Status.APPROVED


def test_a_charge_with_a_key_voided_for_another_order_is_refused(payments, provider_calls):
    request = charge_request()
    void(payments, request)

    other = charge_request(idempotency_key=request.idempotency_key, order_id="another-order")

    error = raised(payments.call, "CreateCharge", other)

    assert type(error) is ValidationFailed
    assert list(error.fields) == ["idempotency_key"]
    assert provider_calls == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"idempotency_key": " "}, "idempotency_key"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
        ({"order_id": ""}, "order_id"),
    ],
)
def test_an_invalid_void_names_its_field_and_records_nothing(payments, fields, field):
    error = raised(void, payments, charge_request(**fields))

    assert type(error) is ValidationFailed
    assert list(error.fields) == [field]
    assert not Charge.objects.exists()


def test_a_voided_charge_cannot_be_refunded(payments):
    voided = void(payments, charge_request())

    error = raised(refund, payments, voided)

    assert type(error) is InvalidState
    assert error.message == "A voided charge took no money: there is nothing to refund."


@pytest.fixture
def provider_held(monkeypatch) -> tuple[threading.Event, threading.Event, list[str]]:
    """A provider that says when it is asked (first event) and answers only when the test
    lets it (second event); the keys it was asked for."""
    asked, answer, calls = threading.Event(), threading.Event(), []
    authorize = provider.authorize

    def held(**request) -> str:
        calls.append(request["idempotency_key"])
        asked.set()
        answer.wait(10)
        return authorize(**request)

    monkeypatch.setattr(provider, "authorize", held)
    return asked, answer, calls


def test_a_void_waits_for_a_charge_being_made_with_its_key_and_answers_it(payments, provider_held):
    """The charge's row is claimed but not committed while the provider answers: the void
    must neither miss it (and void the key under a charge) nor fail on it."""
    asked, answer, calls = provider_held
    request = charge_request()
    with ThreadPoolExecutor(2) as pool:
        charging = pool.submit(payments.call, "CreateCharge", request, timeout=10)
        assert asked.wait(5)
        voiding = pool.submit(void, payments, request)
        time.sleep(0.3)
        assert not voiding.done()  # waiting for the charge's transaction
        answer.set()
        charge, voided = charging.result(), voiding.result()

    assert charge.status == APPROVED
    assert voided == charge
    assert calls == [request.idempotency_key]
    assert Charge.objects.get().status == Charge.Status.APPROVED


def test_charges_and_voids_of_one_key_at_once_settle_the_key_one_way(payments, monkeypatch):
    """For each key, a CreateCharge and a VoidCharge sent at the same moment, while the
    provider takes its time: either the charge wins (approved, and the void answers it) or
    the void does (and the charge answers the void, the provider never asked)."""
    calls = []
    authorize = provider.authorize

    def slow_authorize(**request) -> str:
        calls.append(request["idempotency_key"])
        time.sleep(0.05)
        return authorize(**request)

    monkeypatch.setattr(provider, "authorize", slow_authorize)
    requests = [charge_request() for _ in range(5)]
    together = threading.Barrier(2 * len(requests))

    def create(request) -> payments_pb2.Charge:
        together.wait()
        return payments.call("CreateCharge", request, timeout=10)

    def settle(request) -> payments_pb2.Charge:
        together.wait()
        return void(payments, request)

    with ThreadPoolExecutor(2 * len(requests)) as pool:
        charging = [pool.submit(create, request) for request in requests]
        voiding = [pool.submit(settle, request) for request in requests]
        answers = [(c.result(), v.result()) for c, v in zip(charging, voiding, strict=True)]

    for request, (charge, voided) in zip(requests, answers, strict=True):
        assert charge == voided
        assert charge.status in (APPROVED, VOIDED)
        assert (request.idempotency_key in calls) == (charge.status == APPROVED)
    assert len(calls) == len(set(calls))
    assert Charge.objects.count() == len(requests)


# --- GetCharge, ListCharges ------------------------------------------------------------------
def test_get_charge_finds_a_charge_by_its_idempotency_key(payments):
    request = charge_request(payment_token="tok_chargeDeclined")
    charge = payments.call("CreateCharge", request)

    found = payments.call(
        "GetCharge", payments_pb2.GetChargeRequest(idempotency_key=request.idempotency_key)
    )

    assert found == charge


def test_get_charge_of_a_key_never_used_is_not_found(payments):
    request = payments_pb2.GetChargeRequest(idempotency_key="charge-never")

    error = raised(payments.call, "GetCharge", request)

    assert type(error) is NotFound
    assert error.message == "No charge was made with idempotency key 'charge-never'."


def test_list_charges_answers_every_charge_and_void_oldest_first(payments):
    approved = payments.call("CreateCharge", charge_request())
    declined = payments.call("CreateCharge", charge_request(payment_token="tok_chargeDeclined"))
    refunded = refund(payments, payments.call("CreateCharge", charge_request()))
    voided = void(payments, charge_request())

    answer = payments.call("ListCharges", payments_pb2.ListChargesRequest())

    assert list(answer.charges) == [approved, declined, refunded, voided]


def test_list_charges_of_no_charges_is_empty(payments):
    answer = payments.call("ListCharges", payments_pb2.ListChargesRequest())

    assert (list(answer.charges), answer.next_page_token) == ([], "")


def test_list_charges_pages_through_every_charge_once(payments):
    made = [payments.call("CreateCharge", charge_request()) for _ in range(5)]

    pages, token = [], ""
    while True:
        request = payments_pb2.ListChargesRequest(page_size=2, page_token=token)
        answer = payments.call("ListCharges", request)
        pages.append(list(answer.charges))
        token = answer.next_page_token
        if not token:
            break

    assert [len(page) for page in pages] == [2, 2, 1]
    assert [charge for page in pages for charge in page] == made


def test_a_full_last_page_says_there_is_no_next_one(payments):
    made = [payments.call("CreateCharge", charge_request()) for _ in range(2)]

    answer = payments.call("ListCharges", payments_pb2.ListChargesRequest(page_size=2))

    assert (list(answer.charges), answer.next_page_token) == (made, "")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"page_size": 1001}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "abc"}, "page_token"),
    ],
)
def test_list_charges_refuses_a_page_it_cannot_give(payments, fields, field):
    error = raised(payments.call, "ListCharges", payments_pb2.ListChargesRequest(**fields))

    assert type(error) is ValidationFailed
    assert list(error.fields) == [field]


# --- the status codes of the contract --------------------------------------------------------
def test_each_error_travels_with_the_status_code_the_contract_names(payments, payments_stub):
    declined = payments.call("CreateCharge", charge_request(payment_token="tok_chargeDeclined"))
    calls = {
        grpc.StatusCode.INVALID_ARGUMENT: (
            payments_stub.CreateCharge,
            charge_request(payment_token="tok_unknown"),
        ),
        grpc.StatusCode.NOT_FOUND: (
            payments_stub.GetCharge,
            payments_pb2.GetChargeRequest(idempotency_key="charge-never"),
        ),
        grpc.StatusCode.FAILED_PRECONDITION: (
            payments_stub.RefundCharge,
            payments_pb2.RefundChargeRequest(charge_id=declined.charge_id, idempotency_key="r"),
        ),
    }

    for code, (call, request) in calls.items():
        with pytest.raises(grpc.RpcError) as error:
            call(request, timeout=5)
        assert error.value.code() == code


# --- the standard services -------------------------------------------------------------------
def test_the_health_service_answers_serving(payments):
    # The standard health check for "shop.payments.v1.PaymentsService", as the gateway's
    # readiness makes it: it raises ServiceUnavailable unless the answer is SERVING.
    assert payments.check() is None
