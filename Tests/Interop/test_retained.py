"""Retained messages on SUBSCRIBE when a wildcard matches many of them (docs/broker.md, "Retained messages").

Tern sends them a batch at a time as the subscriber takes them (its window for QoS 1 and 2, its socket for QoS 0),
so a subscriber gets every one of 20,000 retained messages with the default queue limit of 1,000 messages: a broker
that queued them all at once would drop all but the first thousand or so. Observed with paho-mqtt 2.x and
mosquitto_sub.
"""
import subprocess
import threading
import time

import paho.mqtt.client as mqtt

import raw_mqtt
from tern_broker import TernBroker

COUNT = 20_000
DEADLINE = 60.0


def load_retained(broker, count: int, topic=lambda index: f"r/{index // 100}/{index % 100}",
                  payload=lambda index: str(index).encode()):
    """Publishes `count` retained QoS 0 messages (by default on r/{i // 100}/{i % 100}), pipelined, then waits for
    the PINGRESP that follows them (the broker handles a connection's packets in order)."""
    connection, connack = raw_mqtt.open_session(broker.host, broker.port, "retained-loader")
    assert connack.reason == 0
    chunk = bytearray()
    for index in range(count):
        chunk += raw_mqtt.publish(topic(index), payload(index), retain=True)
        if len(chunk) > 1 << 16:
            connection.send(bytes(chunk))
            chunk = bytearray()
    connection.send(bytes(chunk) + raw_mqtt.pingreq())
    while connection.read(DEADLINE).kind != raw_mqtt.PINGRESP:
        pass
    connection.close()


def test_qos1_wildcard_subscriber_gets_every_retained_message_once_with_default_queue_limits():
    broker = TernBroker()
    try:
        load_retained(broker, COUNT)
        lock = threading.Lock()
        received: dict[str, int] = {}
        flags = set()
        everything = threading.Event()

        def on_message(client, userdata, message):
            with lock:
                received[message.topic] = received.get(message.topic, 0) + 1
                flags.add(message.retain)
                if len(received) == COUNT:
                    everything.set()

        subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="retained-qos1", protocol=mqtt.MQTTv5)
        client.on_message = on_message
        client.on_subscribe = lambda *args: subscribed.set()
        client.connect(broker.host, broker.port)
        client.loop_start()
        try:
            client.subscribe("r/#", 1)
            assert subscribed.wait(DEADLINE)
            assert everything.wait(DEADLINE), f"got {len(received)} of {COUNT} retained messages"
            with lock:
                assert set(received.values()) == {1}, "a retained message arrived twice"
                assert flags == {True}
        finally:
            client.disconnect()
            client.loop_stop()
    finally:
        assert broker.stop() == 0, broker.output()


def test_qos0_wildcard_subscriber_gets_every_retained_message_with_mosquitto_sub():
    broker = TernBroker()
    try:
        load_retained(broker, COUNT)
        started = time.monotonic()
        result = subprocess.run(
            ["mosquitto_sub", "-h", broker.host, "-p", str(broker.port), "-V", "mqttv311", "-t", "r/+/+", "-q", "0",
             "-C", str(COUNT), "-W", str(int(DEADLINE)), "--retained-only", "-F", "%t"],
            capture_output=True, text=True, timeout=DEADLINE + 10)
        assert result.returncode == 0, result.stderr
        topics = result.stdout.split()
        assert len(topics) == COUNT and len(set(topics)) == COUNT
        assert time.monotonic() - started < DEADLINE
    finally:
        assert broker.stop() == 0, broker.output()


def test_other_clients_are_served_while_a_subscriber_takes_a_large_retained_set():
    """A subscriber that reads as fast as it can takes 100,000 retained messages on `#`; a PINGREQ another client
    sends early on is answered long before that delivery ends (the batches leave the event loop free to read other
    sockets between them; it used to be answered only after the last one). The messages are of 1,000 bytes, so
    that the delivery (100 MB) outlasts what the socket buffers hold: with 100-byte ones `#`, which reads the
    retained slots in order, had sometimes written everything into the buffers before the PINGREQ came."""
    broker = TernBroker()
    try:
        count, payload = 100_000, b"x" * 1000
        load_retained(broker, count, topic=lambda index: f"big/{index}", payload=lambda index: payload)
        # What the flood subscriber (MQTT 3.1.1) reads: its SUBACK (5 bytes), then every message with RETAIN set.
        total = 5 + sum(len(raw_mqtt.publish(f"big/{index}", payload, retain=True, protocol=raw_mqtt.V311))
                        for index in range(count))
        bystander, _ = raw_mqtt.open_session(broker.host, broker.port, "bystander")
        flood, _ = raw_mqtt.open_session(broker.host, broker.port, "flood", protocol=raw_mqtt.V311)
        received = [0]

        def read_everything():
            flood.sock.settimeout(DEADLINE)
            while received[0] < total:
                data = flood.sock.recv(1 << 22)
                if not data:
                    return
                received[0] += len(data)

        reader = threading.Thread(target=read_everything, daemon=True)
        flood.send(raw_mqtt.subscribe(1, [("#", 0)], protocol=raw_mqtt.V311))
        reader.start()
        deadline = time.monotonic() + DEADLINE
        while received[0] < 1 << 20 and time.monotonic() < deadline:  # the delivery is well under way
            time.sleep(0.001)
        bystander.send(raw_mqtt.pingreq())
        bystander.expect(raw_mqtt.PINGRESP)
        answered_at = received[0]
        reader.join(DEADLINE)
        assert received[0] == total, (received[0], total)
        assert answered_at < total / 2, (answered_at, total)
    finally:
        assert broker.stop() == 0, broker.output()
