"""MQTT packets built and parsed by hand, for the conformance tests (test_conformance_v311.py,
test_conformance_v5.py): what paho-mqtt will not send (malformed packets, packets out of order, a second CONNECT,
forbidden flags) or hides (the topic name and Topic Alias of a PUBLISH as it was on the wire, packet identifiers,
acknowledgements held back on purpose).

- Builders (``connect``, ``publish``, ``subscribe``, ...) return the bytes of one packet; every field can be set
  to a wrong value. ``frame(first_byte, body)`` wraps any body in a fixed header.
- ``properties(...)`` encodes MQTT 5 properties given by name (``SessionExpiryInterval=5``); a list value repeats
  the property (``UserProperty=[("a", "1"), ("b", "2")]``). ``Packet.properties`` decodes them into a dict whose
  values for repeatable properties are lists.
- ``Connection``: a blocking socket that reads whole packets with deadlines; ``open_session()`` opens one, sends
  CONNECT and waits for the CONNACK.
"""
import socket
import struct
import time
from dataclasses import dataclass, field

V311 = 4
V5 = 5
DEADLINE = 10.0

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP",
                8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
                14: "DISCONNECT", 15: "AUTH"}

# MQTT 5 properties: identifier -> (name, wire type). Types: byte, u16, u32, varint, utf8, binary, pair.
PROPERTY_TYPES = {
    0x01: ("PayloadFormatIndicator", "byte"), 0x02: ("MessageExpiryInterval", "u32"),
    0x03: ("ContentType", "utf8"), 0x08: ("ResponseTopic", "utf8"), 0x09: ("CorrelationData", "binary"),
    0x0B: ("SubscriptionIdentifier", "varint"), 0x11: ("SessionExpiryInterval", "u32"),
    0x12: ("AssignedClientIdentifier", "utf8"), 0x13: ("ServerKeepAlive", "u16"),
    0x15: ("AuthenticationMethod", "utf8"), 0x16: ("AuthenticationData", "binary"),
    0x17: ("RequestProblemInformation", "byte"), 0x18: ("WillDelayInterval", "u32"),
    0x19: ("RequestResponseInformation", "byte"), 0x1A: ("ResponseInformation", "utf8"),
    0x1C: ("ServerReference", "utf8"), 0x1F: ("ReasonString", "utf8"), 0x21: ("ReceiveMaximum", "u16"),
    0x22: ("TopicAliasMaximum", "u16"), 0x23: ("TopicAlias", "u16"), 0x24: ("MaximumQoS", "byte"),
    0x25: ("RetainAvailable", "byte"), 0x26: ("UserProperty", "pair"), 0x27: ("MaximumPacketSize", "u32"),
    0x28: ("WildcardSubscriptionAvailable", "byte"), 0x29: ("SubscriptionIdentifierAvailable", "byte"),
    0x2A: ("SharedSubscriptionAvailable", "byte"),
}
PROPERTY_IDS = {name: (identifier, kind) for identifier, (name, kind) in PROPERTY_TYPES.items()}
REPEATABLE = {"UserProperty", "SubscriptionIdentifier"}


# ---------------------------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------------------------

def varint(value: int) -> bytes:
    """A Variable Byte Integer (MQTT 1.5.5)."""
    encoded = bytearray()
    while True:
        value, digit = divmod(value, 128)
        encoded.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(encoded)


def utf8(text) -> bytes:
    """A two-byte length and the bytes (a str is encoded as UTF-8; bytes are sent as they are, valid or not)."""
    data = text.encode() if isinstance(text, str) else bytes(text)
    return struct.pack(">H", len(data)) + data


def _property_value(kind: str, value) -> bytes:
    if kind == "byte":
        return bytes([value])
    if kind == "u16":
        return struct.pack(">H", value)
    if kind == "u32":
        return struct.pack(">I", value)
    if kind == "varint":
        return varint(value)
    if kind == "pair":
        return utf8(value[0]) + utf8(value[1])
    return utf8(value)  # utf8 and binary share the layout


def properties(**values) -> bytes:
    """An MQTT 5 property block (its length, then the properties) from properties given by name; a list value
    repeats the property, in order (also for properties that must not be repeated, to build protocol errors)."""
    encoded = bytearray()
    for name, value in values.items():
        identifier, kind = PROPERTY_IDS[name]
        for item in (value if isinstance(value, list) else [value]):
            encoded += varint(identifier) + _property_value(kind, item)
    return varint(len(encoded)) + bytes(encoded)


def frame(first_byte: int, body: bytes) -> bytes:
    """A packet: the first byte (type and flags), the Remaining Length, the body."""
    return bytes([first_byte]) + varint(len(body)) + body


def connect(client_id="", protocol=V5, clean=True, keepalive=60, props=None, will=None, username=None,
            password=None, protocol_name="MQTT") -> bytes:
    """CONNECT. `props`: dict of CONNECT properties (MQTT 5); `will`: dict with topic, payload, qos, retain and
    (MQTT 5) props, the Will Properties."""
    flags = 0x02 if clean else 0x00
    payload = utf8(client_id)
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if protocol == V5:
            payload += properties(**will.get("props", {}))
        payload += utf8(will["topic"]) + utf8(will.get("payload", b""))
    if username is not None:
        flags |= 0x80
        payload += utf8(username)
    if password is not None:
        flags |= 0x40
        payload += utf8(password)
    variable = utf8(protocol_name) + bytes([protocol, flags]) + struct.pack(">H", keepalive)
    if protocol == V5:
        variable += properties(**(props or {}))
    return frame(0x10, variable + payload)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, packet_id=1, protocol=V5, props=None,
            flags=None) -> bytes:
    """PUBLISH. `flags` overrides the four flag bits (to send QoS 3 and the like)."""
    if flags is None:
        flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = utf8(topic)
    if (flags >> 1) & 3:
        body += struct.pack(">H", packet_id)
    if protocol == V5:
        body += properties(**(props or {}))
    body += payload.encode() if isinstance(payload, str) else payload
    return frame(0x30 | flags, body)


def ack(kind: int, packet_id: int, reason=0, protocol=V5) -> bytes:
    """PUBACK, PUBREC, PUBREL or PUBCOMP (PUBREL with its required flags 0b0010)."""
    body = struct.pack(">H", packet_id)
    if protocol == V5 and reason:
        body += bytes([reason])
    return frame((kind << 4) | (0x02 if kind == PUBREL else 0), body)


def subscribe(packet_id, filters, protocol=V5, props=None, flags=0x02) -> bytes:
    """SUBSCRIBE; `filters` is a list of (topic filter, options byte) where the options byte holds the QoS and
    (MQTT 5) No Local 0x04, Retain As Published 0x08 and Retain Handling << 4."""
    body = struct.pack(">H", packet_id)
    if protocol == V5:
        body += properties(**(props or {}))
    for topic_filter, options in filters:
        body += utf8(topic_filter) + bytes([options])
    return frame(0x80 | flags, body)


def unsubscribe(packet_id, filters, protocol=V5) -> bytes:
    body = struct.pack(">H", packet_id) + (properties() if protocol == V5 else b"")
    return frame(0xA2, body + b"".join(utf8(f) for f in filters))


def pingreq() -> bytes:
    return frame(0xC0, b"")


def auth(reason, props=None) -> bytes:
    """AUTH (MQTT 5 enhanced authentication): a reason code (0x18 continue, 0x19 re-authenticate) and properties."""
    return frame(0xF0, bytes([reason]) + properties(**(props or {})))


def disconnect(reason=0, protocol=V5, props=None) -> bytes:
    if protocol != V5 or (reason == 0 and not props):
        return frame(0xE0, b"")
    return frame(0xE0, bytes([reason]) + properties(**(props or {})))


# ---------------------------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------------------------

def read_varint(data: bytes, offset: int) -> tuple[int, int]:
    """The Variable Byte Integer at `offset` and the offset after it."""
    value, shift = 0, 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, offset


def read_properties(data: bytes, offset: int) -> tuple[dict, int]:
    """The property block at `offset` as {name: value} (lists for repeatable properties) and the offset after."""
    length, offset = read_varint(data, offset)
    end = offset + length
    decoded = {}
    while offset < end:
        identifier, offset = read_varint(data, offset)
        name, kind = PROPERTY_TYPES[identifier]
        if kind == "byte":
            value, offset = data[offset], offset + 1
        elif kind == "u16":
            value, offset = struct.unpack_from(">H", data, offset)[0], offset + 2
        elif kind == "u32":
            value, offset = struct.unpack_from(">I", data, offset)[0], offset + 4
        elif kind == "varint":
            value, offset = read_varint(data, offset)
        else:
            first, offset = _read_bytes(data, offset)
            if kind == "pair":
                second, offset = _read_bytes(data, offset)
                value = (first.decode(), second.decode())
            else:
                value = first.decode() if kind == "utf8" else first
        if name in REPEATABLE:
            decoded.setdefault(name, []).append(value)
        else:
            decoded[name] = value
    return decoded, end


def _read_bytes(data: bytes, offset: int) -> tuple[bytes, int]:
    length = struct.unpack_from(">H", data, offset)[0]
    return data[offset + 2:offset + 2 + length], offset + 2 + length


@dataclass
class Packet:
    """One received packet, with the fields of its type decoded (for the protocol version it was read with)."""
    kind: int
    flags: int
    body: bytes
    protocol: int = V5
    reason: int | None = None          # CONNACK, PUB*, SUBACK's first code, UNSUBACK's first, DISCONNECT
    codes: list = field(default_factory=list)   # SUBACK / UNSUBACK reason codes (return codes in 3.1.1)
    properties: dict = field(default_factory=dict)
    packet_id: int | None = None
    topic: str | None = None
    payload: bytes = b""
    session_present: bool = False

    @property
    def name(self) -> str:
        return PACKET_NAMES.get(self.kind, f"type {self.kind}")

    @property
    def qos(self) -> int:
        return (self.flags >> 1) & 3

    @property
    def retain(self) -> bool:
        return bool(self.flags & 1)

    @property
    def dup(self) -> bool:
        return bool(self.flags & 8)

    def __repr__(self):
        fields = {"reason": self.reason, "codes": self.codes or None, "packet_id": self.packet_id,
                  "topic": self.topic, "properties": self.properties or None}
        shown = ", ".join(f"{k}={v!r}" for k, v in fields.items() if v is not None)
        if self.kind == PUBLISH:
            shown += f", qos={self.qos}, retain={self.retain}, dup={self.dup}, payload={self.payload!r}"
        return f"{self.name}({shown})"


def parse(kind: int, flags: int, body: bytes, protocol: int) -> Packet:
    """Decodes the fields of a packet's body."""
    packet = Packet(kind, flags, body, protocol)
    v5 = protocol == V5
    if kind == CONNACK:
        packet.session_present, packet.reason = bool(body[0] & 1), body[1]
        if v5 and len(body) > 2:
            packet.properties, _ = read_properties(body, 2)
    elif kind == PUBLISH:
        topic, offset = _read_bytes(body, 0)
        packet.topic = topic.decode()
        if packet.qos:
            packet.packet_id, offset = struct.unpack_from(">H", body, offset)[0], offset + 2
        if v5:
            packet.properties, offset = read_properties(body, offset)
        packet.payload = body[offset:]
    elif kind in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        packet.packet_id = struct.unpack_from(">H", body, 0)[0]
        packet.reason = body[2] if v5 and len(body) > 2 else 0
        if v5 and len(body) > 3:
            packet.properties, _ = read_properties(body, 3)
    elif kind in (SUBACK, UNSUBACK):
        packet.packet_id = struct.unpack_from(">H", body, 0)[0]
        offset = 2
        if v5:
            packet.properties, offset = read_properties(body, offset)
        packet.codes = list(body[offset:])
        packet.reason = packet.codes[0] if packet.codes else None
    elif kind in (DISCONNECT, AUTH):
        packet.reason = body[0] if body else 0
        if len(body) > 1:
            packet.properties, _ = read_properties(body, 1)
    return packet


# ---------------------------------------------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------------------------------------------

class Connection:
    """A TCP connection to a broker speaking hand-built packets. Every read has a deadline."""

    def __init__(self, host, port, protocol=V5):
        self.protocol = protocol
        self.sock = socket.create_connection((host, port), timeout=DEADLINE)
        self.buffer = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self, count: int, end: float):
        while len(self.buffer) < count:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete packet before the deadline")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no complete packet before the deadline") from None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise EOFError("the broker closed the connection")
            self.buffer += chunk

    def read(self, deadline: float = DEADLINE) -> Packet:
        """The next packet; EOFError if the broker closed the connection, TimeoutError after `deadline` s."""
        end = time.monotonic() + deadline
        self._fill(2, end)
        length, shift, index = 0, 0, 1
        while True:
            self._fill(index + 1, end)
            byte = self.buffer[index]
            length |= (byte & 0x7F) << shift
            shift += 7
            index += 1
            if not byte & 0x80:
                break
        self._fill(index + length, end)
        first, body = self.buffer[0], self.buffer[index:index + length]
        self.buffer = self.buffer[index + length:]
        return parse(first >> 4, first & 0x0F, body, self.protocol)

    def expect(self, kind: int, deadline: float = DEADLINE) -> Packet:
        """The next packet, which must be of type `kind`."""
        packet = self.read(deadline)
        assert packet.kind == kind, f"expected {PACKET_NAMES[kind]}, got {packet}"
        return packet

    def silent_for(self, seconds: float) -> bool:
        """True if nothing arrives (and the connection stays open) for `seconds`: for what must not be sent.
        A packet that does arrive is kept for the next read()."""
        try:
            self._fill(len(self.buffer) + 1, time.monotonic() + seconds)
        except TimeoutError:
            return True
        except EOFError:
            return False
        return False

    def closing(self, deadline: float = DEADLINE) -> list[Packet]:
        """Reads until the broker closes the connection (then closes this side too) and returns the packets it
        sent before closing; AssertionError if it is still open after `deadline` s."""
        end = time.monotonic() + deadline
        packets = []
        while True:
            try:
                packets.append(self.read(max(0.0, end - time.monotonic())))
            except EOFError:
                self.close()
                return packets
            except TimeoutError:
                raise AssertionError(f"the broker did not close the connection within {deadline} s "
                                     f"(it sent {packets})") from None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def open_session(host, port, client_id="", protocol=V5, **connect_args) -> tuple[Connection, Packet]:
    """A connection that has sent CONNECT and received its CONNACK (any reason code): (connection, CONNACK)."""
    connection = Connection(host, port, protocol)
    connection.send(connect(client_id, protocol=protocol, **connect_args))
    return connection, connection.expect(CONNACK)
