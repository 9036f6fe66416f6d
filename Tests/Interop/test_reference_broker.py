"""Smoke tests of the interop harness against the reference broker (Debian's mosquitto on a free port):
paho-mqtt 2.x over MQTT 3.1.1 and 5.0, and the mosquitto_pub / mosquitto_sub command-line clients.

They prove that the tools the Tern interop tests rely on work on this machine; the same checks run against Tern
by giving them a `tern_broker.TernBroker` instead of `reference_broker` (both have host and port).
Every wait has a deadline; nothing sleeps a fixed time.
"""
import queue
import shutil
import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

DEADLINE = 10.0
PROTOCOLS = [pytest.param(mqtt.MQTTv311, id="v3.1.1"), pytest.param(mqtt.MQTTv5, id="v5")]


class PahoClient:
    """A paho-mqtt 2.x client (callback API version 2) with its network loop in a thread; every wait has a deadline."""

    def __init__(self, broker, client_id: str, protocol: int):
        self.protocol = protocol
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self.messages: queue.Queue = queue.Queue()
        self.connected = threading.Event()
        self.connack = None
        self.subacks: queue.Queue = queue.Queue()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda client, userdata, mid, codes, properties: self.subacks.put((mid, codes))
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        assert self.connected.wait(DEADLINE), f"{client_id}: no CONNACK within {DEADLINE} s"
        assert not self.connack.is_failure, f"{client_id}: CONNACK {self.connack}"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = reason_code
        self.connected.set()

    def subscribe(self, topic: str, qos: int) -> list:
        result, mid = self.client.subscribe(topic, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS
        acked_mid, codes = self.subacks.get(timeout=DEADLINE)
        assert acked_mid == mid
        return codes

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False, properties=None):
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout=DEADLINE)
        assert info.is_published(), f"PUBLISH to {topic} not completed within {DEADLINE} s"

    def next_message(self) -> mqtt.MQTTMessage:
        try:
            return self.messages.get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError(f"no message within {DEADLINE} s") from None

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def paho(reference_broker):
    """Factory: paho(client_id, protocol) -> connected PahoClient, disconnected after the test."""
    clients = []

    def connect(client_id: str, protocol: int) -> PahoClient:
        client = PahoClient(reference_broker, client_id, protocol)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_paho_subscribe_publish_round_trip(paho, protocol, qos):
    subscriber = paho("smoke-sub", protocol)
    publisher = paho("smoke-pub", protocol)
    [granted] = subscriber.subscribe("smoke/+/round-trip", qos)
    assert not granted.is_failure and granted.value == qos
    publisher.publish(f"smoke/qos{qos}/round-trip", b"\x00payload\xff", qos)
    message = subscriber.next_message()
    assert (message.topic, message.payload, message.qos, message.retain) == (
        f"smoke/qos{qos}/round-trip", b"\x00payload\xff", qos, False)


def test_paho_v5_properties_pass_through(paho):
    subscriber = paho("props-sub", mqtt.MQTTv5)
    publisher = paho("props-pub", mqtt.MQTTv5)
    subscriber.subscribe("props/#", 1)
    properties = Properties(PacketTypes.PUBLISH)
    properties.UserProperty = [("b", "2"), ("a", "1")]
    properties.ContentType = "text/plain"
    properties.CorrelationData = b"req-1"
    properties.ResponseTopic = "props/reply"
    publisher.publish("props/request", b"hello", 1, properties=properties)
    message = subscriber.next_message()
    assert message.payload == b"hello"
    assert message.properties.UserProperty == [("b", "2"), ("a", "1")]
    assert message.properties.ContentType == "text/plain"
    assert message.properties.CorrelationData == b"req-1"
    assert message.properties.ResponseTopic == "props/reply"


def test_paho_retained_message_from_mosquitto_pub(reference_broker, paho):
    subprocess.run(["mosquitto_pub", "-h", reference_broker.host, "-p", str(reference_broker.port),
                    "-t", "state/setpoint", "-m", "21.5", "-q", "1", "-r"], check=True, timeout=DEADLINE)
    subscriber = paho("retained-sub", mqtt.MQTTv5)
    subscriber.subscribe("state/#", 1)
    message = subscriber.next_message()
    assert (message.topic, message.payload, message.retain) == ("state/setpoint", b"21.5", True)


class LineReader:
    """Reads a process's stdout lines in a thread so the test can wait for one with a deadline."""

    def __init__(self, process: subprocess.Popen):
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        thread = threading.Thread(target=self._pump, args=(process.stdout,), daemon=True)
        thread.start()

    def _pump(self, stream):
        for line in stream:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, predicate) -> str:
        while True:
            try:
                line = self.lines.get(timeout=DEADLINE)
            except queue.Empty:
                raise AssertionError(f"no matching line within {DEADLINE} s; saw {self.seen}") from None
            if line is None:
                raise AssertionError(f"output ended without a matching line; saw {self.seen}")
            self.seen.append(line)
            if predicate(line):
                return line


@pytest.mark.skipif(shutil.which("mosquitto_sub") is None, reason="mosquitto-clients not installed")
@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_pub_to_mosquitto_sub(reference_broker, version):
    host, port = reference_broker.host, str(reference_broker.port)
    # -d prints the protocol exchange, so the test sees the SUBACK before it publishes; -C 1 exits after one message.
    # stdbuf -oL: those debug lines are printed with stdio, which buffers them when stdout is a pipe.
    subscriber = subprocess.Popen(
        ["stdbuf", "-oL", "mosquitto_sub", "-h", host, "-p", port, "-V", version, "-t", "cli/#", "-q", "1", "-v", "-d",
         "-C", "1", "-W", str(int(DEADLINE))],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        reader = LineReader(subscriber)
        reader.wait_for(lambda line: "received SUBACK" in line)
        subprocess.run(["mosquitto_pub", "-h", host, "-p", port, "-V", version, "-t", "cli/hello",
                        "-m", "from mosquitto_pub", "-q", "1"], check=True, timeout=DEADLINE)
        reader.wait_for(lambda line: line == "cli/hello from mosquitto_pub")
        assert subscriber.wait(timeout=DEADLINE) == 0
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
            subscriber.wait()
