"""Clients that record what a broker does, as plain comparable values, for the differential tests
(test_differential.py): the same scenario runs against Tern and against Debian's mosquitto and the two records
are compared.

- ``Observer``: a paho-mqtt 2.x client (callback API 2, network loop in a thread, never reconnecting on its own)
  that records CONNACK, SUBACK, UNSUBACK, PUBACK/PUBCOMP reason codes, every PUBLISH received and the DISCONNECT
  that ended the connection, each normalised by ``message_record`` / ``properties_record``.
- ``RawClient``: a few MQTT packets written and read by hand over a socket, for what paho does not show or does
  not allow (PUBREC reason codes, a QoS 2 PUBLISH left unacknowledged, filters paho refuses to send).

Every wait has a deadline. ``Observer.drop`` and ``Observer.disconnect`` return only once the broker has closed
its side of the connection, so the broker has processed the end of the connection (will, session going offline)
before the scenario goes on: no fixed sleeps are needed to order a disconnect before a later publish.
"""
import queue
import socket
import struct
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5
DEADLINE = 10.0

# The PUBLISH properties compared between brokers. Message Expiry Interval is counted down by the broker, so only
# its presence is compared (its value, bounded, separately where it matters); Topic Alias is per connection.
FORWARDED_PROPERTIES = ("PayloadFormatIndicator", "ContentType", "ResponseTopic", "CorrelationData", "UserProperty")


def properties_record(properties) -> dict:
    """The comparable PUBLISH properties of a received message (MQTT 5): forwarded ones by value, Message Expiry
    Interval by presence, Subscription Identifiers as a sorted list (their order in one PUBLISH is not defined)."""
    if properties is None:
        return {}
    record = {}
    for name in FORWARDED_PROPERTIES:
        if hasattr(properties, name):
            value = getattr(properties, name)
            record[name] = [tuple(pair) for pair in value] if name == "UserProperty" else value
    if hasattr(properties, "MessageExpiryInterval"):
        record["MessageExpiryInterval"] = "present"
    if hasattr(properties, "SubscriptionIdentifier"):
        record["SubscriptionIdentifier"] = sorted(properties.SubscriptionIdentifier)
    return record


def message_record(message, protocol: int) -> dict:
    record = {"topic": message.topic, "payload": message.payload.decode("utf-8", "backslashreplace"),
              "qos": message.qos, "retain": bool(message.retain), "dup": bool(message.dup)}
    if protocol == V5:
        record["properties"] = properties_record(message.properties)
    return record


def publish_properties(**values) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(properties, name, value)
    return properties


def code(reason) -> int:
    """A paho ReasonCode (or int) as an int."""
    return reason if isinstance(reason, int) else reason.value


class ConnectionRefused(Exception):
    pass


class Observer:
    """A connected paho client recording what it receives. `protocol` is V311 or V5; `clean` is Clean Session
    (3.1.1) or Clean Start (5); `will` is will_set's keyword arguments; `manual_ack` leaves QoS 1 messages
    unacknowledged until ack() (paho's option), to leave them in flight at the broker."""

    def __init__(self, host, port, client_id, protocol, clean=True, session_expiry=None, will=None,
                 manual_ack=False, connect_properties=None, keepalive=60):
        self.client_id = client_id
        self.protocol = protocol
        kwargs = {"client_id": client_id, "protocol": protocol, "reconnect_on_failure": False,
                  "manual_ack": manual_ack}
        if protocol != V5:
            kwargs["clean_session"] = clean
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
        self.lock = threading.Lock()
        self.messages = []          # message_record()s in arrival order
        self.raw_messages = []      # the paho messages, for ack()
        self.arrived = threading.Condition(self.lock)
        self.connack = None
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.disconnect_reason = None   # the reason code of a DISCONNECT from the broker, else None
        self.subacks = queue.Queue()
        self.unsubacks = queue.Queue()
        self.acks = {}                  # mid -> reason code of PUBACK / PUBCOMP
        self.acked = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda c, u, mid, codes, props: self.subacks.put((mid, [code(c) for c in codes]))
        self.client.on_unsubscribe = lambda c, u, mid, codes, props: self.unsubacks.put(
            (mid, [code(c) for c in codes]))
        self.client.on_publish = self._on_publish
        if will:
            self.client.will_set(**will)
        connect_kwargs = {}
        if protocol == V5:
            properties = connect_properties or Properties(PacketTypes.CONNECT)
            if session_expiry is not None:
                properties.SessionExpiryInterval = session_expiry
            connect_kwargs = {"clean_start": clean, "properties": properties}
        self.client.connect(host, port, keepalive=keepalive, **connect_kwargs)
        self.client.loop_start()
        if not self.connected.wait(DEADLINE):
            raise AssertionError(f"{client_id}: no CONNACK within {DEADLINE} s")
        if self.connack["reason"] != 0:
            self.closed.wait(DEADLINE)
            self.client.loop_stop()
            raise ConnectionRefused(self.connack)

    # callbacks (paho's network thread)
    def _on_connect(self, client, userdata, flags, reason, properties):
        self.connack = {"session_present": bool(flags.session_present), "reason": code(reason),
                        "properties": properties.json() if self.protocol == V5 and properties else {}}
        self.connected.set()

    def _on_disconnect(self, client, userdata, flags, reason, properties):
        if flags.is_disconnect_packet_from_server:
            self.disconnect_reason = code(reason)
        self.closed.set()

    def _on_message(self, client, userdata, message):
        with self.arrived:
            self.messages.append(message_record(message, self.protocol))
            self.raw_messages.append(message)
            self.arrived.notify_all()

    def _on_publish(self, client, userdata, mid, reason, properties):
        with self.acked:
            self.acks[mid] = code(reason)
            self.acked.notify_all()

    # actions
    def subscribe(self, *filters, properties=None, **options) -> list:
        """Subscribes to `filters` in one SUBSCRIBE; each is a filter (with `options`: qos, noLocal,
        retainAsPublished, retainHandling) or a (filter, SubscribeOptions) pair. Returns the SUBACK's reason
        codes, or "disconnected" with the DISCONNECT reason code if the broker closed the connection instead."""
        return self._subscribe([f if isinstance(f, tuple) else (f, self._options(**options)) for f in filters],
                               properties)

    def subscribe_unchecked(self, *filters, qos=0) -> list:
        """As subscribe(), for filters paho refuses to send (invalid ones)."""
        return self._subscribe([(f.encode(), self._options(qos=qos)) for f in filters], None, raw=True)

    def _options(self, qos=0, **options):
        return SubscribeOptions(qos=qos, **options) if self.protocol == V5 else qos

    def _subscribe(self, pairs, properties, raw=False):
        if raw:
            result, mid = self.client._send_subscribe(False, pairs, properties)
        elif self.protocol == V5:
            result, mid = self.client.subscribe(pairs, properties=properties)
        else:
            result, mid = self.client.subscribe(pairs)
        assert result == mqtt.MQTT_ERR_SUCCESS, result
        return self._wait_ack(self.subacks, mid, "SUBACK")

    def unsubscribe(self, *filters) -> list:
        """Returns the UNSUBACK's reason codes (MQTT 5) or [] (3.1.1, which has none)."""
        result, mid = self.client.unsubscribe(list(filters))
        assert result == mqtt.MQTT_ERR_SUCCESS, result
        return self._wait_ack(self.unsubacks, mid, "UNSUBACK")

    def _wait_ack(self, acks, mid, name):
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            try:
                acked_mid, codes = acks.get(timeout=0.02)
            except queue.Empty:
                if self.closed.is_set():
                    return ["disconnected", self.disconnect_reason]
                continue
            assert acked_mid == mid, (acked_mid, mid)
            return codes
        raise AssertionError(f"{self.client_id}: no {name} within {DEADLINE} s")

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        """Publishes and, for QoS 1 and 2, waits for the end of the exchange; returns the PUBACK's reason code
        (QoS 1) or the PUBCOMP's (QoS 2), None for QoS 0."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(DEADLINE)
        assert info.is_published(), f"{self.client_id}: PUBLISH {topic} not completed within {DEADLINE} s"
        if qos == 0:
            return None
        with self.acked:
            self.acked.wait_for(lambda: info.mid in self.acks, DEADLINE)
            return self.acks[info.mid]

    def wait_for(self, predicate, what="messages"):
        """Waits until predicate(records) is true; returns the records."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: predicate(self.messages), DEADLINE):
                raise AssertionError(f"{self.client_id}: {what} not received within {DEADLINE} s; "
                                     f"got {self.messages}")
            return list(self.messages)

    def wait_for_count(self, count):
        return self.wait_for(lambda records: len(records) >= count, f"{count} messages")

    def wait_for_topic(self, topic):
        return self.wait_for(lambda records: any(r["topic"] == topic for r in records), f"a message on {topic}")

    def arrives(self, topic, within: float) -> bool:
        """Whether a message on `topic` is received within `within` seconds (for what may legitimately not come)."""
        with self.arrived:
            return self.arrived.wait_for(lambda: any(r["topic"] == topic for r in self.messages), within)

    def received(self, exclude_prefix="sync/"):
        """The records so far, without the synchronisation messages (see sync())."""
        with self.lock:
            return [r for r in self.messages if not r["topic"].startswith(exclude_prefix)]

    def clear(self):
        with self.lock:
            self.messages.clear()
            self.raw_messages.clear()

    def ack_all(self):
        with self.lock:
            pending = list(self.raw_messages)
        for message in pending:
            self.client.ack(message.mid, message.qos)

    def _close_after(self, data: bytes):
        """Writes `data` (nothing, or a DISCONNECT) and half-closes the socket, then waits until the broker closes
        its side: from then on the broker knows the connection has ended."""
        sock = self.client.socket()
        try:
            if data:
                sock.sendall(data)   # a few bytes: fits in the socket buffer even though paho made it non-blocking
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass   # the broker already closed the connection and paho its socket: what is waited for below
        if not self.closed.wait(DEADLINE):
            raise AssertionError(f"{self.client_id}: the broker did not close the connection within {DEADLINE} s")
        self.client.loop_stop()

    def drop(self):
        """Ends the connection without DISCONNECT, as a crashed client would (the will is published)."""
        self._close_after(b"")

    def disconnect(self, reason=0, session_expiry=None):
        """Sends DISCONNECT (MQTT 5: with `reason` and, if given, a Session Expiry Interval) and waits until the
        broker has closed the connection."""
        if self.protocol != V5:
            self._close_after(b"\xe0\x00")
            return
        properties = b"" if session_expiry is None else b"\x11" + struct.pack(">I", session_expiry)
        body = bytes([reason, len(properties)]) + properties
        self._close_after(bytes([0xE0, len(body)]) + body)

    def close(self):
        """Cleanup after a scenario: stops the network thread, whatever the state of the connection."""
        try:
            sock = self.client.socket()
            if sock is not None and not self.closed.is_set():
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.closed.wait(2)
        self.client.loop_stop()


SYNC_COUNTER = iter(range(1, 1 << 30))


def sync(publisher: Observer, *subscribers: Observer):
    """Waits until every subscriber has received everything `publisher` published before: publishes a QoS 2
    message on `sync/<subscriber id>` for each (each subscriber must have subscribed to `sync/<its id>` with
    QoS 2, see subscribe_sync) after the earlier messages, and waits for it. Both brokers send a client its
    messages in the order they routed them, so a message that would wrongly arrive would have arrived by then.
    QoS 2 because paho hands a QoS 2 message to the application only when its PUBREL arrives: a QoS 1 marker
    could overtake a QoS 2 message sent before it. received() leaves `sync/...` messages out (a scenario's
    wildcard filters may match them too)."""
    for subscriber in subscribers:
        marker = str(next(SYNC_COUNTER))
        publisher.publish(f"sync/{subscriber.client_id}", marker, qos=2)
        subscriber.wait_for(lambda records: any(r["topic"] == f"sync/{subscriber.client_id}"
                                                and r["payload"] == marker for r in records), "the sync message")


def subscribe_sync(*subscribers: Observer):
    for subscriber in subscribers:
        assert subscriber.subscribe(f"sync/{subscriber.client_id}", qos=2) == [2]


# ---------------------------------------------------------------------------------------------------------------
# Raw packets
# ---------------------------------------------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s) -> bytes:
    data = s.encode() if isinstance(s, str) else s
    return struct.pack(">H", len(data)) + data


def packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _varint(len(body)) + body


class RawClient:
    """An MQTT client written by hand over a blocking socket: send(), read() one packet, a few builders."""

    def __init__(self, host, port, client_id, protocol=V5, clean=True, session_expiry=None):
        self.protocol = protocol
        self.sock = socket.create_connection((host, port), timeout=DEADLINE)
        self.buffer = b""
        flags = 0x02 if clean else 0x00
        if protocol == V5:
            props = b"" if session_expiry is None else b"\x11" + struct.pack(">I", session_expiry)
            variable = _string("MQTT") + bytes([5, flags]) + struct.pack(">H", 60) + _varint(len(props)) + props
        else:
            variable = _string("MQTT") + bytes([4, flags]) + struct.pack(">H", 60)
        self.send(packet(0x10, variable + _string(client_id)))
        kind, _, body = self.read()
        assert kind == 2, f"expected CONNACK, got packet type {kind}"
        self.session_present = bool(body[0] & 1)
        self.connack_reason = body[1]

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buffer += chunk

    def read(self):
        """The next packet as (type, flags, body); raises EOFError if the broker closed the connection."""
        self._fill(2)
        length, multiplier, index = 0, 1, 1
        while True:
            self._fill(index + 1)
            byte = self.buffer[index]
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            index += 1
            if not byte & 0x80:
                break
        self._fill(index + length)
        first, body = self.buffer[0], self.buffer[index:index + length]
        self.buffer = self.buffer[index + length:]
        return first >> 4, first & 0x0F, body

    def _properties_length(self, body, offset):
        if self.protocol != V5:
            return offset
        length, multiplier = 0, 1
        while True:
            byte = body[offset]
            offset += 1
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            if not byte & 0x80:
                return offset + length

    def read_publish(self) -> dict:
        kind, flags, body = self.read()
        assert kind == 3, f"expected PUBLISH, got packet type {kind}"
        return self.parse_publish(flags, body)

    def parse_publish(self, flags, body) -> dict:
        qos = (flags >> 1) & 3
        topic_length = struct.unpack(">H", body[:2])[0]
        topic = body[2:2 + topic_length].decode()
        offset = 2 + topic_length
        packet_id = None
        if qos:
            packet_id = struct.unpack(">H", body[offset:offset + 2])[0]
            offset += 2
        offset = self._properties_length(body, offset)
        return {"topic": topic, "payload": body[offset:].decode(), "qos": qos, "retain": bool(flags & 1),
                "dup": bool(flags & 8), "packet_id": packet_id}

    def subscribe(self, packet_id, topic_filter, qos):
        props = b"\x00" if self.protocol == V5 else b""
        self.send(packet(0x82, struct.pack(">H", packet_id) + props + _string(topic_filter) + bytes([qos])))
        kind, _, body = self.read()
        assert kind == 9, f"expected SUBACK, got packet type {kind}"
        return list(body[self._properties_length(body, 2):])

    def publish(self, topic, payload, qos, packet_id=1):
        """Sends a PUBLISH; for QoS 1/2 returns the type and reason code of the answer (PUBACK or PUBREC;
        0 when a 3.1.1 broker's answer has no reason code)."""
        head = _string(topic) + (struct.pack(">H", packet_id) if qos else b"")
        props = b"\x00" if self.protocol == V5 else b""
        self.send(packet(0x30 | (qos << 1), head + props + payload.encode()))
        if not qos:
            return None
        kind, _, body = self.read()
        return kind, (body[2] if len(body) > 2 else 0)

    def close_and_wait(self):
        """Ends the connection without DISCONNECT and returns once the broker has closed its side too."""
        self.sock.shutdown(socket.SHUT_WR)
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.sock.close()

    def close(self):
        self.sock.close()


class Clients:
    """The clients of one scenario on one broker, closed together at the end (`with Clients(...) as clients`)."""

    def __init__(self, host, port, protocol=V5):
        self.host, self.port, self.protocol = host, port, protocol
        self.observers = []
        self.raw_clients = []

    def connect(self, client_id, protocol=None, sync=True, **kwargs) -> Observer:
        """A connected Observer; with `sync`, subscribed to its `sync/<client id>` topic for sync()."""
        observer = Observer(self.host, self.port, client_id, protocol or self.protocol, **kwargs)
        self.observers.append(observer)
        if sync:
            subscribe_sync(observer)
        return observer

    def raw(self, client_id, protocol=None, **kwargs) -> RawClient:
        client = RawClient(self.host, self.port, client_id, protocol or self.protocol, **kwargs)
        self.raw_clients.append(client)
        return client

    def __enter__(self) -> "Clients":
        return self

    def __exit__(self, *exc):
        for observer in self.observers:
            observer.close()
        for client in self.raw_clients:
            client.close()
