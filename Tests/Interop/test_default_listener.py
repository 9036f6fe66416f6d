"""Mosquitto's deprecated default listener (`port`, `bind_address`, and the listener settings written outside any
listener block), still common in older mosquitto.conf files: each scenario runs on Tern and on Debian's mosquitto
with the same file, and both must behave alike."""
import subprocess
import time
from pathlib import Path

import pytest

import raw_mqtt as raw
from conftest import find_free_port, mosquitto_binary, wait_for_port
from raw_mqtt import V311
from tern_broker import tern_binary

BROKERS = ["tern", "mosquitto"]


class Broker:
    """`tern serve -c FILE` or `mosquitto -c FILE` with the file as written (no listener added)."""

    def __init__(self, kind: str, directory: Path, text: str, ports: list[int]):
        config = directory / f"{kind}.conf"
        config.write_text(text)
        self.log = directory / f"{kind}.log"
        binary = [str(tern_binary()), "serve"] if kind == "tern" else [mosquitto_binary()]
        # Tern keeps its data in the current directory by default.
        self.process = subprocess.Popen([*binary, "-c", str(config)], cwd=directory, stdin=subprocess.DEVNULL,
                                        stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        for port in ports:
            wait_for_port("127.0.0.1", port, 20, self.process)

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def first_session(port: int, client_id: str) -> raw.Connection:
    """The listener's one allowed connection, as soon as the listener is open. (Not found with a probe first:
    mosquitto 2.0.11 counts a connection closed before its CONNECT wrongly, and then lets a second one in.)"""
    end = time.monotonic() + 10
    while True:
        try:
            connection, connack = raw.open_session("127.0.0.1", port, client_id, protocol=V311)
            assert connack.reason == 0, connack
            return connection
        except (EOFError, ConnectionRefusedError):
            if time.monotonic() > end:
                raise
            time.sleep(0.05)  # noqa: retry pace until the listener is open


@pytest.fixture(params=BROKERS)
def broker(request, tmp_path):
    started = []

    def start(text: str, ports: list[int]) -> Broker:
        started.append(Broker(request.param, tmp_path, text, ports))
        return started[-1]

    start.kind = request.param
    yield start
    for each in started:
        each.stop()


def test_port_and_bind_address_open_the_default_listener_with_the_settings_outside_any_listener(broker):
    """The classic file: `port` for MQTT, a second `listener` block. `max_connections`, written before any
    listener, belongs to the default listener only; messages cross between the two listeners."""
    default_port, other_port = find_free_port(), find_free_port()
    broker(f"max_connections 1\nport {default_port}\nbind_address 127.0.0.1\n"
                     f"listener {other_port} 127.0.0.1\nallow_anonymous true\n", [other_port])
    first = first_session(default_port, "first")
    # The default listener's limit: the second connection there is closed without a CONNACK.
    second = raw.Connection("127.0.0.1", default_port, V311)
    second.send(raw.connect("second", protocol=V311))
    assert second.closing() == []
    # The other listener has no limit.
    subscribers = [raw.open_session("127.0.0.1", other_port, f"sub-{i}", protocol=V311) for i in range(2)]
    for connection, connack in subscribers:
        assert connack.reason == 0
        connection.send(raw.subscribe(1, [("crossing/#", 1)], protocol=V311))
        assert connection.expect(raw.SUBACK).codes == [1]
    first.send(raw.publish("crossing/1", b"from the default listener", qos=1, packet_id=7, protocol=V311))
    assert first.expect(raw.PUBACK).packet_id == 7
    for connection, _ in subscribers:
        message = connection.expect(raw.PUBLISH)
        assert (message.topic, message.payload) == ("crossing/1", b"from the default listener")
        connection.close()
    first.close()


def test_a_default_listener_refuses_anonymous_clients_unless_allowed(broker):
    """A file that opens a listener (the default one too) is not Mosquitto 2.0's local-only mode."""
    port = find_free_port()
    running = broker(f"port {port}\nbind_address 127.0.0.1\n", [port])
    connection, connack = raw.open_session("127.0.0.1", port, "anonymous", protocol=V311)
    assert connack.reason == 5, running.output()  # not authorized
    connection.close()
    if broker.kind == "tern":
        assert "port: deprecated in Mosquitto 2.0" in running.output()
