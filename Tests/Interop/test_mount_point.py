"""Mosquitto's `mount_point`: a listener whose clients live under a prefix of the topic tree. Tern follows
mosquitto.conf(5) and Mosquitto 2.0.12 and later; Debian's mosquitto 2.0.11 is the reference for what reaches the
rest of the tree (the prefix put on), not for what its own clients see: it does not take the prefix off the topics
it sends them (eclipse-mosquitto/mosquitto#2244, fixed in 2.0.12)."""
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

import raw_mqtt as raw
from conftest import MosquittoBroker, find_free_port
from raw_mqtt import V311, V5
from tern_broker import TernBroker

DEADLINE = 10


@pytest.fixture
def mounted_tern(tmp_path):
    """Tern with a plain listener (its `port`) and one at `mounted_port` with `mount_point tenant/`."""
    mounted_port = find_free_port()
    config = tmp_path / "tern.conf"
    config.write_text(f"listener 0 127.0.0.1\nallow_anonymous true\n"
                      f"listener {mounted_port} 127.0.0.1\nmount_point tenant/\n")
    broker = TernBroker("-c", str(config))
    broker.mounted_port = mounted_port
    yield broker
    assert broker.stop() == 0, broker.output()


def session(port: int, client_id: str, protocol=V5, **connect_args) -> raw.Connection:
    connection, connack = raw.open_session("127.0.0.1", port, client_id, protocol=protocol, **connect_args)
    assert connack.reason == 0, connack
    return connection


def subscribe(connection: raw.Connection, *filters: str, protocol=V5, packet_id=1) -> list[int]:
    connection.send(raw.subscribe(packet_id, [(f, 1) for f in filters], protocol=protocol))
    return connection.expect(raw.SUBACK).codes


def topics(connection: raw.Connection, count: int) -> list[str]:
    return [connection.expect(raw.PUBLISH).topic for _ in range(count)]


def test_a_mounted_listeners_clients_see_only_their_subtree_and_without_the_prefix(mounted_tern):
    outsider = session(mounted_tern.port, "outsider")
    assert subscribe(outsider, "#") == [1]
    inside = session(mounted_tern.mounted_port, "inside", protocol=V311)
    assert subscribe(inside, "#", "$SYS/#", protocol=V311) == [1, 1]
    inside.send(raw.publish("a/b", b"from inside", protocol=V311))
    assert topics(outsider, 1) == ["tenant/a/b"]
    assert topics(inside, 1) == ["a/b"]
    for topic in ("tenant/c", "elsewhere/c", "tenant/d"):
        outsider.send(raw.publish(topic, b"from outside"))
    assert topics(inside, 2) == ["c", "d"]
    assert inside.silent_for(0.3)  # nothing from elsewhere/, nor from $SYS
    # Retained messages come without the prefix too, flagged as retained.
    outsider.send(raw.publish("tenant/kept", b"retained", retain=True))
    late = session(mounted_tern.mounted_port, "late")
    assert subscribe(late, "kept") == [1]
    message = late.expect(raw.PUBLISH)
    assert (message.topic, message.retain, message.payload) == ("kept", True, b"retained")
    for connection in (outsider, inside, late):
        connection.close()


def test_mosquitto_clients_on_a_mounted_listener(mounted_tern):
    """mosquitto_pub on the plain listener, mosquitto_sub on the mounted one, as users try it: the subscriber prints
    the topic without the prefix (the message is retained, so the order in which the two start does not matter)."""
    subprocess.run(["mosquitto_pub", "-p", str(mounted_tern.port), "-h", "127.0.0.1", "-t", "tenant/sensors/t1",
                    "-m", "21.5", "-r", "-q", "1"], check=True, timeout=DEADLINE)
    received = subprocess.run(
        ["mosquitto_sub", "-p", str(mounted_tern.mounted_port), "-h", "127.0.0.1", "-t", "sensors/#", "-v",
         "-C", "1", "-W", str(DEADLINE)], capture_output=True, text=True, timeout=DEADLINE + 5)
    assert received.stdout == "sensors/t1 21.5\n", received.stderr


def test_shared_subscriptions_share_within_the_mount_point(mounted_tern):
    """`$share/workers/jobs/#` from the mounted listener is the group `workers` on `tenant/jobs/#`: it shares the
    messages with a member of the same group on the plain listener (as EMQX mounts shared subscriptions)."""
    outsider = session(mounted_tern.port, "outsider")
    inside = session(mounted_tern.mounted_port, "inside")
    member = session(mounted_tern.port, "member")
    assert subscribe(inside, "$share/workers/jobs/#") == [1]
    assert subscribe(member, "$share/workers/tenant/jobs/#") == [1]
    for index in range(6):
        outsider.send(raw.publish(f"tenant/jobs/{index}", b"job", qos=1, packet_id=index + 1))
        outsider.expect(raw.PUBACK)
    received = {}
    for name, connection in (("inside", inside), ("member", member)):
        received[name] = []
        while True:
            try:
                message = connection.read(0.5)
            except TimeoutError:
                break
            received[name].append(message.topic)
            connection.send(raw.ack(raw.PUBACK, message.packet_id))
    assert received["inside"] and received["member"], received
    assert all(topic.startswith("jobs/") for topic in received["inside"])
    delivered = [topic.removeprefix("tenant/") for topic in received["inside"] + received["member"]]
    assert sorted(delivered) == [f"jobs/{index}" for index in range(6)]
    for connection in (outsider, inside, member):
        connection.close()


@pytest.mark.parametrize("kind", ["tern", "mosquitto"])
def test_the_prefix_is_put_on_publications_and_wills_on_both_brokers(tmp_path, kind):
    """What Debian's mosquitto 2.0.11 and Tern agree on: a mounted client's PUBLISH and its will reach the rest of
    the tree under the prefix, and access rules see the whole topic."""
    mounted_port = find_free_port()
    # Readable by the `mosquitto` user, which mosquitto started as root reads it as.
    acl = Path(tempfile.mkdtemp(prefix="tern-acl-")) / "acl"
    acl.parent.chmod(0o755)
    acl.write_text("topic readwrite tenant/#\ntopic read #\n")
    acl.chmod(0o644)
    mounted = f"listener {mounted_port} 127.0.0.1\nmount_point tenant/\n"
    if kind == "tern":
        config = tmp_path / "tern.conf"
        config.write_text(f"listener 0 127.0.0.1\nallow_anonymous true\nacl_file {acl}\n{mounted}")
        broker = TernBroker("-c", str(config))
    else:
        broker = MosquittoBroker(extra_config=f"acl_file {acl}\n{mounted}").start()
    try:
        outsider = session(broker.port, "outsider")
        assert subscribe(outsider, "#") == [1]
        will = {"topic": "status", "payload": b"gone", "qos": 0, "retain": False}
        inside = session(mounted_port, "inside", will=will)
        # Writable only as tenant/a/b: the access rules see the whole topic.
        inside.send(raw.publish("a/b", b"1", qos=1, packet_id=1))
        assert inside.expect(raw.PUBACK).reason == 0
        inside.sock.close()  # without DISCONNECT: the will goes out
        assert topics(outsider, 2) == ["tenant/a/b", "tenant/status"]
        # Outside tenant/, which the rules let nobody write.
        outsider.send(raw.publish("other", b"3", qos=1, packet_id=3))
        assert outsider.expect(raw.PUBACK).reason == 0x87
        outsider.close()
    finally:
        assert broker.stop() in (0, None), broker.output()
        if kind == "mosquitto":
            broker.cleanup()
        shutil.rmtree(acl.parent, ignore_errors=True)
