"""The HTTP listener (`http_listener`): /health, /ready, /metrics read by the Python prometheus-client parser
after a known workload, every admin API operation (validated against the OpenAPI document shipped in the
package) with its refusals, the loopback-open rule and the refusal to start without credentials."""
import contextlib
import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

import jsonschema
import paho.mqtt.client as mqtt
import pytest
from prometheus_client.parser import text_string_to_metric_families

import raw_mqtt
from conftest import find_free_port
from http_admin import HTTPTern
from mqtt_helpers import Client, wait_until
from tern_broker import ROOT, tern_binary

SPEC = json.loads((ROOT / "Sources/TernAdmin/Resources/openapi.json").read_text())
DEADLINE = 10.0


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="tern-http-") as directory:
        yield Path(directory)


def passwd(path: Path, *users: tuple[str, str]):
    for index, (user, password) in enumerate(users):
        subprocess.run(["mosquitto_passwd", *(["-c"] if index == 0 else []), "-b", str(path), user, password],
                       check=True)


def samples(text: str) -> dict[tuple, float]:
    """Every sample of a Prometheus exposition, by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


class SpecChecker:
    """Validates responses against the OpenAPI document and remembers which operations and statuses were seen."""

    def __init__(self):
        self.seen: set[tuple[str, str, str]] = set()

    def check(self, method: str, template: str, status: int, body: bytes, headers):
        operation = SPEC["paths"][template][method.lower()]
        assert str(status) in operation["responses"], f"{method} {template}: {status} not documented"
        self.seen.add((method.lower(), template, str(status)))
        content = operation["responses"][str(status)].get("content")
        if not content:
            assert body == b"", f"{method} {template}: {status} has a body"
            return
        media, spec = next(iter(content.items()))
        assert headers["Content-Type"].startswith(media), headers["Content-Type"]
        if media == "application/json":
            schema = dict(SPEC, **spec["schema"])  # $refs resolve against the whole document
            jsonschema.Draft202012Validator(schema).validate(json.loads(body))

    def operations(self) -> set[tuple[str, str]]:
        return {(method, template) for method, template, _ in self.seen}


def test_metrics_after_a_known_workload(workdir):
    broker = HTTPTern(workdir, f"listener {find_free_port()} 127.0.0.1\nallow_anonymous true\n"
                               "http_listener 0 127.0.0.1")
    try:
        subscriber = Client(broker.port, client_id="metrics-subscriber")
        subscriber.subscribe("work/#", qos=1)
        sleeper = Client(broker.port, client_id="metrics-sleeper", protocol=mqtt.MQTTv311, clean=False)
        sleeper.subscribe("work/#", qos=0)
        sleeper.disconnect()
        assert wait_until(lambda: broker.json("GET", "/api/v1/sessions?connected=false")[1]["sessions"], DEADLINE)
        publisher = Client(broker.port, client_id="metrics-publisher")
        for _ in range(3):
            publisher.client.publish("work/a", b"12345", qos=1).wait_for_publish(DEADLINE)
        for _ in range(2):
            publisher.client.publish("work/b", b"xyz", qos=0).wait_for_publish(DEADLINE)
        assert wait_until(lambda: len(subscriber.messages) == 5, DEADLINE)

        status, headers, body = broker.request("GET", "/metrics")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain")
        values = samples(body.decode())
        assert values[("tern_messages_received_total", (("qos", "1"),))] == 3
        assert values[("tern_messages_received_total", (("qos", "0"),))] == 2
        assert values[("tern_message_bytes_received_total", (("qos", "1"),))] == 15
        assert values[("tern_message_bytes_received_total", (("qos", "0"),))] == 6
        assert values[("tern_messages_sent_total", (("qos", "1"),))] == 3
        assert values[("tern_messages_sent_total", (("qos", "0"),))] == 2
        # The disconnected v3.1.1 session subscribed at QoS 0: its two QoS 0 and three QoS 1->0 messages drop.
        assert values[("tern_messages_dropped_total", (("cause", "offline_qos0"),))] == 5
        assert values[("tern_messages_dropped_total", (("cause", "queue_full"),))] == 0
        assert values[("tern_connections", (("listener", str(broker.port)), ("protocol", "5.0")))] == 2
        assert values[("tern_sessions", ())] == 3
        assert values[("tern_inflight_messages", ())] == 0
        assert values[("tern_queued_messages", ())] == 0
        assert values[("tern_authentication_failures_total", (("listener", "mqtt"),))] == 0
        # Persistent sessions were stored (each test broker has its own data directory): commits were timed.
        assert values[("tern_store_commit_duration_seconds_count", ())] > 0
        # The subscriber got 5 messages at once (latency 0); the offline session queued none.
        assert values[("tern_delivery_latency_seconds_count", ())] == 5
        assert values[("tern_delivery_latency_seconds_bucket", (("le", "0.0001"),))] == 5
        assert values[("tern_network_bytes_received_total", ())] > 21
        # A second scrape moves the counters by the difference only.
        publisher.client.publish("work/a", b"1", qos=1).wait_for_publish(DEADLINE)
        again = samples(broker.request("GET", "/metrics")[2].decode())
        assert again[("tern_messages_received_total", (("qos", "1"),))] == 4
        for client in (subscriber, publisher):
            client.disconnect()
    finally:
        assert broker.stop() == 0, broker.output()


def test_refused_connections_are_counted_by_reason(workdir):
    """A wrong password (3.1.1 and 5.0), an unknown protocol level and a malformed 3.1.1 CONNECT (closed without a
    CONNACK): `tern_connections_refused_total` counts each under the reason its CONNACK gave."""
    passwords = workdir / "passwd"
    passwd(passwords, ("alice", "secret"))
    broker = HTTPTern(workdir, f"listener {find_free_port()} 127.0.0.1\npassword_file {passwords}\n"
                               "allow_anonymous false\nhttp_listener 0 127.0.0.1\nhttp_admin_token metricstoken\n")
    try:
        # Like Mosquitto, a wrong password is "not authorised": return code 5 in 3.1.1, 0x87 in 5.0.
        for protocol, expected in ((raw_mqtt.V311, 5), (raw_mqtt.V5, 0x87)):
            connection = raw_mqtt.Connection("127.0.0.1", broker.port, protocol=protocol)
            connection.send(raw_mqtt.connect("wrong", protocol=protocol, username="alice", password="nope"))
            assert connection.expect(raw_mqtt.CONNACK).reason == expected
        connection = raw_mqtt.Connection("127.0.0.1", broker.port, raw_mqtt.V311)
        connection.send(raw_mqtt.connect("level7", protocol=7))  # return code 1 [MQTT-3.1.2-2]
        assert [(p.kind, p.reason) for p in connection.closing()] == [(raw_mqtt.CONNACK, 1)]
        connection = raw_mqtt.Connection("127.0.0.1", broker.port, raw_mqtt.V311)
        connection.send(b"\x10\x0d\x00\x04MQTT\x04\x03\x00\x3c\x00\x01x")  # reserved flag set [MQTT-3.1.2-3]
        assert connection.closing() == []

        def refusals():
            values = samples(broker.request("GET", "/metrics", token="metricstoken")[2].decode())
            return {dict(labels)["reason"]: value for (name, labels), value in values.items()
                    if name == "tern_connections_refused_total"}
        expected = {"not_authorized": 2, "unsupported_protocol_version": 1, "closed_without_connack": 1}
        assert wait_until(lambda: refusals() == expected, DEADLINE), refusals()
    finally:
        assert broker.stop() == 0, broker.output()


def test_loopback_listener_without_password_file_is_open(workdir):
    broker = HTTPTern(workdir, "http_listener 0 127.0.0.1")
    try:
        checker = SpecChecker()
        for path in ("/health", "/ready", "/api/v1/broker", "/api/v1/sessions"):
            status, headers, body = broker.request("GET", path)
            checker.check("GET", path, status, body, headers)
            assert status == 200
        status, document = broker.json("GET", "/ready")
        assert document == {"status": "ready", "checks": {"listeners": True, "store": True}}
        assert broker.json("GET", "/api/v1/broker")[1]["role"] == "admin"
        assert "open to everyone" in broker.output()
    finally:
        assert broker.stop() == 0, broker.output()


@pytest.mark.parametrize("settings, words", [
    ("http_listener 0 0.0.0.0", "no credentials configured"),
    ("http_listener 0", "no credentials configured"),
    ("password_file {passwd}\nhttp_listener 0 127.0.0.1", "no credentials configured"),
    ("http_listener 0 127.0.0.1\nhttp_admin_users alice", "password file"),
    ("http_admin_token abc", "http_listener"),
])
def test_refuses_to_start_without_usable_credentials(workdir, settings, words):
    passwd(workdir / "passwd", ("alice", "secret"))
    config = workdir / "tern.conf"
    config.write_text(f"listener {find_free_port()} 127.0.0.1\n" + settings.format(passwd=workdir / "passwd") + "\n")
    result = subprocess.run([str(tern_binary()), "serve", "-c", str(config)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 1, result
    assert words in result.stderr + result.stdout


def test_every_admin_operation_with_its_refusals(workdir):
    passwd(workdir / "passwd", ("alice", "secret"), ("olga", "viewer"), ("mqttuser", "pw"))
    mqtt_port = find_free_port()
    broker = HTTPTern(workdir, f"""listener {mqtt_port} 127.0.0.1
allow_anonymous true
password_file {workdir / "passwd"}
http_listener 0 127.0.0.1
http_admin_users alice
http_readonly_users olga
http_admin_token admintoken
http_readonly_token readtoken""")
    checker = SpecChecker()
    admin = {"user": "alice", "password": "secret"}
    viewer = {"user": "olga", "password": "viewer"}

    def call(method, template, path=None, expect=None, **kwargs):
        status, headers, body = broker.request(method, path or template, **kwargs)
        checker.check(method, template, status, body, headers)
        if expect is not None:
            assert status == expect, (method, path or template, status, body)
        return json.loads(body) if body and headers["Content-Type"].startswith("application/json") else body

    try:
        watcher = Client(broker.port, client_id="watcher/1", session_expiry=300)
        watcher.subscribe("retained/#", qos=1)
        watcher.subscribe("$share/group/shared/+", qos=0)
        quiet = Client(broker.port, client_id="quiet", protocol=mqtt.MQTTv311)

        # Open without credentials: the probes, metrics and the document itself.
        call("GET", "/health", expect=200)
        call("GET", "/ready", expect=200)
        call("GET", "/metrics", expect=200)
        assert call("GET", "/openapi.json", expect=200)["openapi"].startswith("3.1")

        # Refusals: no credentials, wrong password, unknown user, wrong token, a user of the password file who is
        # not an HTTP user.
        status, headers, _ = broker.request("GET", "/api/v1/broker")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
        call("GET", "/api/v1/broker", expect=401)
        call("GET", "/api/v1/broker", expect=401, user="alice", password="wrong")
        call("GET", "/api/v1/broker", expect=401, user="nobody", password="secret")
        call("GET", "/api/v1/broker", expect=401, user="mqttuser", password="pw")
        call("GET", "/api/v1/broker", expect=401, token="guess")
        call("GET", "/", expect=401)
        # Read-only users and tokens read, and may change nothing.
        assert call("GET", "/api/v1/broker", expect=200, **viewer)["role"] == "read-only"
        assert call("GET", "/api/v1/broker", expect=200, token="readtoken")["role"] == "read-only"
        assert call("GET", "/api/v1/broker", expect=200, token="admintoken")["role"] == "admin"
        call("POST", "/api/v1/publish", body={"topic": "x", "payload": "y"}, expect=403, **viewer)
        call("POST", "/api/v1/reload", expect=403, token="readtoken")
        call("POST", "/api/v1/sessions/{clientID}/disconnect", "/api/v1/sessions/quiet/disconnect", expect=403, **viewer)
        call("DELETE", "/api/v1/sessions/{clientID}", "/api/v1/sessions/quiet", expect=403, **viewer)
        call("DELETE", "/api/v1/retained/message", "/api/v1/retained/message?topic=a", expect=403, **viewer)
        call("GET", "/api/v1/sessions", expect=401)
        call("GET", "/api/v1/sessions/{clientID}", "/api/v1/sessions/quiet", expect=401)
        call("GET", "/api/v1/retained", expect=401)
        call("GET", "/api/v1/retained/message", "/api/v1/retained/message?topic=a", expect=401)
        call("POST", "/api/v1/publish", body={"topic": "x"}, expect=401)
        call("POST", "/api/v1/reload", expect=401)
        call("DELETE", "/api/v1/sessions/{clientID}", "/api/v1/sessions/quiet", expect=401)
        call("POST", "/api/v1/sessions/{clientID}/disconnect", "/api/v1/sessions/quiet/disconnect", expect=401)
        call("DELETE", "/api/v1/retained/message", "/api/v1/retained/message?topic=a", expect=401)
        assert b"<title>Tern dashboard</title>" in call("GET", "/", expect=200, **viewer)

        # Publish (retained, so the retained endpoints have something), then read it back.
        result = call("POST", "/api/v1/publish", body={"topic": "retained/one", "payload": "hello", "qos": 1,
                                                       "retain": True}, expect=200, **admin)
        assert result == {"deliveredTo": 1}
        assert wait_until(lambda: [m for m in watcher.messages if m.topic == "retained/one"], DEADLINE)
        call("POST", "/api/v1/publish", body={"topic": "retained/bin", "payloadBase64": "AP8=", "retain": True},
             expect=200, **admin)
        call("POST", "/api/v1/publish", body={"topic": "a/+"}, expect=400, **admin)
        call("POST", "/api/v1/publish", body={"topic": "a", "qos": 3}, expect=400, **admin)
        call("POST", "/api/v1/publish", body={"topic": "$SYS/broker/x"}, expect=403, **admin)
        call("POST", "/api/v1/publish", body={"no": "topic"}, expect=400, **admin)
        listing = call("GET", "/api/v1/retained", "/api/v1/retained?filter=retained/%23", expect=200, **viewer)
        assert [m["topic"] for m in listing["messages"]] == ["retained/bin", "retained/one"]
        assert listing["messages"][0] == {"topic": "retained/bin", "qos": 0, "payloadBase64": "AP8="}
        assert call("GET", "/api/v1/retained", "/api/v1/retained?limit=1", expect=200, **viewer)["truncated"]
        call("GET", "/api/v1/retained", "/api/v1/retained?filter=a/%23/b", expect=400, **viewer)
        one = call("GET", "/api/v1/retained/message", "/api/v1/retained/message?topic=retained/one", expect=200,
                   **viewer)
        assert one["payload"] == "hello" and one["qos"] == 1
        call("GET", "/api/v1/retained/message", "/api/v1/retained/message?topic=none", expect=404, **viewer)
        call("GET", "/api/v1/retained/message", "/api/v1/retained/message", expect=400, **viewer)
        call("DELETE", "/api/v1/retained/message", "/api/v1/retained/message?topic=retained/one", expect=204, **admin)
        call("DELETE", "/api/v1/retained/message", "/api/v1/retained/message?topic=retained/one", expect=404, **admin)
        call("DELETE", "/api/v1/retained/message", "/api/v1/retained/message?topic=a/%23", expect=400, **admin)

        # Sessions: list, search, inspect (subscriptions, queue depth), disconnect, delete.
        sessions = call("GET", "/api/v1/sessions", expect=200, **viewer)["sessions"]
        assert [s["clientID"] for s in sessions] == ["quiet", "watcher/1"]
        found = call("GET", "/api/v1/sessions", "/api/v1/sessions?search=WATCH", expect=200, **viewer)["sessions"]
        assert [s["clientID"] for s in found] == ["watcher/1"]
        detail = call("GET", "/api/v1/sessions/{clientID}", "/api/v1/sessions/watcher%2F1", expect=200, **viewer)
        assert detail["connected"] and detail["protocolVersion"] == "5.0" and detail["expiryInterval"] == 300
        assert detail["remoteAddress"].startswith("127.0.0.1:")
        assert detail["subscriptions"] == [{"topicFilter": "$share/group/shared/+", "qos": 0},
                                           {"topicFilter": "retained/#", "qos": 1}]
        assert detail["queued"] == 0 and detail["inflight"] == 0
        call("GET", "/api/v1/sessions/{clientID}", "/api/v1/sessions/ghost", expect=404, **viewer)

        call("POST", "/api/v1/sessions/{clientID}/disconnect", "/api/v1/sessions/watcher%2F1/disconnect",
             expect=204, **admin)
        assert wait_until(lambda: watcher.disconnect_reason is not None, DEADLINE)
        assert watcher.disconnect_reason.value == 0x98  # Administrative action
        call("POST", "/api/v1/sessions/{clientID}/disconnect", "/api/v1/sessions/watcher%2F1/disconnect",
             expect=404, **admin)
        # Disconnected, its session stays (expiry 300 s) and queues what it subscribed to.
        call("POST", "/api/v1/publish", body={"topic": "retained/two", "payload": "q", "qos": 1}, expect=200, **admin)
        detail = call("GET", "/api/v1/sessions/{clientID}", "/api/v1/sessions/watcher%2F1", expect=200, **viewer)
        assert not detail["connected"] and detail["queued"] == 1 and 0 < detail["expiresIn"] <= 300
        offline = call("GET", "/api/v1/sessions", "/api/v1/sessions?connected=false", expect=200, **viewer)
        assert [s["clientID"] for s in offline["sessions"]] == ["watcher/1"]
        call("DELETE", "/api/v1/sessions/{clientID}", "/api/v1/sessions/watcher%2F1", expect=204, **admin)
        call("DELETE", "/api/v1/sessions/{clientID}", "/api/v1/sessions/watcher%2F1", expect=404, **admin)
        call("DELETE", "/api/v1/sessions/{clientID}", "/api/v1/sessions/quiet", expect=204, token="admintoken")
        assert wait_until(lambda: quiet.disconnect_reason is not None, DEADLINE)

        # Reload: the file as it is, then a broken one (the previous configuration stays).
        assert call("POST", "/api/v1/reload", expect=200, **admin) == {"reloaded": True}
        good = broker.config.read_text()
        broker.config.write_text(good + "max_keepalive nonsense\n")
        call("POST", "/api/v1/reload", expect=422, **admin)
        broker.config.write_text(good.replace("http_readonly_users olga\n", ""))
        call("POST", "/api/v1/reload", expect=200, **admin)
        call("GET", "/api/v1/broker", expect=401, **viewer)  # olga is no longer an HTTP user

        metrics = samples(call("GET", "/metrics", expect=200).decode())
        assert metrics[("tern_authentication_failures_total", (("listener", "http"),))] >= 4

        # Every operation of the document was exercised.
        documented = {(method, path) for path, item in SPEC["paths"].items() for method in item
                      if method in ("get", "post", "delete")}
        assert documented - checker.operations() == set()
    finally:
        assert broker.stop() == 0, broker.output()


def test_protected_metrics_want_credentials(workdir):
    broker = HTTPTern(workdir, "http_listener 0 127.0.0.1\nhttp_admin_token t0k3n\nhttp_protect_metrics true")
    try:
        assert broker.request("GET", "/metrics")[0] == 401
        assert broker.request("GET", "/health")[0] == 401
        assert broker.request("GET", "/ready")[0] == 200
        assert broker.request("GET", "/metrics", token="t0k3n")[0] == 200
    finally:
        assert broker.stop() == 0, broker.output()


def test_json_log_format(workdir):
    from tern_broker import TernBroker
    config = workdir / "tern.conf"
    config.write_text("log_format json\nlog_type all\n")
    broker = TernBroker("-c", str(config))
    try:
        client = Client(broker.port, client_id="json-logged")
        client.disconnect()
        assert wait_until(lambda: "json-logged disconnected" in broker.output(), DEADLINE)
    finally:
        assert broker.stop() == 0, broker.output()
    entries = [json.loads(line) for line in broker.output().splitlines() if line.strip()]
    assert all({"time", "level", "label", "message"} <= entry.keys() for entry in entries)
    assert any(entry["level"] == "notice" and entry["message"].startswith("listening on") for entry in entries)
    assert any(entry["level"] == "info" and "json-logged connected" in entry["message"] for entry in entries)
    assert entries[0]["time"].endswith("Z")


def test_text_log_format(workdir):
    """The default format: local time with its offset, level, label, sorted metadata, [module] and message."""
    import socket
    from tern_broker import TernBroker
    broker = TernBroker("-v")
    try:
        raw = socket.create_connection(("127.0.0.1", broker.port))
        raw.sendall(bytes([0x00, 0x00]))  # reserved packet type 0: closed, and logged with a reason
        client = Client(broker.port, client_id="text-logged")
        client.disconnect()
        assert wait_until(lambda: "text-logged disconnected" in broker.output(), DEADLINE)
        raw.close()
    finally:
        assert broker.stop() == 0, broker.output()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}"
    lines = broker.output().splitlines()
    assert any(re.fullmatch(stamp + r" notice tern: \[TernServer\] listening on 127\.0\.0\.1:\d+", line)
               for line in lines), lines
    assert any(re.fullmatch(stamp + r" info tern: \[TernServer\] client text-logged connected from "
                            r"127\.0\.0\.1:\d+ \(MQTT 5\.0\)", line) for line in lines), lines
    refused = r" info tern: reason=0x81 Malformed Packet \[TernServer\] closing connection 127\.0\.0\.1:\d+ "
    assert any(re.fullmatch(stamp + refused + r"\(no client id\): reserved packet type 0", line)
               for line in lines), lines


def test_https_with_http_certfile_and_keyfile(workdir):
    import ssl
    import urllib.request
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", str(workdir / "key.pem"), "-out", str(workdir / "cert.pem")],
                   check=True, capture_output=True)
    broker = HTTPTern(workdir, f"http_listener 0 127.0.0.1\nhttp_admin_token tls-token\n"
                               f"http_certfile {workdir / 'cert.pem'}\nhttp_keyfile {workdir / 'key.pem'}")
    try:
        context = ssl.create_default_context(cafile=str(workdir / "cert.pem"))
        context.check_hostname = False
        request = urllib.request.Request(f"https://127.0.0.1:{broker.http_port}/api/v1/broker",
                                         headers={"Authorization": "Bearer tls-token"})
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            assert response.status == 200
            assert json.loads(response.read())["role"] == "admin"
        # Plain HTTP on the TLS port gets no answer.
        status = None
        try:
            status = broker.request("GET", "/health")[0]
        except Exception:
            pass
        assert status != 200
    finally:
        assert broker.stop() == 0, broker.output()


@contextlib.contextmanager
def tern_and_mosquitto(workdir: Path, tern_settings: str, mosquitto_settings: str):
    """Tern with `tern_settings` as its configuration file and Debian's mosquitto with `mosquitto_settings` added
    to its own; Tern must stop with status 0."""
    from conftest import MosquittoBroker
    from tern_broker import TernBroker
    config = workdir / "tern.conf"
    config.write_text(tern_settings)
    tern = TernBroker("-c", str(config))
    reference = MosquittoBroker(extra_config=mosquitto_settings).start()
    try:
        yield tern, reference
    finally:
        assert tern.stop() == 0, tern.output()
        reference.stop()
        reference.cleanup()


def test_log_type_subscribe_and_unsubscribe_lines_as_mosquitto_writes_them(workdir):
    # log_type notice: for the line with the port.
    with tern_and_mosquitto(workdir, "log_type notice\nlog_type subscribe\nlog_type unsubscribe\n",
                            "log_type subscribe\nlog_type unsubscribe") as (tern, reference):
        for broker in (tern, reference):
            client = Client(broker.port, client_id="subber", protocol=mqtt.MQTTv311)
            client.subscribe("a/#", qos=1)
            client.client.unsubscribe("a/#")
            assert wait_until(lambda: re.search(r"subber a/#$", broker.output(), re.M), DEADLINE), broker.output()
            assert re.search(r"subber 1 a/#$", broker.output(), re.M)
            client.disconnect()
        # Only those types: Tern logs no connection lines (information is not among them).
        assert "connected from" not in tern.output()


@pytest.mark.parametrize("timestamps, payload_time, line_time", [
    pytest.param("", rb"\d{10}: ", r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} ", id="default"),
    pytest.param("log_timestamp false\n", rb"", "", id="log_timestamp-false"),
    pytest.param("log_timestamp_format %Y-%m-%d\n", rb"\d{4}-\d\d-\d\d: ", r"\d{4}-\d\d-\d\d ", id="format"),
])
def test_log_dest_topic_publishes_log_lines_under_sys_broker_log(workdir, timestamps, payload_time, line_time):
    """`log_dest topic`, as Mosquitto: log lines published as `$SYS/broker/log/<level>` at QoS 2, not retained,
    `TIME: message` (seconds since 1970 unless `log_timestamp_format` says otherwise, nothing with `log_timestamp
    false`); the `log_type subscribe` lines under `$SYS/broker/log/M/subscribe`, the same on both. Tern's text
    lines start with the same time, or its own format by default."""
    with tern_and_mosquitto(workdir, "log_dest stderr\nlog_dest topic\nlog_type all\n" + timestamps,
                            "log_dest topic\nlog_type all\n" + timestamps) as (tern, reference):
        assert re.search(f"^{line_time}notice tern: \\[TernServer\\] listening on", tern.output(), re.M), tern.output()
        for broker in (tern, reference):
            watcher = Client(broker.port, client_id="log-watcher", protocol=mqtt.MQTTv311)
            watcher.subscribe("$SYS/broker/log/#", qos=2)
            client = Client(broker.port, client_id="subber", protocol=mqtt.MQTTv311)
            client.subscribe("a/#", qos=1)

            def subscribe_line():
                return [m for m in watcher.received() if m.topic == "$SYS/broker/log/M/subscribe"
                        and m.payload.decode().endswith("subber 1 a/#")]
            assert wait_until(subscribe_line, DEADLINE), [(m.topic, m.payload) for m in watcher.received()]
            line = subscribe_line()[0]
            assert (line.qos, line.retain) == (2, False)
            assert re.fullmatch(payload_time + rb"subber 1 a/#", line.payload)
            assert not any(m.topic.endswith("/D") for m in watcher.received())  # debug lines are not published
            if broker is tern:
                # Tern logs connections at information level (Mosquitto at notice).
                assert wait_until(lambda: any(m.topic == "$SYS/broker/log/I"
                                              and b"client subber connected" in m.payload
                                              for m in watcher.received()), DEADLINE)
            client.disconnect()
            watcher.disconnect()


def test_http_port_in_use_stops_the_broker(workdir):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = workdir / "tern.conf"
        config.write_text(f"http_listener {taken.getsockname()[1]} 127.0.0.1\n")
        result = subprocess.run([str(tern_binary()), "serve", "-c", str(config), "-p", "0"], capture_output=True,
                                text=True, timeout=30)
    assert result.returncode == 1
    assert "http_listener" in result.stderr and "in use" in result.stderr
