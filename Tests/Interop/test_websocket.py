"""MQTT over WebSocket: Tern's `protocol websockets` listeners with real WebSocket clients.

- paho-mqtt 2.x with transport="websockets" (MQTT 3.1.1 and 5.0) publishes and subscribes over ws://.../mqtt;
- messages cross transports: a TCP client's message reaches a WebSocket subscriber and the other way round, and
  mosquitto_sub over TCP sees what MQTT.js (Debian's node-mqtt, under node) publishes over WebSocket;
- byte level (a minimal RFC 6455 client): MQTT packets split across frames and several packets in one frame,
  ping answered with pong, close echoed, text frame closed with 1003, subprotocols mqtt and mqttv3.1, a
  configured origin check, and a plain HTTP request answered 426 with an explanation;
- with `http_dir`, plain HTTP requests get the directory's files (and nothing outside it) beside MQTT;
- a 300 kB message over WebSocket arrives whole over TCP.
"""
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import find_free_port
from mqtt_helpers import V311, V5, Client, wait_until
from tern_broker import tern_binary
from transports import (ConfiguredTern, RawWebSocket, handshake_request, mqttjs_available, read_http_response,
                        start_mqttjs_round_trip, wait_for_line)

CONNECT = bytes([0x10, 0x0E, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3C, 0x00, 0x02]) + b"ws"
CONNACK = bytes([0x20, 0x02, 0x00, 0x00])
SUBSCRIBE = bytes([0x82, 0x08, 0x00, 0x01, 0x00, 0x03]) + b"a/b" + bytes([0x00])
SUBACK = bytes([0x90, 0x03, 0x00, 0x01, 0x00])
PINGREQ, PINGRESP = bytes([0xC0, 0x00]), bytes([0xD0, 0x00])


@pytest.fixture
def broker():
    """Tern with a TCP and a WebSocket listener on free ports; .tcp_port and .ws_port."""
    directory = Path(tempfile.mkdtemp(prefix="tern-ws-"))
    tcp, ws = find_free_port(), find_free_port()
    tern = ConfiguredTern(directory, f"""
listener {tcp} 127.0.0.1
listener {ws} 127.0.0.1
protocol websockets
allow_anonymous true
""")
    tern.tcp_port, tern.ws_port = tcp, ws
    yield tern
    code = tern.stop()
    shutil.rmtree(directory, ignore_errors=True)
    assert code == 0, tern.output()


@pytest.mark.parametrize("protocol", [pytest.param(V311, id="v3.1.1"), pytest.param(V5, id="v5")])
def test_paho_over_websocket_publishes_and_subscribes(broker, protocol):
    client = Client(broker.ws_port, client_id="paho-ws", protocol=protocol, transport="websockets")
    assert client.connack[1] == 0
    client.subscribe("ws/echo", qos=1)
    client.publish("ws/echo", b"over websocket", qos=1)
    assert [m.payload for m in client.wait_for(1)] == [b"over websocket"]
    client.disconnect()


def test_messages_cross_between_tcp_and_websocket(broker):
    tcp = Client(broker.tcp_port, client_id="tcp-side")
    ws = Client(broker.ws_port, client_id="ws-side", transport="websockets")
    tcp.subscribe("cross/to-tcp", qos=1)
    ws.subscribe("cross/to-ws", qos=1)
    ws.publish("cross/to-tcp", b"from websocket", qos=1)
    tcp.publish("cross/to-ws", b"from tcp", qos=1)
    assert [m.payload for m in tcp.wait_for(1)] == [b"from websocket"]
    assert [m.payload for m in ws.wait_for(1)] == [b"from tcp"]
    tcp.disconnect()
    ws.disconnect()


def test_a_large_message_over_websocket_arrives_whole_over_tcp(broker):
    tcp = Client(broker.tcp_port, client_id="tcp-large")
    tcp.subscribe("large", qos=1)
    ws = Client(broker.ws_port, client_id="ws-large", transport="websockets")
    payload = bytes(range(256)) * 1200
    ws.publish("large", payload, qos=1)
    assert [m.payload for m in tcp.wait_for(1)] == [payload]
    tcp.disconnect()
    ws.disconnect()


@pytest.mark.skipif(not mqttjs_available(), reason="node and Debian's node-mqtt are needed (scripts/test installs)")
@pytest.mark.skipif(shutil.which("mosquitto_sub") is None, reason="mosquitto-clients not installed")
def test_mqttjs_under_node_talks_to_tcp_clients(broker):
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.tcp_port), "-t", "js/from-js",
                            "-q", "1", "-C", "1", "-W", "20"], stdout=subprocess.PIPE, text=True)
    tcp = Client(broker.tcp_port, client_id="tcp-to-js")
    # mosquitto_sub is subscribed once a retained-free publish to its topic would reach it: probe with paho.
    probe = Client(broker.tcp_port, client_id="probe")
    probe.subscribe("js/from-js", qos=1)
    node = start_mqttjs_round_trip(f"ws://127.0.0.1:{broker.ws_port}/mqtt", "js")
    try:
        wait_for_line(node, "subscribed")
        tcp.publish("js/to-js", b"hello from paho", qos=1)
        lines = wait_for_line(node, "published")
        assert "message js/to-js hello from paho" in lines
        assert node.wait(10) == 0
        assert [m.payload for m in probe.wait_for(1)] == [b"hello from MQTT.js"]
        out, _ = sub.communicate(timeout=20)
        assert out.strip() == "hello from MQTT.js"
    finally:
        node.kill()
        sub.kill()
    tcp.disconnect()
    probe.disconnect()


def test_packets_split_across_frames_and_several_in_one_frame(broker):
    ws = RawWebSocket(broker.ws_port)
    assert ws.status == 101 and ws.headers["sec-websocket-protocol"] == "mqtt"
    # CONNECT in three frames (a binary frame and two continuations), then SUBSCRIBE and PINGREQ in one frame.
    ws.send_frame(0x2, CONNECT[:3], fin=False)
    ws.send_frame(0x0, CONNECT[3:9], fin=False)
    ws.send_frame(0x0, CONNECT[9:])
    assert ws.read_mqtt(4) == CONNACK
    ws.send_frame(0x2, SUBSCRIBE + PINGREQ + PINGREQ[:1])
    ws.send_frame(0x2, PINGREQ[1:])
    assert ws.read_mqtt(len(SUBACK) + 4) == SUBACK + PINGRESP + PINGRESP
    ws.close()


def test_ping_close_and_text_frames(broker):
    ws = RawWebSocket(broker.ws_port)
    ws.send_frame(0x2, CONNECT)
    assert ws.read_mqtt(4) == CONNACK
    ws.send_frame(0x9, b"are you there")
    assert ws.read_frame() == (0xA, b"are you there")
    ws.send_frame(0x8, (1000).to_bytes(2, "big"))
    assert ws.read_frame() == (0x8, (1000).to_bytes(2, "big"))
    ws.close()

    text = RawWebSocket(broker.ws_port)
    text.send_frame(0x1, b"MQTT is binary")
    opcode, payload = text.read_frame()
    assert (opcode, int.from_bytes(payload[:2], "big")) == (0x8, 1003)
    text.close()


@pytest.mark.parametrize("protocol", ["mqtt", "mqttv3.1", None])
def test_subprotocols(broker, protocol):
    ws = RawWebSocket(broker.ws_port, protocol=protocol)
    assert ws.status == 101
    assert ws.headers.get("sec-websocket-protocol") == protocol
    ws.close()


def test_an_unknown_subprotocol_is_refused(broker):
    ws = RawWebSocket(broker.ws_port, protocol="chat")
    assert ws.status == 400
    assert b"subprotocol mqtt" in ws.buffer
    ws.close()


def test_a_plain_http_request_gets_a_clear_answer(broker):
    with socket.create_connection(("127.0.0.1", broker.ws_port), timeout=10) as sock:
        sock.sendall(handshake_request(broker.ws_port, path="/", upgrade=False))
        status, headers, body = read_http_response(sock)
    assert status == 426
    assert headers["upgrade"] == "websocket"
    assert b"MQTT over WebSocket" in body


def http_get(port: int, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request with the target exactly as written; reads the whole response (the server closes after it)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        status, headers, body = read_http_response(sock)
        while chunk := sock.recv(65536):
            body += chunk
    return status, headers, body


def test_http_dir_serves_its_files_beside_mqtt_over_websocket(tmp_path):
    """Mosquitto's `http_dir`: plain HTTP requests to a websockets listener get the directory's files (a page and
    what it loads), with their content types; nothing outside the directory is reachable, by `..` or by a link;
    the same listener still carries MQTT over WebSocket."""
    site = tmp_path / "www"
    (site / "js").mkdir(parents=True)
    (site / "index.html").write_text("<h1>dashboard</h1>\n")
    large = bytes(range(256)) * 4096 + b"end"  # 1 MiB and 3 bytes: many chunks, the last one short
    (site / "js" / "app.js").write_bytes(large)
    (tmp_path / "secret.txt").write_text("not for the web\n")
    (site / "escape").symlink_to(tmp_path / "secret.txt")
    ws = find_free_port()
    tern = ConfiguredTern(tmp_path, f"listener {ws} 127.0.0.1\nprotocol websockets\nhttp_dir {site}\n"
                                    "allow_anonymous true\n")
    try:
        status, headers, body = http_get(ws, "/")
        assert (status, headers["content-type"], body) == (200, "text/html; charset=utf-8", b"<h1>dashboard</h1>\n")
        status, headers, body = http_get(ws, "/js/app.js?version=2")
        assert (status, headers["content-type"], int(headers["content-length"])) == (
            200, "text/javascript; charset=utf-8", len(large))
        assert body == large
        status, headers, body = http_get(ws, "/js/app.js", method="HEAD")
        assert (status, int(headers["content-length"]), body) == (200, len(large), b"")
        status, headers, _ = http_get(ws, "/js")
        assert (status, headers["location"]) == (301, "/js/")
        assert http_get(ws, "/js/")[0] == 404  # no index.html there
        assert http_get(ws, "/missing.html")[0] == 404
        for target in ("/../secret.txt", "/%2e%2e/secret.txt", "/js/../../secret.txt", "/escape"):
            status, _, body = http_get(ws, target)
            assert status == 403 and b"not for the web" not in body, target
        status, headers, _ = http_get(ws, "/index.html", method="POST")
        assert (status, headers["allow"]) == (405, "GET, HEAD")
        client = Client(ws, client_id="beside-http", transport="websockets")
        client.subscribe("http/dir", qos=1)
        client.publish("http/dir", b"still mqtt", qos=1)
        assert [m.payload for m in client.wait_for(1)] == [b"still mqtt"]
        client.disconnect()
    finally:
        assert tern.stop() == 0, tern.output()


def test_an_http_dir_that_is_not_a_directory_stops_the_broker(tmp_path):
    config = tmp_path / "tern.conf"
    config.write_text(f"listener {find_free_port()} 127.0.0.1\nprotocol websockets\nhttp_dir {tmp_path}/none\n")
    result = subprocess.run([str(tern_binary()), "serve", "-c", str(config)], capture_output=True, text=True,
                            timeout=20)
    assert result.returncode == 1
    assert f"http_dir {tmp_path}/none: not a directory" in result.stderr


def test_origins_can_be_restricted():
    directory = Path(tempfile.mkdtemp(prefix="tern-ws-origin-"))
    port = find_free_port()
    tern = ConfiguredTern(directory, f"""
listener {port} 127.0.0.1
protocol websockets
websockets_origin https://app.example.com
allow_anonymous true
""")
    try:
        allowed = RawWebSocket(port, origin="https://app.example.com")
        assert allowed.status == 101
        allowed.close()
        refused = RawWebSocket(port, origin="https://evil.example.net")
        assert refused.status == 403
        refused.close()
        # Not a browser: no Origin header, not restricted.
        assert RawWebSocket(port).status == 101
    finally:
        assert tern.stop() == 0, tern.output()
        shutil.rmtree(directory, ignore_errors=True)


def mqtt_connect_answer(port: int, username: bytes | None = None) -> bytes:
    """The broker's first bytes after a 3.1.1 CONNECT over TCP (b"" when it closes without answering)."""
    flags, payload = 0x02, b"\x00\x00"
    if username is not None:
        flags |= 0x80
        payload += len(username).to_bytes(2, "big") + username
    body = b"\x00\x04MQTT\x04" + bytes([flags]) + b"\x00\x3c" + payload
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(bytes([0x10, len(body)]) + body)
        try:
            return sock.recv(4)
        except ConnectionResetError:
            return b""


def test_max_connections_per_listener(tmp_path):
    tcp, ws = find_free_port(), find_free_port()
    tern = ConfiguredTern(tmp_path, f"""
listener {tcp} 127.0.0.1
max_connections 2
listener {ws} 127.0.0.1
protocol websockets
max_connections 1
allow_anonymous true
""")
    try:
        first = Client(tcp, client_id="first")
        second = Client(tcp, client_id="second")
        assert mqtt_connect_answer(tcp) == b""
        only_ws = Client(ws, client_id="only-ws", transport="websockets")
        # The WebSocket listener's one place is taken, the TCP listener's count is its own.
        with pytest.raises((EOFError, ConnectionResetError)):
            RawWebSocket(ws)
        first.disconnect()
        assert wait_until(lambda: mqtt_connect_answer(tcp) == CONNACK)
        assert "max_connections (2)" in tern.output()
        second.disconnect()
        only_ws.disconnect()
    finally:
        assert tern.stop() == 0, tern.output()


def test_per_listener_settings_make_anonymous_access_per_listener(tmp_path):
    open_port, closed_port, global_port = find_free_port(), find_free_port(), find_free_port()
    # Mosquitto 2.0: with per_listener_settings true, each listener needs its own allow_anonymous true.
    tern = ConfiguredTern(tmp_path, f"""
per_listener_settings true
listener {open_port} 127.0.0.1
allow_anonymous true
listener {closed_port} 127.0.0.1
protocol websockets
""")
    try:
        assert mqtt_connect_answer(open_port) == CONNACK
        refused = Client(closed_port, client_id="anonymous-ws", protocol=V311, transport="websockets")
        assert str(refused.connack[1]) == "Not authorized"
    finally:
        assert tern.stop() == 0, tern.output()
    # Without it, one allow_anonymous true opens every listener.
    tern = ConfiguredTern(tmp_path, f"""
listener {global_port} 127.0.0.1
listener {closed_port} 127.0.0.1
protocol websockets
allow_anonymous true
""")
    try:
        assert mqtt_connect_answer(global_port) == CONNACK
        assert Client(closed_port, client_id="anonymous-ws", transport="websockets").connack[1] == 0
    finally:
        assert tern.stop() == 0, tern.output()


def test_a_connection_that_never_upgrades_is_closed(tmp_path):
    port = find_free_port()
    tern = ConfiguredTern(tmp_path, f"""
connect_timeout 1
listener {port} 127.0.0.1
protocol websockets
allow_anonymous true
""")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
            sock.sendall(b"GET /mqtt HTTP/1.1\r\n")   # and nothing more
            assert sock.recv(1) == b""
    finally:
        assert tern.stop() == 0, tern.output()
