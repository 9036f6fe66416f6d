"""The Python examples of shared/seed/mqtt-fundamentals.txt, as written there (host name changed), against Tern.

The 1.x-style examples (`mqtt.Client()` without a callback API version) run under paho-mqtt 1.6 from the
second virtual environment that scripts/test installs; the paho-mqtt 2.0 example runs under 2.x.
"""
import os
import queue
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from mqtt_helpers import Client, V311, V5, wait_until
from tern_broker import ROOT

PAHO1_PYTHON = Path(os.environ.get("PAHO1_PYTHON", ROOT / ".venv-paho1" / "bin" / "python"))
needs_paho1 = pytest.mark.skipif(not PAHO1_PYTHON.exists(), reason="paho-mqtt 1.x environment not installed")

# The `tern` fixture (a running `tern serve -p 0`) is in conftest.py.


def example(source: str, port: int) -> str:
    """The example's code with the documentation's host and port replaced by the test broker's."""
    return textwrap.dedent(source).replace("'broker.example.com', 1883", f"'127.0.0.1', {port}")


def run_paho1(code: str, timeout: float = 20):
    return subprocess.run([str(PAHO1_PYTHON), "-c", code], capture_output=True, text=True, timeout=timeout)


@needs_paho1
def test_subscriber_example_paho1(tern):
    code = example("""
        import paho.mqtt.client as mqtt
        def on_connect(client, userdata, flags, rc):
            print(f'Connected with result code {rc}')
            client.subscribe('home/#') # All home topics
            client.subscribe('factory/+/status') # All machine status topics
        def on_message(client, userdata, msg):
            print(f'{msg.topic}: {msg.payload.decode()}')
        client = mqtt.Client()
        client.on_connect = on_connect
        client.on_message = on_message
        client.connect('broker.example.com', 1883)
        client.loop_forever()
        """, tern.port)
    # Retained messages on both filters tell when the example's two subscriptions are in place.
    publisher = Client(tern.port, "publisher", V311)
    publisher.publish("home/ready", "yes", qos=1, retain=True)
    publisher.publish("factory/ready/status", "yes", qos=1, retain=True)
    process = subprocess.Popen([str(PAHO1_PYTHON), "-u", "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "Connected with result code 0"
        assert process.stdout.readline().strip() == "home/ready: yes"
        assert process.stdout.readline().strip() == "factory/ready/status: yes"
        publisher.publish("home/livingroom/temperature", "24.3", qos=1)
        publisher.publish("factory/machine3/status", "running", qos=1)
        publisher.publish("factory/machine3/vibration", "not subscribed", qos=1)
        publisher.publish("home/kitchen/humidity", "40", qos=1)
        lines = [process.stdout.readline().strip() for _ in range(3)]
        assert lines == ["home/livingroom/temperature: 24.3", "factory/machine3/status: running",
                         "home/kitchen/humidity: 40"]
    finally:
        process.kill()
        process.wait()


@needs_paho1
def test_retained_and_last_will_examples_paho1(tern):
    dashboard = Client(tern.port, "dashboard", V5)
    dashboard.subscribe("devices/+/status", qos=1)
    code = example("""
        import time
        import paho.mqtt.client as mqtt
        client = mqtt.Client(client_id='device-001')
        client.will_set(
            topic='devices/device-001/status',
            payload='offline',
            qos=1,
            retain=True,
        )
        client.connect('broker.example.com', 1883)
        client.loop_start()
        # On clean connect, publish 'online'
        client.publish('devices/device-001/status', 'online', qos=1, retain=True)
        # Publish with retain=True — broker saves the last message
        client.publish('device/thermostat/setpoint', '21.5', qos=1, retain=True).wait_for_publish()
        print('published', flush=True)
        time.sleep(60)
        """, tern.port)
    process = subprocess.Popen([str(PAHO1_PYTHON), "-u", "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "published"
        assert [m.payload for m in dashboard.wait_for(1)] == [b"online"]
        newcomer = Client(tern.port, "newcomer", V311)
        newcomer.subscribe("device/thermostat/setpoint", qos=1)
        [setpoint] = newcomer.wait_for(1)
        assert (setpoint.payload, setpoint.retain) == (b"21.5", True)
    finally:
        process.kill()  # a crash: the will must be published
        process.wait()
    assert [m.payload for m in dashboard.wait_for(2)] == [b"online", b"offline"]
    cleared = run_paho1(example("""
        import paho.mqtt.client as mqtt
        client = mqtt.Client()
        client.connect('broker.example.com', 1883)
        client.loop_start()
        # To clear a retained message, publish an empty payload to the same topic:
        client.publish('device/thermostat/setpoint', '', qos=1, retain=True).wait_for_publish()
        client.disconnect()
        """, tern.port))
    assert cleared.returncode == 0, cleared.stderr
    late = Client(tern.port, "late", V5)
    late.subscribe("device/#", qos=1)
    Client(tern.port, "sentinel", V5).publish("device/sentinel", "x", qos=1)
    assert [m.topic for m in late.wait_for(1)] == ["device/sentinel"]


@needs_paho1
def test_shared_subscription_example_paho1(tern):
    code = example("""
        import paho.mqtt.client as mqtt
        client = mqtt.Client()
        client.on_connect = lambda c, u, f, rc: client.subscribe('$share/workers/sensors/#')
        client.on_subscribe = lambda *args: print('subscribed', flush=True)
        client.on_message = lambda c, u, m: print(m.topic, flush=True)
        client.connect('broker.example.com', 1883)
        client.loop_forever()
        """, tern.port)
    workers = [subprocess.Popen([str(PAHO1_PYTHON), "-u", "-c", code], stdout=subprocess.PIPE, text=True)
               for _ in range(3)]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "subscribed"
        publisher = Client(tern.port, "publisher", V5)
        for n in range(9):
            publisher.publish(f"sensors/{n}", str(n), qos=1)
        publisher.publish("sensors/done", "", qos=1)
        # Each message reaches exactly one worker: collect the lines all three print until there are ten.
        lines = queue.Queue()
        for worker in workers:
            threading.Thread(target=lambda out=worker.stdout: [lines.put(l.strip()) for l in out],
                             daemon=True).start()
        seen = [lines.get(timeout=10) for _ in range(10)]
        assert sorted(seen) == sorted([f"sensors/{n}" for n in range(9)] + ["sensors/done"])
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()


def test_request_response_example_paho2(tern):
    requests = Client(tern.port, "device-007", V5)
    requests.subscribe("commands/device-007/reboot")
    code = example("""
        # MQTT 5.0 request/response (Python paho-mqtt 2.0)
        import paho.mqtt.client as mqtt
        import paho.mqtt.properties as properties
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.connect('broker.example.com', 1883)
        client.loop_start()
        props = properties.Properties(properties.PacketTypes.PUBLISH)
        props.ResponseTopic = 'replies/client-001'
        props.CorrelationData = b'req-42'
        client.publish('commands/device-007/reboot', '', properties=props).wait_for_publish()
        client.disconnect()
        """, tern.port)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    [request] = requests.wait_for(1)
    assert request.properties.ResponseTopic == "replies/client-001"
    assert request.properties.CorrelationData == b"req-42"
