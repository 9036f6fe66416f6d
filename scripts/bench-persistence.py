#!/usr/bin/env python3
"""Durable QoS 1 throughput and start-up time of the store (docs/persistence.md, BENCHMARKS.md).

usage: scripts/bench-persistence.py throughput TERN_BINARY [--publishers N] [--messages N] [--window N]
       scripts/bench-persistence.py startup TERN_BINARY [--sessions N] [--retained N]
       scripts/bench-persistence.py retained TERN_BINARY [--retained N]

throughput: P raw-socket MQTT 3.1.1 publishers each send M QoS 1 messages with W unacknowledged at a time; one
persistent subscriber (Clean Session 0, QoS 1 on bench/#) receives and acknowledges them all. The rate is
messages through the broker per second (PUBACKs to publishers and every message at the subscriber), for Tern
with its store (synchronous FULL), Tern with `persistence false`, and Mosquitto with `persistence true`.
Everything runs on 127.0.0.1 in one Python process (non-blocking sockets, one selector loop).

startup: fills a store with N sessions (one subscription each) and R retained messages, then times
`tern serve` from exec to its "listening on" line.

retained: publishes R retained messages (MQTT 3.1.1, QoS 0, topics sensors/{i // 1000}/{i % 1000}/temperature)
to a fresh broker, then times wildcard subscribes from new clean clients, from SUBSCRIBE to the last retained
message received: `sensors/+/7/temperature` (R / 1000 matches), `sensors/{R / 2000}/#` (1000), and `#` (all R) at QoS 0
and at QoS 1 (the subscriber acknowledges each message; the broker paces by its inflight window). Tern with its
store, Tern with `persistence false`, and Mosquitto with `max_queued_messages 0`; also each broker's RSS once the
retained messages are in.
"""
import argparse
import contextlib
import os
import re
import selectors
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def string(s: bytes) -> bytes:
    return len(s).to_bytes(2, "big") + s


def connect_packet(client_id: str, clean: bool) -> bytes:
    body = string(b"MQTT") + bytes([4, 0x02 if clean else 0x00]) + (60).to_bytes(2, "big") + string(client_id.encode())
    return b"\x10" + remaining_length(len(body)) + body


def subscribe_packet(topic_filter: str, qos: int = 1) -> bytes:
    body = (1).to_bytes(2, "big") + string(topic_filter.encode()) + bytes([qos])
    return b"\x82" + remaining_length(len(body)) + body


def publish_packet(topic: bytes, payload: bytes, packet_id: int) -> bytes:
    body = string(topic) + packet_id.to_bytes(2, "big") + payload
    return b"\x32" + remaining_length(len(body)) + body


def puback_packet(packet_id: int) -> bytes:
    return b"\x40\x02" + packet_id.to_bytes(2, "big")


class Connection:
    def __init__(self, port: int, client_id: str, clean: bool):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.sock.sendall(connect_packet(client_id, clean))
        packet_type, _ = self.read_blocking()
        assert packet_type == 0x20, f"no CONNACK for {client_id}"

    def packets(self):
        """Yields (type, body) of the complete packets in the buffer."""
        while True:
            if len(self.buffer) < 2:
                return
            multiplier, length, index = 1, 0, 1
            while True:
                if index >= len(self.buffer):
                    return
                byte = self.buffer[index]
                length += (byte & 0x7F) * multiplier
                multiplier *= 128
                index += 1
                if not byte & 0x80:
                    break
            if len(self.buffer) < index + length:
                return
            first = self.buffer[0]
            body = bytes(self.buffer[index:index + length])
            del self.buffer[:index + length]
            yield first, body

    def read_blocking(self):
        while True:
            for packet in self.packets():
                return packet[0] & 0xF0, packet[1]
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk


def throughput(port: int, publishers: int, messages: int, window: int, payload_size: int = 64) -> float:
    subscriber = Connection(port, "bench-subscriber", clean=False)
    subscriber.sock.sendall(subscribe_packet("bench/#"))
    assert subscriber.read_blocking()[0] == 0x90
    pubs = [Connection(port, f"bench-publisher-{i}", clean=True) for i in range(publishers)]
    payload = os.urandom(payload_size)
    sent = [0] * publishers
    acked = [0] * publishers
    received = 0
    total = publishers * messages
    selector = selectors.DefaultSelector()
    for index, connection in enumerate(pubs):
        connection.sock.setblocking(False)
        selector.register(connection.sock, selectors.EVENT_READ, ("pub", index))
    subscriber.sock.setblocking(False)
    selector.register(subscriber.sock, selectors.EVENT_READ, ("sub", 0))

    def top_up(index):
        burst = bytearray()
        while sent[index] < messages and sent[index] - acked[index] < window:
            sent[index] += 1
            burst += publish_packet(f"bench/{index}".encode(), payload, (sent[index] % 65535) + 1)
        if burst:
            pubs[index].sock.setblocking(True)
            pubs[index].sock.sendall(burst)
            pubs[index].sock.setblocking(False)

    started = time.monotonic()
    for index in range(publishers):
        top_up(index)
    while received < total or sum(acked) < total:
        events = selector.select(timeout=10)
        if not events:
            raise TimeoutError(f"stalled: sent {sent}, acknowledged {acked}, received {received}")
        for key, _ in events:
            role, index = key.data
            connection = subscriber if role == "sub" else pubs[index]
            try:
                chunk = connection.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            if not chunk:
                raise ConnectionError(f"{role} {index} closed")
            connection.buffer += chunk
            if role == "sub":
                acks = bytearray()
                for first, body in connection.packets():
                    if first & 0xF0 == 0x30:
                        topic_length = int.from_bytes(body[:2], "big")
                        packet_id = int.from_bytes(body[2 + topic_length:4 + topic_length], "big")
                        acks += puback_packet(packet_id)
                        received += 1
                if acks:
                    connection.sock.setblocking(True)
                    connection.sock.sendall(acks)
                    connection.sock.setblocking(False)
            else:
                for first, _ in connection.packets():
                    if first & 0xF0 == 0x40:
                        acked[index] += 1
                top_up(index)
    elapsed = time.monotonic() - started
    for connection in pubs + [subscriber]:
        connection.sock.close()
    return total / elapsed


def start(command, pattern=r"listening on 127\.0\.0\.1:(\d+)|Opening ipv4 listen socket on port (\d+)", deadline=120):
    log = tempfile.NamedTemporaryFile("w+", delete=False)
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    while time.monotonic() - started < deadline:
        text = open(log.name).read()
        match = re.search(pattern, text)
        if match:
            return process, int(next(g for g in match.groups() if g)), time.monotonic() - started, log.name
        if process.poll() is not None:
            raise RuntimeError(text)
        time.sleep(0.005)
    process.kill()
    raise TimeoutError(open(log.name).read())


@contextlib.contextmanager
def running(command):
    """A broker started with `command`, as (process, port); its log's tail is printed if the body fails."""
    process, port, _, log = start(command)
    try:
        yield process, port
    except Exception:
        print(open(log).read()[-3000:], file=sys.stderr)
        raise
    finally:
        process.terminate()
        process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_throughput(arguments):
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        memory_config = os.path.join(directory, "memory.conf")
        with open(memory_config, "w") as file:
            file.write("listener 0 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n")
        durable_config = os.path.join(directory, "durable.conf")
        with open(durable_config, "w") as file:
            file.write("listener 0 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
        port = free_port()
        mosquitto_config = os.path.join(directory, "mosquitto.conf")
        with open(mosquitto_config, "w") as file:
            file.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                       f"persistence_location {directory}/mosquitto/\nmax_queued_messages 0\n"
                       "max_inflight_messages 20\n")
        os.makedirs(f"{directory}/mosquitto", exist_ok=True)
        brokers = [
            ("Tern, store (synchronous FULL)", [arguments.binary, "serve", "-c", durable_config,
                                               "--data-dir", f"{directory}/durable"]),
            ("Tern, persistence false", [arguments.binary, "serve", "-c", memory_config]),
            ("Mosquitto 2, persistence true", ["mosquitto", "-c", mosquitto_config, "-v"]),
        ]
        for name, command in brokers:
            with running(command) as (_, port):
                rows.append((name, throughput(port, arguments.publishers, arguments.messages, arguments.window)))
    print(f"| broker | QoS 1 msg/s ({arguments.publishers} publishers x {arguments.messages}, window "
          f"{arguments.window}, 1 persistent subscriber) |")
    print("|---|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} |")


def publish_bytes(topic: bytes, payload: bytes) -> bytes:
    body = string(topic) + b"\x00" + payload  # MQTT 5 PUBLISH, QoS 0, empty properties
    return b"\x31" + remaining_length(len(body)) + body


def run_startup(arguments):
    with tempfile.TemporaryDirectory() as directory:
        # Create the schema with Tern itself, then fill it.
        process, _, _, _ = start([arguments.binary, "serve", "-p", "0", "--data-dir", directory])
        process.terminate()
        process.wait()
        database = sqlite3.connect(os.path.join(directory, "tern.sqlite"))
        database.execute("PRAGMA synchronous = OFF")
        database.executemany(
            "INSERT INTO session (client_id, protocol_version, expiry_interval, expires_at) VALUES (?, 5, 86400, ?)",
            ((f"client-{i}", int(time.time() * 1000) + 86_400_000) for i in range(arguments.sessions)))
        database.executemany(
            "INSERT INTO subscription (client_id, topic_filter, qos, no_local, retain_as_published, retain_handling) "
            "VALUES (?, ?, 1, 0, 0, 0)",
            ((f"client-{i}", f"devices/{i}/commands/#") for i in range(arguments.sessions)))
        database.executemany(
            "INSERT INTO retained (topic, message) VALUES (?, ?)",
            ((f"sensors/{i // 1000}/{i % 1000}/temperature",
              publish_bytes(f"sensors/{i // 1000}/{i % 1000}/temperature".encode(), b"21.5"))
             for i in range(arguments.retained)))
        database.commit()
        database.close()
        size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))
        process, _, seconds, log = start([arguments.binary, "serve", "-p", "0", "--data-dir", directory])
        restored = re.search(r"restored .*", open(log).read()).group(0)
        process.terminate()
        process.wait()
        print(f"| {arguments.sessions:,} sessions, {arguments.retained:,} retained | {size / 1e6:,.0f} MB | "
              f"{seconds:.1f} s | {restored} |")


def rss_megabytes(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def load_retained(port: int, count: int):
    publisher = Connection(port, "retained-loader", clean=True)
    chunk = bytearray()
    for i in range(count):
        topic = f"sensors/{i // 1000}/{i % 1000}/temperature".encode()
        body = string(topic) + b"21.5"
        chunk += b"\x31" + remaining_length(len(body)) + body
        if len(chunk) > 1 << 16:
            publisher.sock.sendall(chunk)
            chunk = bytearray()
    publisher.sock.sendall(bytes(chunk) + b"\xc0\x00")  # PINGREQ: answered once every PUBLISH before it is handled
    while publisher.read_blocking()[0] != 0xD0:
        pass
    publisher.sock.close()


def time_subscribe(port: int, topic_filter: str, qos: int, expected: int, client_id: str) -> float:
    subscriber = Connection(port, client_id, clean=True)
    started = time.monotonic()
    subscriber.sock.sendall(subscribe_packet(topic_filter, qos))
    received = 0
    while received < expected:
        chunk = subscriber.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError(f"closed after {received} of {expected} retained messages")
        subscriber.buffer += chunk
        acks = bytearray()
        for first, body in subscriber.packets():
            if first & 0xF0 != 0x30:
                continue
            received += 1
            if (first >> 1) & 3:
                topic_length = int.from_bytes(body[:2], "big")
                acks += puback_packet(int.from_bytes(body[2 + topic_length:4 + topic_length], "big"))
        if acks:
            subscriber.sock.sendall(acks)
    elapsed = time.monotonic() - started
    subscriber.sock.close()
    return elapsed


def run_retained(arguments):
    count = arguments.retained
    cases = [("sensors/+/7/temperature", count // 1000), (f"sensors/{count // 2000}/#", 1000), ("#", count)]
    with tempfile.TemporaryDirectory() as directory:
        settings = "allow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 20\n"
        memory_config = os.path.join(directory, "memory.conf")
        with open(memory_config, "w") as file:
            file.write("listener 0 127.0.0.1\npersistence false\n" + settings)
        durable_config = os.path.join(directory, "durable.conf")
        with open(durable_config, "w") as file:
            file.write("listener 0 127.0.0.1\n" + settings)
        port = free_port()
        mosquitto_config = os.path.join(directory, "mosquitto.conf")
        with open(mosquitto_config, "w") as file:
            file.write(f"listener {port} 127.0.0.1\n" + settings)
        brokers = [
            ("Tern, store", [arguments.binary, "serve", "-c", durable_config, "--data-dir", f"{directory}/durable"]),
            ("Tern, persistence false", [arguments.binary, "serve", "-c", memory_config]),
            ("Mosquitto 2", ["mosquitto", "-c", mosquitto_config]),
        ]
        header = ["broker", f"load {count:,} retained", "RSS after"]
        header += [f"`{topic_filter}` QoS {qos} ({expected:,})" for topic_filter, expected in cases for qos in (0, 1)]
        print("| " + " | ".join(header) + " |")
        print("|---" * len(header) + "|")
        for name, command in brokers:
            with running(command) as (process, port):
                started = time.monotonic()
                load_retained(port, count)
                row = [name, f"{time.monotonic() - started:.1f} s", f"{rss_megabytes(process.pid):,.0f} MB"]
                for index, (topic_filter, expected) in enumerate(cases):
                    for qos in (0, 1):
                        seconds = time_subscribe(port, topic_filter, qos, expected, f"retained-sub-{index}-{qos}")
                        row.append(f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s")
                print("| " + " | ".join(row) + " |", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["throughput", "startup", "retained"])
    parser.add_argument("binary")
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--retained", type=int, default=1_000_000)
    arguments = parser.parse_args()
    if arguments.mode == "throughput":
        run_throughput(arguments)
    elif arguments.mode == "retained":
        run_retained(arguments)
    else:
        run_startup(arguments)


if __name__ == "__main__":
    sys.exit(main())
