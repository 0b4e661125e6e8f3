"""The saga's moves: `sagas.move` makes every move of sagas.TRANSITIONS and refuses any other
without writing anything; the table leaves no saga stranded; and its drawing in the stage's
README is the table, move for move."""

import re
from pathlib import Path

import pytest

from orders import sagas
from orders.models import Cart, CheckoutSaga, Order

State, Step = CheckoutSaga.State, CheckoutSaga.Step
README = Path(__file__).resolve().parents[2] / "README.md"
START = (
    CheckoutSaga._meta.get_field("state").default,
    CheckoutSaga._meta.get_field("step").default,
)
MOVES = [(here, there) for here, theres in sagas.TRANSITIONS.items() for there in theres]
ILLEGAL = [
    ((State.RUNNING, Step.RESERVE), (State.RUNNING, Step.COMMIT)),  # commit what was not paid
    ((State.RUNNING, Step.CHARGE), (State.CONFIRMED, Step.DONE)),  # confirm what was not sold
    ((State.COMPENSATING, Step.REFUND), (State.RUNNING, Step.COMMIT)),  # forward once going back
    ((State.CONFIRMED, Step.DONE), (State.FAILED, Step.DONE)),  # a paid order failed, no refund
    ((State.FAILED, Step.DONE), (State.RUNNING, Step.RESERVE)),  # a failed checkout revived
    ((State.CANCELLED, Step.DONE), (State.CANCELLING, Step.REFUND)),  # refunded twice
]


def name(place: tuple[str, str]) -> str:
    return "/".join(place)


def move_id(move: tuple[tuple[str, str], tuple[str, str]]) -> str:
    return f"{name(move[0])}->{name(move[1])}"


def saga_at(place: tuple[str, str]) -> CheckoutSaga:
    """A saga of a pending order, put straight at `place` (state, step)."""
    order = Order.objects.create(cart=Cart.objects.create(), email="ada@example.com", total_cents=1)
    saga = CheckoutSaga.objects.create(order=order)
    CheckoutSaga.objects.filter(pk=saga.pk).update(state=place[0], step=place[1])
    saga.refresh_from_db()
    return saga


@pytest.mark.django_db
@pytest.mark.parametrize("move", MOVES, ids=move_id)
def test_every_move_of_the_table_is_made(move):
    here, there = move
    saga = saga_at(here)

    sagas.move(saga, state=there[0], step=there[1])

    saga.refresh_from_db()
    assert (saga.state, saga.step) == there


@pytest.mark.django_db
@pytest.mark.parametrize("move", ILLEGAL, ids=move_id)
def test_a_move_the_table_does_not_allow_is_refused_and_writes_nothing(move):
    here, there = move
    saga = saga_at(here)
    before = CheckoutSaga.objects.values().get(pk=saga.pk)

    with pytest.raises(sagas.IllegalMove) as refused:
        sagas.move(saga, state=there[0], step=there[1], charge_key="charge-x", last_error="x")

    assert f"from {name(here)} to {name(there)}" in str(refused.value)
    assert CheckoutSaga.objects.values().get(pk=saga.pk) == before
    assert (saga.state, saga.step, saga.charge_key, saga.last_error) == (*here, "", "")


def test_every_place_is_reached_from_the_start_and_none_strands_a_saga():
    places = set(sagas.TRANSITIONS)
    assert all(state in State.values and step in Step.values for state, step in places)
    led_to = {there for _, there in MOVES}
    assert led_to <= places, f"moves lead to places with no row in the table: {led_to - places}"
    reached, frontier = {START}, [START]
    while frontier:
        for there in sagas.TRANSITIONS[frontier.pop()]:
            if there not in reached:
                reached.add(there)
                frontier.append(there)
    assert reached == places, f"never reached from {name(START)}: {places - reached}"
    ends = {place for place, theres in sagas.TRANSITIONS.items() if not theres}
    assert ends == {(State.FAILED, Step.DONE), (State.CANCELLED, Step.DONE)}


def drawn_moves() -> set[tuple[object, object]]:
    """The moves of the stateDiagram under "The saga's moves" in the README: a state is drawn
    as state_step, and [*] is where a saga begins or ends."""
    section = README.read_text().split("### The saga's moves\n", 1)[1]
    diagram = re.search(r"```mermaid\nstateDiagram-v2\n(.*?)```", section, re.DOTALL)
    assert diagram, 'no ```mermaid stateDiagram-v2 block under "The saga\'s moves"'
    moves = set()
    for line in diagram.group(1).splitlines():
        drawn = re.fullmatch(r"\s*(\S+) --> (\S+?)(?::.*)?", line)
        assert drawn, f"the README's diagram has a line that is not a move: {line!r}"
        here, there = (
            part if part == "[*]" else tuple(part.split("_", 1)) for part in drawn.groups()
        )
        moves.add((here, there))
    return moves


def test_the_readme_draws_the_table_move_for_move():
    drawn = drawn_moves()

    begins = {there for here, there in drawn if here == "[*]"}
    ends = {here for here, there in drawn if there == "[*]"}
    between = {(here, there) for here, there in drawn if "[*]" not in (here, there)}
    table = set(MOVES)
    assert between == table, (
        f"drawn, not in sagas.TRANSITIONS: {sorted(map(move_id, between - table))}; "
        f"in sagas.TRANSITIONS, not drawn: {sorted(map(move_id, table - between))}"
    )
    assert begins == {START}
    assert ends == {place for place, theres in sagas.TRANSITIONS.items() if not theres}
