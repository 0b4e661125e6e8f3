"""The embedded broker: a message file is visible in the queue folder only once complete."""

import os

from kombu import Connection, Exchange, Queue
from messaging import file_transport


def test_a_message_appears_in_the_queue_only_when_it_is_whole(tmp_path, monkeypatch):
    folders = {name: tmp_path / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir()
    visible_while_writing: list[str] = []
    rename = os.replace

    def replace_and_look(source, destination):
        # The moment a reader could pick up a half-written file with kombu's own transport.
        visible_while_writing.extend(
            name for name in os.listdir(folders["queue"]) if name.endswith(".msg")
        )
        rename(source, destination)

    monkeypatch.setattr(file_transport.os, "replace", replace_and_look)
    options = {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
        "store_processed": True,
    }
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
