"""`tern bench` over every transport: TLS (with a CA file and with a client certificate), WebSocket and WebSocket
over TLS, against Tern's listeners and against Debian's Mosquitto (an independent server for the same flags).
Short runs at QoS 1: every message sent must arrive exactly once."""
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import MosquittoBroker, find_free_port, wait_for_port
from pki import TestPKI
from tern_broker import tern_binary
from transports import ConfiguredTern


@pytest.fixture(scope="module")
def pki():
    directory = Path(tempfile.mkdtemp(prefix="tern-bench-pki-"))
    yield TestPKI(directory)
    shutil.rmtree(directory, ignore_errors=True)


def listener_config(pki, tls, mtls, ws, wss) -> str:
    server = pki.server_settings()
    return f"""
listener {tls} 127.0.0.1
{server}allow_anonymous true
listener {mtls} 127.0.0.1
{server}require_certificate true
allow_anonymous true
listener {ws} 127.0.0.1
protocol websockets
allow_anonymous true
listener {wss} 127.0.0.1
protocol websockets
{server}allow_anonymous true
"""


@pytest.fixture(params=["tern", "mosquitto"])
def server(request, pki):
    ports = dict(tls=find_free_port(), mtls=find_free_port(), ws=find_free_port(), wss=find_free_port())
    if request.param == "tern":
        directory = Path(tempfile.mkdtemp(prefix="tern-bench-"))
        tern = ConfiguredTern(directory, "per_listener_settings true\n" + listener_config(pki, **ports))
        yield ports
        code = tern.stop()
        shutil.rmtree(directory, ignore_errors=True)
        assert code == 0, tern.output()
    else:
        # Debian's mosquitto reads the files after switching to its own user.
        os.chmod(pki.directory, 0o755)
        for path in pki.directory.iterdir():
            os.chmod(path, 0o644)
        broker = MosquittoBroker(listener_config(pki, **ports)).start()
        for port in ports.values():
            wait_for_port("127.0.0.1", port, 10.0, broker.process)
        yield ports
        broker.stop()


def bench(*args: str) -> dict:
    result = subprocess.run([str(tern_binary()), "bench", "--json", "--quiet", "--host", "localhost",
                             "--scenario", "pairs", "--publishers", "2", "--qos", "1", "--count", "200", *args],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("transport", ["tls", "mtls", "ws", "wss"])
def test_bench_delivers_everything_over_each_transport(server, pki, transport):
    ca = ["--cafile", pki.path("ca.crt")]
    args = {
        "tls": ["--transport", "tls", *ca],
        "mtls": ["--transport", "tls", *ca, "--cert", pki.path("client.crt"), "--key", pki.path("client.key")],
        "ws": ["--transport", "ws"],
        "wss": ["--transport", "wss", *ca],
    }[transport]
    result = bench("--port", str(server[transport]), *args)
    assert result["sent"] == 400
    assert result["received"] == 400
    assert result["lost"] == 0 and result["duplicates"] == 0


def test_bench_refuses_a_server_it_cannot_verify(server):
    # No CA file: the test CA is not in the system trust store, so the handshake must fail.
    result = subprocess.run([str(tern_binary()), "bench", "--json", "--quiet", "--host", "localhost", "--port",
                             str(server["tls"]), "--transport", "tls", "--count", "10"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


@pytest.mark.parametrize("version", ["5", "311"])
def test_bench_with_persistent_subscriber_sessions_delivers_everything(server, version):
    # --session-expiry: subscribers connect with a Session Expiry Interval (5.0) or without clean session (3.1.1),
    # the set-up of the durable benchmark row; both brokers must accept it and deliver every message once.
    # --drain 10: a loaded machine (the rest of the suite) once left 128 of 600 messages unarrived after the default
    # 3 s, which never happened again in isolation or under CPU load; whatever is lost shows in the result.
    result = bench("--port", str(server["ws"]), "--transport", "ws", "--scenario", "fan-in", "--publishers", "3",
                   "--session-expiry", "60", "-V", version, "--drain", "10")
    assert result["sent"] == 600
    assert result["received"] == 600, result
    assert result["lost"] == 0 and result["duplicates"] == 0


def test_bench_latency_scenario_sends_each_message_at_its_time(server):
    # The fixed-rate scenario schedules each message at its intended time (not on a coarse tick): at 500 msg/s
    # 200 messages take about 0.4 s, every one arrives, and latency is the broker's, far below the tick it had.
    started = time.monotonic()
    result = bench("--port", str(server["ws"]), "--transport", "ws", "--scenario", "latency", "--rate", "500",
                   "--drain", "1")
    elapsed = time.monotonic() - started
    assert result["sent"] == 200 and result["received"] == 200
    assert result["lost"] == 0 and result["duplicates"] == 0
    assert 0 < result["latency_p50_us"] < 50_000
    assert elapsed >= 0.35


def test_bench_fan_in_over_many_topics_delivers_everything(server):
    # --topics: each publisher cycles through its topics (`.../in/{p}-{k}`, all under the subscriber's `in/+`), so
    # the broker routes many distinct topics, each again and again (Tern: misses, then hits, in its topic match
    # cache); every message must arrive once.
    result = bench("--port", str(server["ws"]), "--transport", "ws", "--scenario", "fan-in", "--publishers", "3",
                   "--topics", "50")
    assert result["sent"] == 600
    assert result["received"] == 600
    assert result["lost"] == 0 and result["duplicates"] == 0


def test_bench_refuses_zero_topics():
    result = subprocess.run([str(tern_binary()), "bench", "--topics", "0"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "--topics must be at least 1" in result.stderr
