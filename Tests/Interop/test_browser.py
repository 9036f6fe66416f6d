"""MQTT.js in a page in headless Chromium, over ws:// and wss://, against Tern.

The page's script is Debian's node-mqtt bundled for the browser by Debian's esbuild (Node built-ins aliased to
the buffer/, events/, url/ and stream-browserify packages, empty modules for ws, net, tls, fs, crypto, zlib,
http and https, an injected Buffer/process shim) and served with the page by a small HTTP server of the test:
nothing comes from a CDN. The page reports each step with fetch() to that server; Chromium runs with
--remote-debugging-port=0 (so it stays up without --dump-dom's virtual-time tricks) and is stopped when the last
report arrives or the deadline passes. It runs the users' fundamentals document's browser example: subscribe to
dashboard/# at QoS 1, publish presence/browser retained, receive what a TCP client publishes to the dashboard.
A third run loads the page and the bundle from the broker's own WebSocket listener (`http_dir`).
For wss the test CA is not in Chromium's store: Chromium runs with --ignore-certificate-errors.
"""
import http.server
import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import find_free_port
from mqtt_helpers import Client
from pki import TestPKI
from transports import NODE_MODULES, ConfiguredTern, password_file

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ESBUILD = shutil.which("esbuild")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or ESBUILD is None or not Path(NODE_MODULES, "mqtt").is_dir(),
    reason="chromium, esbuild and node-mqtt are needed (scripts/test installs them)")
DEADLINE = 60.0

SHIM = """\
import { Buffer } from 'buffer/';
const process = { env: {}, title: 'browser', browser: true, argv: [], version: '', versions: {},
  platform: 'browser', cwd: () => '/', nextTick: (callback, ...args) => queueMicrotask(() => callback(...args)) };
export { Buffer, process };
"""

PAGE = """\
<!doctype html>
<html><head><meta charset="utf-8"><title>Tern dashboard test</title></head>
<body>
<script src="mqtt.bundle.js"></script>
<script>
const params = new URLSearchParams(location.search);
// To the test's server: this page's own, or the one named by ?report= when the broker served the page.
const reportTo = params.get('report') || '';
const report = (step, detail) => fetch(reportTo + '/report',
  { method: 'POST', mode: reportTo ? 'no-cors' : 'cors', body: JSON.stringify({ step, detail: detail || '' }) });
const updateDashboard = (topic, data) => report('message', topic + ' ' + JSON.stringify(data));
try {
  // The fundamentals document's example, with the test's broker address.
  const client = mqtt.connect(params.get('url'), {
    clientId: `browser-${Math.random().toString(16).slice(2)}`,
    username: 'user',
    password: 'secret',
    keepalive: 60,
    reconnectPeriod: 0,
  });
  client.on('connect', () => {
    report('connected');
    client.subscribe('dashboard/#', { qos: 1 }, (error) => report(error ? 'error' : 'subscribed', error && error.message));
    client.publish('presence/browser', 'online', { retain: true });
  });
  client.on('message', (topic, payload) => {
    const data = JSON.parse(payload.toString());
    updateDashboard(topic, data);
  });
  client.on('error', (error) => report('error', error.message));
} catch (error) {
  report('error', String(error));
}
</script>
</body></html>
"""


def bundle_mqttjs(directory: Path) -> Path:
    """Debian's node-mqtt as one browser script, `window.mqtt`."""
    (directory / "entry.js").write_text("import mqtt from 'mqtt';\nwindow.mqtt = mqtt;\n")
    (directory / "shim.js").write_text(SHIM)
    (directory / "empty.js").write_text("module.exports = {};\n")
    aliases = {"buffer": "buffer/", "events": "events/", "url": "url/", "stream": "stream-browserify"}
    aliases.update({name: "./empty.js" for name in ["ws", "net", "tls", "fs", "crypto", "zlib", "http", "https"]})
    result = subprocess.run(
        [ESBUILD, "entry.js", "--bundle", "--platform=browser", "--format=iife", "--outfile=mqtt.bundle.js",
         "--log-level=warning", "--define:global=globalThis", "--inject:./shim.js",
         *[f"--alias:{name}={target}" for name, target in aliases.items()]],
        cwd=directory, capture_output=True, text=True, timeout=120, env=dict(os.environ, NODE_PATH=NODE_MODULES))
    assert result.returncode == 0, result.stderr
    return directory / "mqtt.bundle.js"


class PageServer:
    """Serves the page and the bundle from `directory` on 127.0.0.1 and collects the page's reports."""

    def __init__(self, directory: Path):
        self.reports: queue.Queue = queue.Queue()
        reports = self.reports

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(directory), **kwargs)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                reports.put(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, step: str, deadline: float, seen: list) -> dict:
        end = time.monotonic() + deadline
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"the page never reported '{step}'; it reported {seen}")
            try:
                report = self.reports.get(timeout=remaining)
            except queue.Empty:
                continue
            seen.append(report)
            if report["step"] == "error":
                raise AssertionError(f"the page reported an error: {report['detail']} (after {seen})")
            if report["step"] == step:
                return report

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def site():
    directory = Path(tempfile.mkdtemp(prefix="tern-browser-"))
    bundle_mqttjs(directory)
    (directory / "dashboard.html").write_text(PAGE)
    server = PageServer(directory)
    pki = TestPKI(directory / "pki")
    yield server, pki, directory
    server.close()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def broker(site, tmp_path):
    _, pki, directory = site
    tcp, ws, wss = find_free_port(), find_free_port(), find_free_port()
    tern = ConfiguredTern(tmp_path, f"""
password_file {password_file(tmp_path)}
listener {tcp} 127.0.0.1
listener {ws} 127.0.0.1
protocol websockets
http_dir {directory}
listener {wss} 127.0.0.1
protocol websockets
{pki.server_settings()}""")
    tern.ports = {"tcp": tcp, "ws": ws, "wss": wss}
    yield tern
    assert tern.stop() == 0, tern.output()


@pytest.mark.parametrize("scheme", ["ws", "wss", "http_dir"])
def test_mqttjs_in_headless_chromium(site, broker, scheme, tmp_path):
    """`http_dir`: the page and MQTT.js come from the broker's WebSocket listener (Mosquitto's `http_dir`), and the
    page connects back to the same listener."""
    server, _, _ = site
    if scheme == "http_dir":
        origin = f"127.0.0.1:{broker.ports['ws']}"
        page = f"http://{origin}/dashboard.html?url=ws://{origin}/mqtt&report=http://127.0.0.1:{server.port}"
    else:
        url = f"{scheme}://127.0.0.1:{broker.ports[scheme]}/mqtt"
        page = f"http://127.0.0.1:{server.port}/dashboard.html?url={url}"
    backend = Client(broker.ports["tcp"], client_id=f"backend-{scheme}", username="user", password="secret")
    backend.subscribe("presence/#", qos=1)
    chromium = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--remote-debugging-port=0", f"--user-data-dir={tmp_path / 'profile'}", "--ignore-certificate-errors",
         page],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    seen: list = []
    try:
        server.wait_for("subscribed", DEADLINE, seen)
        assert [(m.topic, m.payload, m.retain) for m in backend.wait_for(1)] == \
            [("presence/browser", b"online", False)]
        backend.publish("dashboard/temperature", json.dumps({"celsius": 21.5}).encode(), qos=1)
        report = server.wait_for("message", DEADLINE, seen)
        assert report["detail"] == 'dashboard/temperature {"celsius":21.5}'
    finally:
        os.killpg(chromium.pid, signal.SIGKILL)
        chromium.wait()
        backend.disconnect()
