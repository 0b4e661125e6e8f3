"""The embedded broker: a message file is visible in the queue folder only once complete."""

import os
from pathlib import Path

import pytest
from kernel import file_transport
from kombu import Connection, Exchange, Queue


@pytest.fixture
def folders(tmp_path) -> dict[str, Path]:
    """A broker folder of its own: the queue, the processed messages, the bindings."""
    made = {name: tmp_path / name for name in ("queue", "processed", "control")}
    for folder in made.values():
        folder.mkdir()
    return made


def transport_options(folders: dict[str, Path]) -> dict[str, object]:
    return {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
        "store_processed": True,
    }


def test_a_message_appears_in_the_queue_only_when_it_is_whole(folders, monkeypatch):
    visible_while_writing: list[str] = []
    rename = os.replace

    def replace_and_look(source, destination):
        # The moment a reader could pick up a half-written file with kombu's own transport.
        visible_while_writing.extend(
            name for name in os.listdir(folders["queue"]) if name.endswith(".msg")
        )
        rename(source, destination)

    monkeypatch.setattr(file_transport.os, "replace", replace_and_look)
    options = transport_options(folders)
    exchange = Exchange("events", type="topic")
    queue = Queue("notifications", exchange=exchange, routing_key="order.*")

    with Connection(transport=file_transport.Transport, transport_options=options) as broker:
        bound = queue(broker.default_channel)
        bound.declare()
        broker.Producer(exchange=exchange).publish({"n": 1}, routing_key="order.confirmed")
        message = bound.get(no_ack=True)

    assert visible_while_writing == []
    assert message.decode() == {"n": 1}
    assert not [name for name in os.listdir(folders["queue"]) if name.endswith(".partial")]


def test_the_stage_uses_this_transport_for_filesystem_urls(settings):
    from kombu.transport import resolve_transport

    assert resolve_transport("filesystem") is file_transport.Transport


def test_messages_come_out_in_the_order_they_were_written(folders):
    # Hundreds of messages within a few milliseconds: kombu's own names (millisecond, then a
    # random part) hand such messages out in a random order within each millisecond.
    options = transport_options(folders)
    # Names of its own: kombu's virtual transports keep declared exchanges in class-level
    # state, which another test's exchange of the same name would share.
    exchange = Exchange("ordered-events", type="topic")
    queue = Queue("ordered", exchange=exchange, routing_key="order.*")

    with Connection(transport=file_transport.Transport, transport_options=options) as broker:
        bound = queue(broker.default_channel)
        bound.declare()
        producer = broker.Producer(exchange=exchange)
        for n in range(300):
            producer.publish({"n": n}, routing_key="order.confirmed")
        received = [bound.get(no_ack=True).decode()["n"] for _ in range(300)]

    assert received == list(range(300))
