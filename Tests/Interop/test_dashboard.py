"""The dashboard at `/`, loaded in headless Chromium (Debian's `chromium`): a connected client's id and a retained
topic must appear on the rendered page. The test saves a screenshot to .build-logs/dashboard.png for people to
look at."""
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import find_free_port
from http_admin import HTTPTern
from mqtt_helpers import Client
from tern_broker import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(profile: Path, *arguments: str) -> subprocess.CompletedProcess:
    # --virtual-time-budget lets the page's scripts run (fetches included) for that long before the dump/shot.
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={profile}", "--virtual-time-budget=8000", *arguments],
        capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/test installs it)")
def test_dashboard_shows_a_connected_client_in_chromium():
    with tempfile.TemporaryDirectory(prefix="tern-dashboard-") as directory:
        directory = Path(directory)
        broker = HTTPTern(directory, f"listener {find_free_port()} 127.0.0.1\nallow_anonymous true\n"
                                     "http_listener 0 127.0.0.1")
        try:
            client = Client(broker.port, client_id="kitchen-sensor-42")
            client.subscribe("commands/kitchen/#", qos=1)
            client.publish("sensors/kitchen/temperature", b"21.5", qos=1, retain=True)
            url = f"http://127.0.0.1:{broker.http_port}/"

            result = chromium(directory / "profile", "--dump-dom", url)
            dom = result.stdout
            assert re.search(r'<td class="client-id">kitchen-sensor-42</td>', dom), result.stderr[-2000:]
            assert 'data-counter="connectedClients"' in dom
            assert "temperature" in dom and "21.5" in dom  # the topic tree with the retained value

            screenshot = ROOT / ".build-logs" / "dashboard.png"
            screenshot.parent.mkdir(exist_ok=True)
            result = chromium(directory / "profile", "--window-size=1280,1000", f"--screenshot={screenshot}", url)
            assert screenshot.exists() and screenshot.stat().st_size > 10_000, result.stderr[-2000:]
            client.disconnect()
        finally:
            assert broker.stop() == 0, broker.output()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/test installs it)")
def test_dashboard_subscribes_through_the_websocket_listener():
    with tempfile.TemporaryDirectory(prefix="tern-dashboard-") as directory:
        directory = Path(directory)
        ws_port = find_free_port()
        settings = (f"listener {find_free_port()} 127.0.0.1\nallow_anonymous true\n"
                    f"listener {ws_port} 127.0.0.1\nprotocol websockets\nallow_anonymous true\n"
                    "http_listener 0 127.0.0.1")
        try:
            broker = HTTPTern(directory, settings)
        except RuntimeError as error:
            if "websockets is not supported" in str(error):
                pytest.skip("this build has no WebSocket listener")
            raise
        try:
            client = Client(broker.port, client_id="ws-feeder")
            client.publish("demo/ws/value", b"over-websocket-42", qos=1, retain=True)
            url = f"http://127.0.0.1:{broker.http_port}/#subscribe=demo%2F%23"
            result = chromium(directory / "profile", "--dump-dom", url)
            assert "demo/ws/value (retained): over-websocket-42" in result.stdout, result.stderr[-2000:]
            client.disconnect()
        finally:
            assert broker.stop() == 0, broker.output()
