"""TLS, mutual TLS and secure WebSocket listeners, with a CA, server and client certificates made by the test
(openssl CLI, see pki.py).

- mosquitto_pub/_sub with --cafile (TLS) and --cert/--key (mutual TLS); paho-mqtt 2.x with tls_set, over TCP and
  over wss (transport="websockets");
- refused: a client trusting another CA, a client certificate from another CA, an expired client certificate, no
  client certificate where one is required, TLS 1.2 on a `tls_version tlsv1.3` listener;
- use_identity_as_username / use_subject_as_username: the certificate names the user whose ACL applies;
- an encrypted key file stops the broker with a clear message;
- the users' fundamentals document's MQTT.js-over-wss example and its mosquitto.conf block, run as written under
  node (host name and certificate paths changed, a password file added for user:secret);
- SIGHUP reloads the certificates for new connections while open TLS connections carry on.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import find_free_port
from mqtt_helpers import V311, V5, Client, wait_until
from pki import CLIENT_SUBJECT_RFC2253, TestPKI
from tern_broker import tern_binary
from transports import NODE_MODULES, ConfiguredTern, mqttjs_available, node_binary, password_file, wait_for_line

CONNECT = bytes([0x10, 0x0F, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3C, 0x00, 0x03]) + b"tls"
needs_mosquitto_clients = pytest.mark.skipif(shutil.which("mosquitto_pub") is None,
                                             reason="mosquitto-clients not installed")


@pytest.fixture(scope="module")
def pki():
    directory = Path(tempfile.mkdtemp(prefix="tern-pki-"))
    yield TestPKI(directory)
    shutil.rmtree(directory, ignore_errors=True)


class Ports:
    def __init__(self):
        self.tcp, self.tls, self.mtls, self.wss, self.identity, self.subject, self.tls13 = (
            find_free_port() for _ in range(7))


@pytest.fixture
def broker(pki):
    ports = Ports()
    directory = Path(tempfile.mkdtemp(prefix="tern-tls-"))
    (directory / "acl").write_text(
        "user sensor-1\ntopic readwrite identity/#\n\n"
        f"user {CLIENT_SUBJECT_RFC2253}\ntopic readwrite subject/#\n")
    server = pki.server_settings()
    tern = ConfiguredTern(directory, f"""
per_listener_settings true
listener {ports.tcp} 127.0.0.1
allow_anonymous true
listener {ports.tls} 127.0.0.1
{server}allow_anonymous true
listener {ports.mtls} 127.0.0.1
{server}require_certificate true
allow_anonymous true
listener {ports.wss} 127.0.0.1
protocol websockets
{server}allow_anonymous true
listener {ports.identity} 127.0.0.1
{server}require_certificate true
use_identity_as_username true
acl_file {directory / "acl"}
listener {ports.subject} 127.0.0.1
{server}require_certificate true
use_subject_as_username true
acl_file {directory / "acl"}
listener {ports.tls13} 127.0.0.1
{server}tls_version tlsv1.3
allow_anonymous true
""")
    tern.ports = ports
    tern.directory = directory
    yield tern
    code = tern.stop()
    shutil.rmtree(directory, ignore_errors=True)
    assert code == 0, tern.output()


def mosquitto(tool, port, *args, timeout=20):
    return subprocess.run([tool, "-h", "127.0.0.1", "-p", str(port), *args], capture_output=True, text=True,
                          timeout=timeout)


def tls_refused(port, ca, cert=None, key=None, maximum=None) -> bool:
    """Whether the broker ends a TLS connection before answering CONNECT (raises if it answers, to tell why)."""
    context = ssl.create_default_context(cafile=ca)
    if cert:
        context.load_cert_chain(cert, key)
    if maximum:
        context.maximum_version = maximum
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(CONNECT)
                answer = tls.recv(4)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True
    if answer == b"":
        return True
    raise AssertionError(f"the broker answered {answer!r}")


@needs_mosquitto_clients
def test_mosquitto_clients_over_tls_and_mutual_tls(broker, pki):
    ca = ["--cafile", pki.path("ca.crt")]
    client_cert = ["--cert", pki.path("client.crt"), "--key", pki.path("client.key")]
    for port, extra in [(broker.ports.tls, []), (broker.ports.mtls, client_cert)]:
        sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), *ca, *extra, "-t", f"secure/{port}",
                                "-q", "1", "-C", "1", "-W", "20"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
        # Published retained, so it reaches mosquitto_sub whenever its subscription lands.
        result = mosquitto("mosquitto_pub", port, *ca, *extra, "-t", f"secure/{port}", "-m", f"over {port}", "-q", "1",
                           "-r")
        assert result.returncode == 0, result.stderr
        out, err = sub.communicate(timeout=25)
        assert out.strip() == f"over {port}", err


@pytest.mark.parametrize("protocol", [pytest.param(V311, id="v3.1.1"), pytest.param(V5, id="v5")])
def test_paho_tls_set_and_messages_across_every_transport(broker, pki, protocol):
    tls = {"ca_certs": pki.path("ca.crt")}
    mtls = {**tls, "certfile": pki.path("client.crt"), "keyfile": pki.path("client.key")}
    clients = [
        Client(broker.ports.tcp, client_id="plain", protocol=protocol),
        Client(broker.ports.tls, client_id="tls", protocol=protocol, tls=tls),
        Client(broker.ports.mtls, client_id="mtls", protocol=protocol, tls=mtls),
        Client(broker.ports.wss, client_id="wss", protocol=protocol, tls=tls, transport="websockets"),
    ]
    for client in clients:
        assert client.connack[1] == 0
        client.subscribe("all/#", qos=1)
    for client in clients:
        client.publish(f"all/{client.client._client_id.decode()}", b"hi", qos=1)
    for client in clients:
        assert sorted(m.topic for m in client.wait_for(4)) == ["all/mtls", "all/plain", "all/tls", "all/wss"]
        client.disconnect()


@needs_mosquitto_clients
def test_refusals(broker, pki):
    ca, other_ca = pki.path("ca.crt"), pki.path("other-ca.crt")
    # The client does not trust the server's CA.
    result = mosquitto("mosquitto_pub", broker.ports.tls, "--cafile", other_ca, "-t", "t", "-m", "x")
    assert result.returncode != 0
    context = ssl.create_default_context(cafile=other_ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection(("127.0.0.1", broker.ports.tls), timeout=10) as raw:
            context.wrap_socket(raw, server_hostname="localhost")
    # Client certificates the mutual-TLS listener must refuse: none, another CA's, an expired one.
    for cert in [None, "other-client", "expired-client"]:
        files = ["--cert", pki.path(f"{cert}.crt"), "--key", pki.path(f"{cert}.key")] if cert else []
        result = mosquitto("mosquitto_pub", broker.ports.mtls, "--cafile", ca, *files, "-t", "t", "-m", "x",
                           "-q", "1")
        assert result.returncode != 0, f"{cert}: {result.stdout} {result.stderr}"
        assert tls_refused(broker.ports.mtls, ca, *( [pki.path(f"{cert}.crt"), pki.path(f"{cert}.key")]
                                                    if cert else []))
    # TLS 1.2 where tls_version asks for 1.3 at least; 1.3 is fine.
    assert tls_refused(broker.ports.tls13, ca, maximum=ssl.TLSVersion.TLSv1_2)
    with pytest.raises(AssertionError, match="broker answered"):
        tls_refused(broker.ports.tls13, ca)
    assert "TLS" in broker.output() or "SSL" in broker.output()


@pytest.mark.parametrize("kind", ["identity", "subject"])
def test_the_certificate_names_the_user(broker, pki, kind):
    tls = {"ca_certs": pki.path("ca.crt"), "certfile": pki.path("client.crt"), "keyfile": pki.path("client.key")}
    port = getattr(broker.ports, kind)
    # The CONNECT's user name and password are ignored: the certificate says who this is.
    client = Client(port, client_id=f"by-{kind}", tls=tls, username="someone-else", password="wrong")
    assert client.connack[1] == 0
    client.subscribe(f"{kind}/#", qos=1)
    client.subscribe("elsewhere/#", qos=1)
    client.publish("elsewhere/x", b"not allowed", qos=1)
    client.publish(f"{kind}/x", b"allowed", qos=1)
    assert [m.payload for m in client.wait_for(1)] == [b"allowed"]
    time.sleep(0.2)  # a denied publish would have arrived by now with the allowed one behind it
    assert [m.topic for m in client.received()] == [f"{kind}/x"]
    client.disconnect()


def test_an_encrypted_or_missing_key_stops_the_broker_with_a_clear_message(pki, tmp_path):
    config = tmp_path / "tern.conf"
    for key, message in [(pki.path("server-encrypted.key"), "server-encrypted.key is encrypted with a passphrase"),
                         (tmp_path / "missing.key", "missing.key: cannot read")]:
        config.write_text(f"listener {find_free_port()} 127.0.0.1\ncertfile {pki.path('server.crt')}\n"
                          f"keyfile {key}\n")
        result = subprocess.run([str(tern_binary()), "serve", "-c", str(config)], capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 1
        assert message in result.stderr


SEED_EXAMPLE = r"""
const fs = require('fs');
const mqtt = require('mqtt');
const [url, caFile] = process.argv.slice(1);
const updateDashboard = (topic, data) => console.log('dashboard ' + topic + ' ' + JSON.stringify(data));

// The users' fundamentals document's example, with the test's host, port and CA.
const client = mqtt.connect(url, {
clientId: `browser-${Math.random().toString(16).slice(2)}`,
username: 'user',
password: 'secret',
keepalive: 60,
ca: fs.readFileSync(caFile),
});
client.on('connect', () => {
client.subscribe('dashboard/#', { qos: 1 }, () => console.log('subscribed'));
client.publish('presence/browser', 'online', { retain: true });
});
client.on('message', (topic, payload) => {
const data = JSON.parse(payload.toString());
updateDashboard(topic, data);
});
client.on('error', (error) => { console.log('error ' + error.message); process.exit(2); });
setTimeout(() => process.exit(3), 20000);
"""


@pytest.mark.skipif(not mqttjs_available(), reason="node and Debian's node-mqtt are needed (scripts/test installs)")
def test_the_fundamentals_wss_example_runs_as_written(pki, tmp_path):
    tcp, wss = find_free_port(), find_free_port()
    # The document's mosquitto.conf block; addresses, paths and a password file added.
    tern = ConfiguredTern(tmp_path, f"""
listener {tcp} 127.0.0.1
protocol mqtt
listener {wss} 127.0.0.1
protocol websockets
{pki.server_settings()}password_file {password_file(tmp_path)}
""")
    environment = dict(os.environ, NODE_PATH=NODE_MODULES)
    node = subprocess.Popen([node_binary(), "-e", SEED_EXAMPLE, f"wss://127.0.0.1:{wss}/mqtt", pki.path("ca.crt")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    try:
        wait_for_line(node, "subscribed")
        dashboard = Client(tcp, client_id="backend", username="user", password="secret")
        dashboard.subscribe("presence/#", qos=1)
        assert [(m.topic, m.payload, m.retain) for m in dashboard.wait_for(1)] == \
            [("presence/browser", b"online", True)]
        dashboard.publish("dashboard/temperature", json.dumps({"celsius": 21.5}).encode(), qos=1)
        lines = wait_for_line(node, "dashboard")
        assert lines[-1] == 'dashboard dashboard/temperature {"celsius":21.5}'
        dashboard.disconnect()
        # Without the password the same listener refuses.
        anonymous = subprocess.run([node_binary(), "-e", SEED_EXAMPLE.replace("password: 'secret'", "password: 'x'"),
                                    f"wss://127.0.0.1:{wss}/mqtt", pki.path("ca.crt")], capture_output=True,
                                   text=True, env=environment, timeout=30)
        assert anonymous.returncode == 2 and "Not authorized" in anonymous.stdout, anonymous.stdout
    finally:
        node.kill()
        assert tern.stop() == 0, tern.output()


def test_sighup_reloads_certificates_for_new_connections_only(pki, tmp_path):
    port = find_free_port()
    shutil.copy(pki.path("server.crt"), tmp_path / "server.crt")
    shutil.copy(pki.path("server.key"), tmp_path / "server.key")
    tern = ConfiguredTern(tmp_path, f"""
listener {port} 127.0.0.1
certfile {tmp_path / "server.crt"}
keyfile {tmp_path / "server.key"}
allow_anonymous true
""")
    try:
        before = Client(port, client_id="before", tls={"ca_certs": pki.path("ca.crt")})
        before.subscribe("reload/#", qos=1)
        # The certificate is renewed, by another CA.
        shutil.copy(pki.path("other-server.crt"), tmp_path / "server.crt")
        shutil.copy(pki.path("other-server.key"), tmp_path / "server.key")
        tern.process.send_signal(signal.SIGHUP)

        def renewed_certificate_served():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                    ssl.create_default_context(cafile=pki.path("other-ca.crt")).wrap_socket(
                        raw, server_hostname="localhost").close()
                return True
            except ssl.SSLError:
                return False

        assert wait_until(renewed_certificate_served), tern.output()
        after = Client(port, client_id="after", tls={"ca_certs": pki.path("other-ca.crt")})
        after.publish("reload/x", b"after the reload", qos=1)
        # The connection made before the reload is still up and receives.
        assert [m.payload for m in before.wait_for(1)] == [b"after the reload"]
        before.disconnect()
        after.disconnect()
    finally:
        assert tern.stop() == 0, tern.output()
