"""Durability of `tern serve`'s store (docs/persistence.md), observed with paho-mqtt 2.x clients.

The crash tests end the broker with SIGKILL while a QoS 1 or QoS 2 publisher is busy, restart it on the same data
directory (on a new port), and check that every message the publisher saw acknowledged reaches the persistent
subscribers (QoS 2: exactly once), and that sessions and retained messages are back. Each paho client object is
kept across the restart, as a real client keeps its session state, and reconnects with Clean Start 0.
"""
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tern_broker import TernBroker, tern_binary

DEADLINE = 20.0


def wait_until(condition, deadline: float = DEADLINE, what: str = "condition"):
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() >= end:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


class Peer:
    """A paho MQTT 5 client with a persistent session (Session Expiry Interval 1 hour), recording what it received
    and which of its publications were acknowledged. `move_to` reconnects the same client object to another broker
    (the restarted one) with Clean Start 0, so paho resends what it had in flight."""

    def __init__(self, client_id: str, broker, expiry: int = 3600):
        self.client_id = client_id
        self.expiry = expiry
        self.lock = threading.Lock()
        self.received: list[str] = []
        self.acknowledged: list[str] = []
        self.session_present = None
        self.connected = threading.Event()
        self.payloads: dict[int, str] = {}
        self.early: set[int] = set()
        # paho's own reconnection attempts each reset the state of messages in flight, and a second one turns a
        # QoS 2 message waiting for PUBCOMP back into a new PUBLISH: the test reconnects by itself, once.
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                                  reconnect_on_failure=False)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self._connect(broker, clean_start=True)

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.expiry
        return properties

    def _connect(self, broker, clean_start: bool):
        self.connected.clear()
        self.client.connect(broker.host, broker.port, keepalive=30, clean_start=clean_start,
                            properties=self._connect_properties())
        self.client.loop_start()
        assert self.connected.wait(DEADLINE), f"{self.client_id} did not connect"

    def move_to(self, broker):
        self.client.loop_stop()
        self._connect(broker, clean_start=False)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.session_present = flags.session_present
        if not reason_code.is_failure:
            self.connected.set()

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.received.append(message.payload.decode())

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self.lock:
            # A PUBCOMP 0x92 (Packet Identifier Not Found) after a restart ends an exchange whose PUBREL the
            # broker had committed before it was killed: the message was taken, only the PUBCOMP was lost.
            if reason_code.is_failure and reason_code.value != 0x92:
                return
            if mid in self.payloads:
                self.acknowledged.append(self.payloads[mid])
            else:
                self.early.add(mid)  # acknowledged before publish() returned its mid

    def subscribe(self, topic_filter: str, qos: int):
        done = threading.Event()
        self.client.on_subscribe = lambda *args: done.set()
        self.client.subscribe(topic_filter, qos)
        assert done.wait(DEADLINE), f"{self.client_id}: no SUBACK"

    def publish(self, topic: str, payload: str, qos: int, retain: bool = False):
        # Not under self.lock: paho may call on_publish (which takes it) while holding its own locks.
        info = self.client.publish(topic, payload, qos, retain=retain)
        with self.lock:
            self.payloads[info.mid] = payload
            if info.mid in self.early:
                self.early.discard(info.mid)
                self.acknowledged.append(payload)

    def disconnect(self):
        self.client.disconnect()
        self.client.loop_stop()

    def counts(self):
        with self.lock:
            return len(self.received), len(self.acknowledged)


@pytest.fixture
def data_dir():
    with tempfile.TemporaryDirectory(prefix="tern-data-") as path:
        yield path


def restarted(broker: TernBroker, data_dir) -> TernBroker:
    """Kills the broker with SIGKILL and starts a new one on the same data directory."""
    broker.kill()
    return TernBroker(data_dir=data_dir)


@pytest.mark.parametrize("qos", [1, 2])
@pytest.mark.parametrize("kill_after", [1, 60, 250])
def test_acknowledged_messages_survive_kill(data_dir, qos, kill_after):
    count = 300
    broker = TernBroker(data_dir=data_dir)
    second = None
    try:
        online = Peer(f"online-{qos}", broker)
        online.subscribe("crash/#", qos)
        offline = Peer(f"offline-{qos}", broker)
        offline.subscribe("crash/#", qos)
        offline.disconnect()
        publisher = Peer(f"publisher-{qos}", broker)
        publisher.publish("crash/retained", "kept", 1, retain=True)
        wait_until(lambda: "kept" in publisher.acknowledged, what="the retained message's PUBACK")
        for index in range(count):
            publisher.publish("crash/t", str(index), qos)
        wait_until(lambda: publisher.counts()[1] >= kill_after + 1, what=f"{kill_after} acknowledgements")
        second = restarted(broker, data_dir)
        with publisher.lock:
            acknowledged_before_kill = set(publisher.acknowledged) - {"kept"}
        assert len(acknowledged_before_kill) >= kill_after

        online.move_to(second)
        publisher.move_to(second)
        assert online.session_present and publisher.session_present
        wait_until(lambda: publisher.counts()[1] >= count + 1,
                   what=f"every publication acknowledged (got {publisher.counts()[1]})")
        expected = {str(index) for index in range(count)}
        wait_until(lambda: expected <= set(online.received), what="every message at the online subscriber")

        offline.move_to(second)
        assert offline.session_present
        wait_until(lambda: expected <= set(offline.received), what="every message at the offline subscriber")
        for peer in (online, offline):
            assert acknowledged_before_kill <= set(peer.received)
            if qos == 2:
                duplicates = {p for p in peer.received if peer.received.count(p) > 1}
                assert not duplicates, f"{peer.client_id} received QoS 2 messages twice: {sorted(duplicates)}"

        # The retained message is back for a new subscriber.
        late = Peer("late", second)
        late.subscribe("crash/retained", 1)
        wait_until(lambda: "kept" in late.received, what="the retained message")
        for peer in (online, offline, publisher, late):
            peer.disconnect()
    finally:
        for running in (broker, second):
            if running is not None and running.process.poll() is None:
                running.stop()
    assert second.stop() == 0


def test_queued_message_expiry_counts_down_across_a_restart(data_dir):
    broker = TernBroker(data_dir=data_dir)
    try:
        subscriber = Peer("expiring-sub", broker)
        subscriber.subscribe("exp/#", 1)
        subscriber.disconnect()
        publisher = Peer("expiring-pub", broker, expiry=0)
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = 1
        publisher.client.publish("exp/short", "short", 1, properties=properties)
        properties = Properties(PacketTypes.PUBLISH)
        properties.MessageExpiryInterval = 3600
        publisher.client.publish("exp/long", "long", 1, properties=properties)
        publisher.publish("exp/marker", "marker", 1)
        wait_until(lambda: "marker" in publisher.acknowledged, what="the publications acknowledged")
        broker.kill()
        time.sleep(1.5)  # the one-second expiry passes while no broker runs
        broker = TernBroker(data_dir=data_dir)
        subscriber.move_to(broker)
        wait_until(lambda: "marker" in subscriber.received, what="the queued messages")
        assert sorted(subscriber.received) == ["long", "marker"]
        subscriber.disconnect()
    finally:
        broker.stop()


def test_session_expiry_counts_down_across_a_restart(data_dir):
    broker = TernBroker(data_dir=data_dir)
    try:
        short = Peer("short-lived", broker, expiry=1)
        short.subscribe("s/#", 1)
        short.disconnect()
        long = Peer("long-lived", broker, expiry=3600)
        long.disconnect()
        broker.stop()
        time.sleep(1.5)
        broker = TernBroker(data_dir=data_dir)
        short.move_to(broker)
        long.move_to(broker)
        assert short.session_present is False
        assert long.session_present is True
        short.disconnect()
        long.disconnect()
    finally:
        broker.stop()


def run_tern(data_dir: str, deadline: float = 20.0) -> subprocess.CompletedProcess:
    """Runs `tern serve` on `data_dir` expecting it to refuse to start."""
    return subprocess.run([str(tern_binary()), "serve", "-p", "0", "--data-dir", data_dir],
                          capture_output=True, text=True, timeout=deadline)


def test_a_corrupt_store_stops_the_broker_with_a_clear_error(data_dir):
    store = Path(data_dir) / "tern.sqlite"
    garbage = os.urandom(16384)
    store.write_bytes(garbage)
    result = run_tern(data_dir)
    assert result.returncode == 1
    assert "is not a Tern store or is damaged" in result.stderr and str(store) in result.stderr
    assert store.read_bytes() == garbage  # never replaced by an empty store


def test_an_unwritable_data_directory_stops_the_broker_with_a_clear_error(data_dir):
    if os.geteuid() == 0:
        # Root writes through permission bits: a path below a regular file cannot be created by anyone.
        Path(data_dir, "file").write_text("not a directory")
        target = str(Path(data_dir, "file", "data"))
        expected = "cannot create the data directory"
    else:
        target = str(Path(data_dir, "readonly"))
        os.mkdir(target, 0o555)
        expected = "is not writable"
    result = run_tern(target)
    assert result.returncode == 1
    assert expected in result.stderr and target in result.stderr


def test_persistence_false_keeps_nothing(data_dir, tmp_path):
    config = tmp_path / "tern.conf"
    config.write_text("listener 0 127.0.0.1\nallow_anonymous true\npersistence false\n")
    broker = TernBroker("-c", str(config), data_dir=data_dir)
    try:
        subscriber = Peer("memory-sub", broker)
        subscriber.disconnect()
        assert "persistence false" in broker.output()
    finally:
        broker.stop()
    assert os.listdir(data_dir) == []


def rss_megabytes(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_a_long_offline_queue_stays_on_disk_and_drains_in_order_after_a_restart(data_dir, tmp_path):
    """80 MB queued for an offline session: with `queue_page_size 50` the broker holds a page of it in memory (its
    RSS stays far below the queue's size, before and after a restart), and the subscriber gets every message, in
    order, when it comes back."""
    count, size = 20_000, 4096
    config = tmp_path / "tern.conf"
    config.write_text("listener 0 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nqueue_page_size 50\n")
    broker = TernBroker("-c", str(config), data_dir=data_dir)
    baseline = rss_megabytes(broker.process.pid)
    try:
        subscriber = Peer("long-queue-sub", broker)
        subscriber.subscribe("long/#", 1)
        subscriber.disconnect()
        publisher = Peer("long-queue-pub", broker, expiry=0)
        padding = "x" * (size - 8)
        for index in range(count):
            publisher.publish("long/t", f"{index:08d}{padding}", 1)
        wait_until(lambda: publisher.counts()[1] == count, deadline=120, what="every publication acknowledged")
        publisher.disconnect()
        queued_mb = count * size / 1e6
        # Measured: about 18 MB of growth with queue_page_size 50, 120 MB with the whole queue in memory.
        assert rss_megabytes(broker.process.pid) - baseline < queued_mb / 3, "the queue is held in memory"
        broker.kill()
        broker = TernBroker("-c", str(config), data_dir=data_dir)
        assert rss_megabytes(broker.process.pid) - baseline < queued_mb / 4, "the restart loaded the whole queue"
        subscriber.move_to(broker)
        assert subscriber.session_present
        wait_until(lambda: subscriber.counts()[0] >= count, deadline=120,
                   what=f"the whole queue (got {subscriber.counts()[0]})")
        with subscriber.lock:
            received = [payload[:8] for payload in subscriber.received]
        assert received == [f"{index:08d}" for index in range(count)]
        assert rss_megabytes(broker.process.pid) - baseline < queued_mb / 3
        subscriber.disconnect()
    finally:
        broker.stop()


@pytest.mark.parametrize("restart", [False, True], ids=["same-broker", "after-kill-9"])
def test_a_shared_subscription_member_that_starts_over_hands_its_queue_on_disk_to_another(data_dir, tmp_path, restart):
    """Two paho members of `$share/g/jobs`, both offline, get 40 QoS 1 messages in turn; with `queue_page_size 4`
    most of each queue is on disk only. w1 comes back with Clean Start: its session ends, and every message it was
    owed, those on disk included, goes to w2 (MQTT 5 section 4.8.2), which gets all 40 when it comes back. Also
    after the broker was killed and started again, when all but the first page of each queue is on disk only."""
    config = tmp_path / "tern.conf"
    config.write_text("listener 0 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nqueue_page_size 4\n")
    broker = TernBroker("-c", str(config), data_dir=data_dir)
    try:
        members = [Peer(client_id, broker) for client_id in ("share-w1", "share-w2")]
        for member in members:
            member.subscribe("$share/g/jobs", 1)
            member.disconnect()
        publisher = Peer("share-pub", broker, expiry=0)
        for index in range(40):
            publisher.publish("jobs", f"{index:02d}", 1)
        wait_until(lambda: publisher.counts()[1] == 40, what="every publication acknowledged")
        publisher.disconnect()
        if restart:
            broker.kill()
            broker = TernBroker("-c", str(config), data_dir=data_dir)
        Peer("share-w1", broker).disconnect()  # Clean Start: w1's session ends
        w2 = members[1]
        w2.move_to(broker)
        assert w2.session_present
        wait_until(lambda: w2.counts()[0] >= 40, what=f"every message at w2 (got {w2.counts()[0]})")
        with w2.lock:
            assert sorted(w2.received) == [f"{index:02d}" for index in range(40)]
        w2.disconnect()
    finally:
        broker.stop()


class V5Client:
    """A clean paho MQTT 5 client that records each QoS 1 publication's PUBACK reason code and what it receives."""

    def __init__(self, broker, client_id: str):
        self.lock = threading.Lock()
        self.outcomes: dict[int, int] = {}
        self.received: list[str] = []
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                                  reconnect_on_failure=False)
        self.client.on_connect = lambda *args: self.connected.set()
        self.client.on_publish = self._on_publish
        self.client.on_message = lambda c, u, message: self._record(message.payload.decode())
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(DEADLINE), f"{client_id} did not connect"

    def _record(self, payload: str):
        with self.lock:
            self.received.append(payload)

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self.lock:
            self.outcomes[mid] = reason_code.value

    def subscribe(self, topic_filter: str, qos: int):
        done = threading.Event()
        self.client.on_subscribe = lambda *args: done.set()
        self.client.subscribe(topic_filter, qos)
        assert done.wait(DEADLINE), "no SUBACK"

    def outcome(self, mid: int):
        with self.lock:
            return self.outcomes.get(mid)

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def test_a_full_disk_refuses_qos1_with_quota_exceeded_then_recovers(data_dir):
    """The store's files hit a size limit (`prlimit --fsize`, as a full disk would stop them growing): the commit
    fails, the broker refuses QoS 1 publications with PUBACK 0x97 instead of acknowledging what it cannot keep,
    QoS 0 still flows, and once the limit is lifted QoS 1 is accepted again."""
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is not installed")
    broker = TernBroker(data_dir=data_dir)
    clients = []
    try:
        watcher = V5Client(broker, "full-disk-watcher")
        clients.append(watcher)
        watcher.subscribe("disk/#", 0)
        # An offline persistent session: what is published for it must be kept.
        keeper = Peer("full-disk-keeper", broker)
        keeper.subscribe("disk/#", 1)
        keeper.disconnect()
        store_files = list(Path(data_dir).glob("tern.sqlite*"))
        limit = max(path.stat().st_size for path in store_files) + 64 * 1024
        subprocess.run(["prlimit", "--pid", str(broker.process.pid), f"--fsize={limit}:unlimited"], check=True)

        # Fill up: 16 KB QoS 1 messages until the store refuses one (the publisher whose write failed is
        # disconnected; a new one is then told 0x97).
        padding = "y" * 16_384
        refused = None
        for attempt in range(10):
            publisher = V5Client(broker, f"full-disk-publisher-{attempt}")
            clients.append(publisher)
            for index in range(200):
                mid = publisher.client.publish("disk/big", padding, 1).mid
                try:
                    wait_until(lambda: publisher.outcome(mid) is not None or not publisher.client.is_connected(),
                               deadline=5, what="an answer")
                except TimeoutError:
                    break
                if publisher.outcome(mid) == 0x97:
                    refused = publisher
                    break
                if not publisher.client.is_connected():
                    break
            if refused:
                break
        assert refused is not None, "the broker never refused a QoS 1 publication"
        assert "cannot commit to the store" in broker.output()

        # QoS 0 still goes through to a subscriber; QoS 1 is still refused. (Connections that were sent writes
        # of the failed commit were closed: a new subscriber.)
        watcher = V5Client(broker, "full-disk-watcher-2")
        clients.append(watcher)
        watcher.subscribe("disk/#", 0)
        refused.client.publish("disk/small", "qos0 while full", 0)
        wait_until(lambda: "qos0 while full" in watcher.received, what="the QoS 0 message")
        mid = refused.client.publish("disk/small", "refused", 1).mid
        wait_until(lambda: refused.outcome(mid) is not None, what="PUBACK")
        assert refused.outcome(mid) == 0x97
        assert "refused" not in watcher.received

        # Space again: the writer retries, commits, and QoS 1 is accepted.
        subprocess.run(["prlimit", "--pid", str(broker.process.pid), "--fsize=unlimited:unlimited"], check=True)
        wait_until(lambda: "the store accepts commits again" in broker.output(), what="the store to recover")
        mid = refused.client.publish("disk/small", "accepted", 1).mid
        wait_until(lambda: refused.outcome(mid) is not None, what="PUBACK")
        assert refused.outcome(mid) == 0
        wait_until(lambda: "accepted" in watcher.received, what="the QoS 1 message")
    finally:
        for client in clients:
            client.close()
        assert broker.stop() == 0, broker.output()
