"""`$SYS/broker/...` statistics topics, read with Debian's mosquitto_sub, against Tern and Debian's mosquitto.

Tern publishes Mosquitto 2.0's topic names with Mosquitto's meanings every `sys_interval` seconds, retained, and
delivers them only to clients whose ACL lets them read there. Mosquitto's `$SYS/broker/heap/*` topics (only in
builds with memory tracking) are the one set Tern does not publish.
"""
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import MosquittoBroker
from mqtt_helpers import Client, wait_until
from tern_broker import TernBroker

DEADLINE = 30.0  # generous: on a loaded machine mosquitto can take a while to publish every topic


def read_sys(port: int, *credentials: str, seconds: float = 2.0) -> dict[str, str]:
    """The retained `$SYS/#` values mosquitto_sub receives on subscribing, topic -> payload."""
    result = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "$SYS/#", "-F", "%t\t%p", "--retained-only",
         "-W", str(int(seconds)), *credentials],
        capture_output=True, text=True, timeout=seconds + 10)
    values = {}
    for line in result.stdout.splitlines():
        topic, _, payload = line.partition("\t")  # topics may contain spaces ("retained messages/count")
        values[topic] = payload
    return values


def poll_sys(port: int, predicate, *credentials: str) -> dict[str, str]:
    """Reads `$SYS` until `predicate(values)` holds or the deadline passes; returns the last values."""
    end = time.monotonic() + DEADLINE
    while True:
        values = read_sys(port, *credentials)
        if predicate(values) or time.monotonic() >= end:
            return values


def configured_tern(settings: str, directory: Path) -> TernBroker:
    config = directory / "tern.conf"
    config.write_text(settings + "\n")
    return TernBroker("-c", str(config))


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="tern-sys-") as directory:
        yield Path(directory)


def test_sys_values_after_a_known_workload(workdir):
    broker = configured_tern("sys_interval 1", workdir)
    try:
        subscriber = Client(broker.port, client_id="sys-subscriber")
        subscriber.subscribe("work/#", qos=1)
        publisher = Client(broker.port, client_id="sys-publisher")
        for index in range(3):
            publisher.client.publish("work/item", b"12345", qos=1).wait_for_publish(DEADLINE)
        publisher.client.publish("work/retained", b"kept", qos=0, retain=True).wait_for_publish(DEADLINE)

        def settled(values):
            # After a second update: the first one's $SYS messages are retained by then.
            return (values.get("$SYS/broker/publish/messages/received") == "4"
                    and values.get("$SYS/broker/uptime", "0 seconds") != "0 seconds")

        values = poll_sys(broker.port, settled)
        assert values["$SYS/broker/version"].startswith("tern version ")
        assert values["$SYS/broker/uptime"].endswith(" seconds")
        assert values["$SYS/broker/publish/messages/received"] == "4"
        assert values["$SYS/broker/publish/bytes/received"] == str(3 * 5 + 4)
        # 3 + the retained one to work/#, and the $SYS messages to the reads' mosquitto_sub.
        assert int(values["$SYS/broker/publish/messages/sent"]) >= 4
        # The two paho clients, and the mosquitto_sub of the read that saw the values (counted at the update).
        assert int(values["$SYS/broker/clients/connected"]) >= 2
        assert int(values["$SYS/broker/clients/maximum"]) >= 2
        assert values["$SYS/broker/subscriptions/count"] != "0"
        retained = int(values["$SYS/broker/retained messages/count"])
        # The $SYS values are retained messages too, as in Mosquitto.
        assert retained == 1 + len([topic for topic in values if topic.startswith("$SYS/")])
        assert int(values["$SYS/broker/bytes/received"]) > 19
        assert int(values["$SYS/broker/messages/received"]) >= 4 + 3  # PUBLISH, CONNECT, SUBSCRIBE...
        for window in ("1min", "5min", "15min"):
            assert float(values[f"$SYS/broker/load/publish/received/{window}"]) >= 0
        publisher.client.disconnect()
        subscriber.client.disconnect()
    finally:
        assert broker.stop() == 0, broker.output()


def test_sys_topic_names_match_mosquitto(workdir):
    def complete(values):
        return "$SYS/broker/load/sockets/15min" in values and "$SYS/broker/clients/maximum" in values

    def poll_with_a_client_connected(port):
        # Mosquitto publishes clients/maximum only after an update that saw a client connected; the reads'
        # mosquitto_sub is connected for milliseconds, so on a loaded machine no update might see one before the
        # deadline. A client connected throughout makes that certain, for both brokers.
        observer = Client(port, "sys-observer")
        try:
            return set(poll_sys(port, complete))
        finally:
            observer.disconnect()

    broker = configured_tern("sys_interval 1", workdir)
    try:
        ours = poll_with_a_client_connected(broker.port)
    finally:
        assert broker.stop() == 0, broker.output()
    with MosquittoBroker(extra_config="sys_interval 1") as reference:
        theirs = poll_with_a_client_connected(reference.port)
    theirs = {topic for topic in theirs if not topic.startswith("$SYS/broker/heap/")}
    assert theirs, "mosquitto published no $SYS topics"
    assert ours == theirs


def test_sys_readable_only_where_the_acl_allows(workdir):
    passwd = workdir / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "operator", "secret"], check=True)
    acl = workdir / "acl"
    acl.write_text("user operator\ntopic read $SYS/#\n\npattern readwrite clients/%c/#\n")
    broker = configured_tern(
        f"sys_interval 1\nallow_anonymous true\npassword_file {passwd}\nacl_file {acl}", workdir)
    try:
        allowed = poll_sys(broker.port, lambda values: "$SYS/broker/uptime" in values,
                           "-u", "operator", "-P", "secret")
        assert "$SYS/broker/uptime" in allowed
        assert read_sys(broker.port) == {}  # anonymous: no rule grants $SYS
    finally:
        assert broker.stop() == 0, broker.output()


def test_sys_interval_zero_publishes_nothing(workdir):
    broker = configured_tern("sys_interval 0", workdir)
    try:
        client = Client(broker.port, client_id="sys-off")
        client.subscribe("$SYS/#")
        assert read_sys(broker.port, seconds=2.0) == {}
        assert not wait_until(lambda: client.messages, deadline=0.5)
        client.client.disconnect()
    finally:
        assert broker.stop() == 0, broker.output()
