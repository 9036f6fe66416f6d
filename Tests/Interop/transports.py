"""Helpers for the transport tests (test_websocket, test_tls, test_browser): Tern started from a configuration file
with several listeners, a minimal WebSocket client for byte-level checks, and MQTT.js under node.

- ``ConfiguredTern(directory, config)``: writes `config` (a mosquitto.conf text) to directory/tern.conf, starts
  `tern serve -c` on it and waits until every `listener PORT 127.0.0.1` line accepts TCP connections.
- ``RawWebSocket``: an RFC 6455 client over a plain socket, sending masked frames exactly as asked.
- ``run_node(script, ...)``: runs a node script with Debian's node modules (/usr/share/nodejs) on the path.
"""
import base64
import os
import re
import shutil
import socket
import struct
import subprocess
from pathlib import Path

from conftest import wait_for_port
from tern_broker import TernBroker

NODE_MODULES = "/usr/share/nodejs"


class ConfiguredTern(TernBroker):
    def __init__(self, directory: Path, config: str, deadline: float = 20.0):
        self.config_path = Path(directory) / "tern.conf"
        self.config_path.write_text(config)
        super().__init__("-c", str(self.config_path), deadline=deadline)
        for port in re.findall(r"^listener (\d+) 127\.0\.0\.1", config, re.M):
            wait_for_port("127.0.0.1", int(port), deadline, self.process)


def password_file(directory: Path, user: str = "user", password: str = "secret") -> Path:
    """A password file with one user, written by `tern passwd`."""
    from tern_broker import tern_binary
    path = Path(directory) / "passwd"
    result = subprocess.run([str(tern_binary()), "passwd", "-c", "-b", str(path), user, password],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return path


def handshake_request(port: int, path: str = "/mqtt", protocol: str | None = "mqtt", origin: str | None = None,
                      upgrade: bool = True) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if upgrade:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                  "Sec-WebSocket-Version: 13"]
        if protocol:
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
    if origin:
        lines.append(f"Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_http_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and whatever followed the header block (up to what has arrived)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    if not data:
        raise EOFError("closed without an HTTP response")
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


class RawWebSocket:
    """A WebSocket client that sends frames as given (masked, as a client must) and reads frames back."""

    def __init__(self, port: int, protocol: str | None = "mqtt", origin: str | None = None, timeout: float = 10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.sendall(handshake_request(port, protocol=protocol, origin=origin))
        self.status, self.headers, self.buffer = read_http_response(self.sock)

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        mask = os.urandom(4)
        header = bytes([(0x80 if fin else 0) | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8))[0]
        assert not second & 0x80, "server frames must not be masked"
        return first & 0x0F, self._read(length)

    def read_mqtt(self, count: int) -> bytes:
        """The payload bytes of binary frames until `count` bytes have arrived."""
        data = b""
        while len(data) < count:
            opcode, payload = self.read_frame()
            assert opcode in (0x0, 0x2), f"unexpected frame opcode {opcode}"
            data += payload
        return data

    def close(self) -> None:
        self.sock.close()


def node_binary() -> str | None:
    return shutil.which("node") or shutil.which("nodejs")


def run_node(script: str, *args: str, timeout: float = 30.0, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = dict(os.environ, NODE_PATH=NODE_MODULES, **(env or {}))
    return subprocess.run([node_binary(), "-e", script, *args], capture_output=True, text=True, timeout=timeout,
                          env=environment)


def mqttjs_available() -> bool:
    return node_binary() is not None and Path(NODE_MODULES, "mqtt").is_dir()


# MQTT.js under node: connects to argv[1] with the options in argv[3] (JSON; "caFile" is read into "ca"),
# subscribes to PREFIX/to-js (argv[2]) at QoS 1 and says "subscribed"; on the first message there, says
# "message TOPIC PAYLOAD", publishes "hello from MQTT.js" to PREFIX/from-js at QoS 1, says "published" and ends.
MQTTJS_ROUND_TRIP = r"""
const fs = require('fs');
const mqtt = require('mqtt');
const [url, prefix, json] = process.argv.slice(1);
const options = Object.assign({ clientId: 'mqttjs-' + process.pid, reconnectPeriod: 0, connectTimeout: 10000 },
                              JSON.parse(json || '{}'));
if (options.caFile) { options.ca = fs.readFileSync(options.caFile); delete options.caFile; }
const client = mqtt.connect(url, options);
const fail = (text) => { console.log('error ' + text); process.exit(2); };
client.on('error', (error) => fail(error.message));
client.on('connect', () => {
  client.subscribe(prefix + '/to-js', { qos: 1 }, (error) => error ? fail(error.message) : console.log('subscribed'));
});
client.on('message', (topic, payload) => {
  console.log('message ' + topic + ' ' + payload.toString());
  client.publish(prefix + '/from-js', 'hello from MQTT.js', { qos: 1 }, (error) => {
    if (error) fail(error.message);
    console.log('published');
    client.end(false, () => process.exit(0));
  });
});
setTimeout(() => fail('timeout'), 20000);
"""


def start_mqttjs_round_trip(url: str, prefix: str, options: dict | None = None) -> subprocess.Popen:
    import json
    environment = dict(os.environ, NODE_PATH=NODE_MODULES)
    return subprocess.Popen([node_binary(), "-e", MQTTJS_ROUND_TRIP, url, prefix, json.dumps(options or {})],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)


def wait_for_line(process: subprocess.Popen, wanted: str, deadline: float = 20.0) -> list[str]:
    """Lines the process printed up to one starting with `wanted`; fails with them all if it never comes."""
    import selectors
    import time
    lines = []
    end = time.monotonic() + deadline
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    while time.monotonic() < end:
        if selector.select(timeout=max(0.0, end - time.monotonic())):
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith(wanted):
                return lines
    raise AssertionError(f"no '{wanted}' line from {process.args[0]}; it printed: {lines}")
