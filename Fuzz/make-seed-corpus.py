#!/usr/bin/env python3
"""Writes the hand-assembled seed inputs of the decoder fuzz target to Fuzz/corpus/decoder/seed-*.

Each seed is one packet (or, for `session-*`, a client's packets in a row) in the wire format of MQTT 3.1, 3.1.1
(OASIS, 2014) or 5.0 (OASIS, 2019), section numbers below. The fuzzer decodes every input starting from each
decoder state (server side, 3.1, 3.1.1, 5.0), so a seed is useful even where its version does not match.
Rerunning it rewrites the same files; inputs libFuzzer adds to the corpus have other names and are kept.
"""
from pathlib import Path


def vbi(n: int) -> bytes:
    """Variable Byte Integer (5.0 1.5.5)."""
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(text: str) -> bytes:
    """UTF-8 Encoded String (1.5.4): two-byte length, then the bytes."""
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def b(data: bytes) -> bytes:
    """Binary Data (1.5.6)."""
    return len(data).to_bytes(2, "big") + data


def u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


def props(*items: bytes) -> bytes:
    """Properties (2.2.2): their length as a Variable Byte Integer, then identifier + value each."""
    body = b"".join(items)
    return vbi(len(body)) + body


def packet(first_byte: int, *parts: bytes) -> bytes:
    """Fixed header (2.1.1): type and flags, Remaining Length, then the rest."""
    body = b"".join(parts)
    return bytes([first_byte]) + vbi(len(body)) + body


# Property identifiers (5.0 2.2.2.2).
PAYLOAD_FORMAT, MESSAGE_EXPIRY, CONTENT_TYPE, RESPONSE_TOPIC, CORRELATION_DATA = 0x01, 0x02, 0x03, 0x08, 0x09
SUBSCRIPTION_ID, SESSION_EXPIRY, ASSIGNED_CLIENT_ID, SERVER_KEEP_ALIVE = 0x0B, 0x11, 0x12, 0x13
AUTH_METHOD, AUTH_DATA, REQUEST_PROBLEM_INFO, WILL_DELAY, REQUEST_RESPONSE_INFO = 0x15, 0x16, 0x17, 0x18, 0x19
REASON_STRING, RECEIVE_MAXIMUM, TOPIC_ALIAS_MAXIMUM, TOPIC_ALIAS, MAXIMUM_QOS = 0x1F, 0x21, 0x22, 0x23, 0x24
RETAIN_AVAILABLE, USER_PROPERTY, MAXIMUM_PACKET_SIZE = 0x25, 0x26, 0x27

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 0x10, 0x20, 0x30, 0x40, 0x50, 0x62, 0x70
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = (
    0x82, 0x90, 0xA2, 0xB0, 0xC0, 0xD0, 0xE0, 0xF0)

# CONNECT flags (3.1.2.3): user name, password, will retain, will QoS (2 bits), will, clean session/start.
USERNAME, PASSWORD, WILL_RETAIN, WILL, CLEAN = 0x80, 0x40, 0x20, 0x04, 0x02


def will_qos(qos: int) -> int:
    return qos << 3


seeds = {
    # --- MQTT 3.1.1 (protocol name "MQTT", level 4) ---
    "connect-v311": packet(CONNECT, s("MQTT"), bytes([4, CLEAN]), u16(60), s("tern")),
    "connect-v311-will-user-password": packet(
        CONNECT, s("MQTT"), bytes([4, USERNAME | PASSWORD | WILL_RETAIN | will_qos(1) | WILL | CLEAN]), u16(30),
        s("device-001"), s("devices/device-001/status"), b(b"offline"), s("alice"), b(b"secret")),
    "connack-v311": packet(CONNACK, bytes([0x01, 0x00])),  # session present, accepted
    "publish-qos0-v311": packet(PUBLISH, s("a/b"), b"hi"),
    "publish-qos1-v311": packet(PUBLISH | 0x02, s("sensors/temperature"), u16(1), b"24.3"),
    "publish-qos2-dup-retain-v311": packet(PUBLISH | 0x08 | 0x04 | 0x01, s("home/door"), u16(0xFFFF), b"open"),
    "puback-v311": packet(PUBACK, u16(1)),
    "pubrec-v311": packet(PUBREC, u16(2)),
    "pubrel-v311": packet(PUBREL, u16(2)),
    "pubcomp-v311": packet(PUBCOMP, u16(2)),
    "subscribe-v311": packet(SUBSCRIBE, u16(10), s("home/+/temperature"), bytes([1]), s("factory/#"), bytes([2])),
    "suback-v311": packet(SUBACK, u16(10), bytes([0x01, 0x02, 0x80])),
    "unsubscribe-v311": packet(UNSUBSCRIBE, u16(11), s("home/+/temperature"), s("factory/#")),
    "unsuback-v311": packet(UNSUBACK, u16(11)),
    "pingreq": packet(PINGREQ),
    "pingresp": packet(PINGRESP),
    "disconnect-v311": packet(DISCONNECT),

    # --- MQTT 3.1 (protocol name "MQIsdp", level 3) ---
    "connect-v31": packet(CONNECT, s("MQIsdp"), bytes([3, CLEAN]), u16(60), s("legacy-client")),

    # --- MQTT 5.0 (protocol name "MQTT", level 5) ---
    "connect-v5": packet(
        CONNECT, s("MQTT"), bytes([5, CLEAN]), u16(60),
        props(bytes([SESSION_EXPIRY]) + u32(3600), bytes([RECEIVE_MAXIMUM]) + u16(20)),
        s("tern")),
    "connect-v5-will-auth-user-password": packet(
        CONNECT, s("MQTT"), bytes([5, USERNAME | PASSWORD | will_qos(2) | WILL]), u16(0),
        props(bytes([MAXIMUM_PACKET_SIZE]) + u32(1 << 20), bytes([TOPIC_ALIAS_MAXIMUM]) + u16(10),
              bytes([REQUEST_RESPONSE_INFO, 1]), bytes([REQUEST_PROBLEM_INFO, 0]),
              bytes([USER_PROPERTY]) + s("region") + s("eu"), bytes([AUTH_METHOD]) + s("SCRAM-SHA-1"),
              bytes([AUTH_DATA]) + b(b"client-first")),
        s(""),  # empty client identifier: the server assigns one
        props(bytes([WILL_DELAY]) + u32(5), bytes([PAYLOAD_FORMAT, 1]), bytes([MESSAGE_EXPIRY]) + u32(60),
              bytes([CONTENT_TYPE]) + s("text/plain"), bytes([RESPONSE_TOPIC]) + s("replies/x"),
              bytes([CORRELATION_DATA]) + b(b"\x00\x01"), bytes([USER_PROPERTY]) + s("k") + s("v")),
        s("devices/d/status"), b(b"gone"), s("bob"), b(b"\x00\xffpw")),
    "connack-v5": packet(
        CONNACK, bytes([0x00, 0x00]),
        props(bytes([RECEIVE_MAXIMUM]) + u16(100), bytes([MAXIMUM_QOS, 1]), bytes([RETAIN_AVAILABLE, 1]),
              bytes([TOPIC_ALIAS_MAXIMUM]) + u16(10), bytes([ASSIGNED_CLIENT_ID]) + s("auto-1"),
              bytes([SERVER_KEEP_ALIVE]) + u16(30))),
    "connack-v5-refused": packet(CONNACK, bytes([0x00, 0x87]), props(bytes([REASON_STRING]) + s("not authorized"))),
    "publish-qos0-v5": packet(PUBLISH, s("a/b"), props(), b"hi"),
    "publish-qos1-v5": packet(
        PUBLISH | 0x02, s("sensors/temperature"), u16(1),
        props(bytes([PAYLOAD_FORMAT, 1]), bytes([MESSAGE_EXPIRY]) + u32(30), bytes([TOPIC_ALIAS]) + u16(1)),
        b"24.3"),
    "publish-qos2-retain-v5": packet(
        PUBLISH | 0x04 | 0x01, s("commands/device-007/reboot"), u16(7),
        props(bytes([CONTENT_TYPE]) + s("application/json"), bytes([RESPONSE_TOPIC]) + s("replies/client-001"),
              bytes([CORRELATION_DATA]) + b(b"req-42"), bytes([USER_PROPERTY]) + s("trace") + s("abc"),
              bytes([USER_PROPERTY]) + s("trace") + s("def")),
        b'{"delay": 5}'),
    "publish-topic-alias-only-v5": packet(PUBLISH, s(""), props(bytes([TOPIC_ALIAS]) + u16(1)), b"2"),
    "puback-v5-short": packet(PUBACK, u16(1)),  # reason code 0 and no properties may be left out
    "puback-v5": packet(PUBACK, u16(1), bytes([0x10]), props(bytes([REASON_STRING]) + s("no subscribers"))),
    "pubrec-v5": packet(PUBREC, u16(2), bytes([0x00])),
    "pubrel-v5": packet(PUBREL, u16(2), bytes([0x92]), props()),  # packet identifier not found
    "pubcomp-v5": packet(PUBCOMP, u16(2), bytes([0x00]), props()),
    "subscribe-v5": packet(
        SUBSCRIBE, u16(10), props(bytes([SUBSCRIPTION_ID]) + vbi(200), bytes([USER_PROPERTY]) + s("a") + s("b")),
        # options (3.8.3.1): retain handling 2, retain as published, no local, QoS 2
        s("home/+/temperature"), bytes([0x20 | 0x08 | 0x04 | 0x02]),
        s("$share/workers/sensors/#"), bytes([0x01])),
    "suback-v5": packet(SUBACK, u16(10), props(bytes([REASON_STRING]) + s("ok")), bytes([0x02, 0x01, 0x97])),
    "unsubscribe-v5": packet(UNSUBSCRIBE, u16(11), props(bytes([USER_PROPERTY]) + s("a") + s("b")), s("factory/#")),
    "unsuback-v5": packet(UNSUBACK, u16(11), props(), bytes([0x00, 0x11])),
    "disconnect-v5": packet(
        DISCONNECT, bytes([0x04]),  # disconnect with will message
        props(bytes([SESSION_EXPIRY]) + u32(0), bytes([REASON_STRING]) + s("bye"))),
    "disconnect-v5-short": packet(DISCONNECT, bytes([0x8E])),  # session taken over, no properties
    "auth-v5": packet(
        AUTH, bytes([0x18]),  # continue authentication
        props(bytes([AUTH_METHOD]) + s("SCRAM-SHA-1"), bytes([AUTH_DATA]) + b(b"server-first"))),
}

# A client's packets in a row, for the server-side decoder, which learns the version from CONNECT.
seeds["session-v311"] = b"".join(seeds[name] for name in (
    "connect-v311", "subscribe-v311", "publish-qos1-v311", "puback-v311", "pubrel-v311", "pingreq",
    "unsubscribe-v311", "disconnect-v311"))
seeds["session-v5"] = b"".join(seeds[name] for name in (
    "connect-v5", "subscribe-v5", "publish-qos2-retain-v5", "pubrel-v5", "auth-v5", "pingreq", "unsubscribe-v5",
    "disconnect-v5"))
seeds["session-v31"] = b"".join(seeds[name] for name in (
    "connect-v31", "subscribe-v311", "publish-qos0-v311", "pingreq", "disconnect-v311"))

if __name__ == "__main__":
    directory = Path(__file__).resolve().parent / "corpus" / "decoder"
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (directory / f"seed-{name}").write_bytes(data)
    print(f"wrote {len(seeds)} seeds to {directory}")
