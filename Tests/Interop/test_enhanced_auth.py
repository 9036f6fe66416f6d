"""MQTT 5 enhanced authentication with SCRAM-SHA-512 against users of a password file made by Debian's
`mosquitto_passwd` ($7$ hashes, whose PBKDF2 output is SCRAM's SaltedPassword):

- MQTT.js (Debian's node-mqtt) with the SCRAM client side written in the node script (node's crypto): connects,
  verifies the server's signature in CONNACK, and exchanges a message; a wrong password is refused with 0x87;
- a hand-built client (Python's hashlib and hmac) for what MQTT.js cannot do: re-authentication (AUTH 0x19),
  a re-authentication with a wrong proof (DISCONNECT 0x87), AUTH without enhanced authentication (DISCONNECT
  0x82), and a $6$ user (0x87, with a log line that says why);
- `tern pub` and `tern sub` with `--auth-method SCRAM-SHA-512`, and what that CONNECT carries (no password).
"""
import base64
import hashlib
import hmac
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

import raw_mqtt as raw
from conftest import find_free_port
from mqtt_helpers import wait_until
from tern_broker import run_tern, tern_binary
from transports import ConfiguredTern, mqttjs_available, run_node

METHOD = "SCRAM-SHA-512"
needs_mosquitto_passwd = pytest.mark.skipif(shutil.which("mosquitto_passwd") is None,
                                            reason="mosquitto_passwd not installed")


@pytest.fixture
def broker():
    directory = Path(tempfile.mkdtemp(prefix="tern-scram-"))
    passwords = directory / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), "alice", "wonderland"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", "-H", "sha512", str(passwords), "old", "legacy"], check=True)
    assert "alice:$7$" in passwords.read_text()
    port = find_free_port()
    tern = ConfiguredTern(directory, f"listener {port} 127.0.0.1\npassword_file {passwords}\n"
                                     "allow_anonymous false\n")
    tern.port = port
    yield tern
    code = tern.stop()
    shutil.rmtree(directory, ignore_errors=True)
    assert code == 0, tern.output()


class ScramClient:
    """RFC 5802's client side with SHA-512, independently of Tern's code."""

    def __init__(self, user: str, password: str):
        self.user, self.password = user, password
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = f"n={user},r={self.nonce}"

    def first(self) -> bytes:
        return ("n,," + self.first_bare).encode()

    def final(self, server_first: bytes) -> bytes:
        fields = dict(part.split("=", 1) for part in server_first.decode().split(","))
        assert fields["r"].startswith(self.nonce)
        salted = hashlib.pbkdf2_hmac("sha512", self.password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
        client_key = hmac.new(salted, b"Client Key", "sha512").digest()
        without_proof = f"c=biws,r={fields['r']}"
        auth_message = f"{self.first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.new(hashlib.sha512(client_key).digest(), auth_message, "sha512").digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.new(salted, b"Server Key", "sha512").digest()
        self.expected = b"v=" + base64.b64encode(hmac.new(server_key, auth_message, "sha512").digest())
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def props(data: bytes) -> dict:
    return {"AuthenticationMethod": METHOD, "AuthenticationData": data}


def scram_connect(port: int, user: str, password: str):
    connection = raw.Connection("127.0.0.1", port)
    scram = ScramClient(user, password)
    connection.send(raw.connect("raw-scram", props=props(scram.first())))
    challenge = connection.read()
    if challenge.kind != raw.AUTH:
        return connection, scram, challenge
    assert challenge.reason == 0x18 and challenge.properties["AuthenticationMethod"] == METHOD
    connection.send(raw.auth(0x18, props(scram.final(challenge.properties["AuthenticationData"]))))
    return connection, scram, connection.expect(raw.CONNACK)


@needs_mosquitto_passwd
def test_hand_built_client_connects_and_reauthenticates(broker):
    connection, scram, connack = scram_connect(broker.port, "alice", "wonderland")
    assert connack.reason == 0
    assert connack.properties["AuthenticationMethod"] == METHOD
    assert connack.properties["AuthenticationData"] == scram.expected
    # Re-authentication while connected: AUTH 0x19, 0x18 both ways, AUTH 0x00 with the server's signature.
    again = ScramClient("alice", "wonderland")
    connection.send(raw.auth(0x19, props(again.first())))
    challenge = connection.expect(raw.AUTH)
    assert challenge.reason == 0x18
    connection.send(raw.auth(0x18, props(again.final(challenge.properties["AuthenticationData"]))))
    success = connection.expect(raw.AUTH)
    assert success.reason == 0 and success.properties["AuthenticationData"] == again.expected
    # A wrong proof in a re-authentication ends the connection with 0x87.
    wrong = ScramClient("alice", "not the password")
    connection.send(raw.auth(0x19, props(wrong.first())))
    challenge = connection.expect(raw.AUTH)
    connection.send(raw.auth(0x18, props(wrong.final(challenge.properties["AuthenticationData"]))))
    packets = connection.closing()
    assert [(p.kind, p.reason) for p in packets] == [(raw.DISCONNECT, 0x87)]


@needs_mosquitto_passwd
def test_auth_without_enhanced_authentication_is_a_protocol_error(broker):
    connection, connack = raw.open_session("127.0.0.1", broker.port, "plain", username="alice",
                                           password="wonderland")
    assert connack.reason == 0
    connection.send(raw.auth(0x19, props(ScramClient("alice", "wonderland").first())))
    assert [(p.kind, p.reason) for p in connection.closing()] == [(raw.DISCONNECT, 0x82)]


@needs_mosquitto_passwd
def test_sha512_user_cannot_use_scram_and_the_log_says_why(broker):
    connection, _, connack = scram_connect(broker.port, "old", "legacy")
    assert connack.kind == raw.CONNACK and connack.reason == 0x87
    assert wait_until(lambda: "$6$" in broker.output(), 10), broker.output()


@needs_mosquitto_passwd
def test_unknown_method_is_refused_with_0x8c(broker):
    connection = raw.Connection("127.0.0.1", broker.port)
    connection.send(raw.connect("other", props={"AuthenticationMethod": "SCRAM-SHA-1"}))
    assert connection.expect(raw.CONNACK).reason == 0x8C


# MQTT.js with SCRAM-SHA-512 done in the script: argv = url, user, password, topic. Prints "connected" once
# the server's signature verifies, "message PAYLOAD" when its own message comes back, or "refused CODE".
MQTTJS_SCRAM = r"""
const crypto = require('crypto');
const mqtt = require('mqtt');
const [url, user, password, topic] = process.argv.slice(1);
const nonce = crypto.randomBytes(18).toString('base64');
const firstBare = `n=${user},r=${nonce}`;
let expected = null;
const client = mqtt.connect(url, {
  protocolVersion: 5, clientId: 'mqttjs-scram-' + process.pid, reconnectPeriod: 0, connectTimeout: 10000,
  properties: { authenticationMethod: 'SCRAM-SHA-512', authenticationData: Buffer.from('n,,' + firstBare) },
});
client.handleAuth = (packet, callback) => {
  const serverFirst = packet.properties.authenticationData.toString();
  const fields = Object.fromEntries(serverFirst.split(',').map((p) => [p[0], p.slice(2)]));
  if (!fields.r.startsWith(nonce)) return callback(new Error('nonce'));
  const salted = crypto.pbkdf2Sync(password, Buffer.from(fields.s, 'base64'), Number(fields.i), 64, 'sha512');
  const hmac = (key, text) => crypto.createHmac('sha512', key).update(text).digest();
  const clientKey = hmac(salted, 'Client Key');
  const withoutProof = `c=biws,r=${fields.r}`;
  const authMessage = `${firstBare},${serverFirst},${withoutProof}`;
  const signature = hmac(crypto.createHash('sha512').update(clientKey).digest(), authMessage);
  const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i]));
  expected = 'v=' + hmac(hmac(salted, 'Server Key'), authMessage).toString('base64');
  callback(null, { cmd: 'auth', reasonCode: 0x18, properties: {
    authenticationMethod: 'SCRAM-SHA-512', authenticationData: Buffer.from(`${withoutProof},p=${proof.toString('base64')}`) } });
};
client.on('connect', (connack) => {
  const data = connack.properties && connack.properties.authenticationData;
  if (!data || data.toString() !== expected) { console.log('bad server signature'); process.exit(3); }
  console.log('connected');
  client.subscribe(topic, { qos: 1 }, () => client.publish(topic, 'over SCRAM', { qos: 1 }));
});
client.on('message', (t, payload) => {
  console.log('message ' + payload.toString());
  client.end(false, () => process.exit(0));
});
client.on('error', (error) => { console.log('refused ' + error.code); process.exit(2); });
setTimeout(() => { console.log('timeout'); process.exit(4); }, 20000);
"""


@pytest.mark.skipif(not mqttjs_available(), reason="node and node-mqtt not installed")
@needs_mosquitto_passwd
def test_mqttjs_connects_with_scram_and_verifies_the_server(broker):
    url = f"mqtt://127.0.0.1:{broker.port}"
    result = run_node(MQTTJS_SCRAM, url, "alice", "wonderland", "scram/js")
    assert result.stdout.split("\n")[:2] == ["connected", "message over SCRAM"], result.stdout + result.stderr
    refused = run_node(MQTTJS_SCRAM, url, "alice", "wrong", "scram/js")
    assert refused.stdout.strip() == "refused 135", refused.stdout + refused.stderr


@needs_mosquitto_passwd
def test_tern_pub_and_sub_authenticate_with_scram(broker):
    """`tern sub` and `tern pub` with `--auth-method SCRAM-SHA-512`: a message goes from one to the other; a wrong
    password gets the CONNACK's 0x87 as the exit status, as a refused password does."""
    scram = ["-V", "mqttv5", "--auth-method", METHOD, "-u", "alice"]
    port = ["-h", "127.0.0.1", "-p", str(broker.port)]
    subscriber = subprocess.Popen([str(tern_binary()), "sub", *port, *scram, "-P", "wonderland", "-t", "scram/#",
                                   "-C", "1", "-W", "30", "-v"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
    try:
        # Publish until the subscriber (subscribed at some point after it started) has the message.
        def delivered():
            published = run_tern("pub", *port, *scram, "-P", "wonderland", "-t", "scram/x", "-m", "proved",
                                 text=True)
            assert published.returncode == 0, published.stderr
            return subscriber.poll() is not None
        assert wait_until(delivered, 30)
        out, err = subscriber.communicate(timeout=10)
        assert subscriber.returncode == 0, err
        assert out.splitlines()[0] == "scram/x proved"
    finally:
        subscriber.kill()
    refused = run_tern("pub", *port, *scram, "-P", "not the password", "-t", "scram/x", "-m", "no", text=True)
    assert refused.returncode == 0x87, (refused.returncode, refused.stderr)
    assert "Not authorized" in refused.stderr


def test_tern_pub_with_scram_does_not_send_the_password():
    """What `tern pub --auth-method SCRAM-SHA-512` puts in CONNECT, read by a listening socket: the user name and
    the method with SCRAM's client-first message, no password flag, and the password nowhere in the packet."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        client = subprocess.Popen([str(tern_binary()), "pub", "-h", "127.0.0.1", "-p", str(port), "-V", "mqttv5",
                                   "--auth-method", METHOD, "-u", "alice", "-P", "wonderland", "-t", "t", "-m", "m"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            server.settimeout(30)
            connection, _ = server.accept()
            with connection:
                connection.settimeout(30)
                data = b""
                while len(data) < 2 or len(data) < packet_size(data):
                    chunk = connection.recv(4096)
                    assert chunk, data
                    data += chunk
        finally:
            client.kill()
            client.wait(10)
    assert data[0] == 0x10  # CONNECT
    header = data.index(b"MQTT") + 4  # protocol name, then the version and the connect flags
    assert data[header] == 5
    flags = data[header + 1]
    assert flags & 0x80 and not flags & 0x40, hex(flags)  # a user name, no password
    assert METHOD.encode() in data and b"n,,n=alice,r=" in data
    assert b"wonderland" not in data


def packet_size(data: bytes) -> int:
    """The size of the MQTT packet at the start of `data` (fixed header included), or a large number while its
    Remaining Length is incomplete."""
    try:
        length, body = raw.read_varint(data, 1)
    except IndexError:  # the Remaining Length is still arriving
        return 1 << 30
    return body + length


@pytest.mark.parametrize("arguments, message", [
    (["--auth-method", "PLAIN", "-V", "mqttv5", "-u", "a", "-P", "b"], "Unsupported authentication method"),
    (["--auth-method", METHOD, "-u", "a", "-P", "b"], "You must use MQTT v5"),
    (["--auth-method", METHOD, "-V", "mqttv5", "-u", "a"], "needs a username and a password"),
])
def test_tern_pub_auth_method_usage_errors(arguments, message):
    result = run_tern("pub", "-t", "t", "-m", "m", *arguments, text=True)
    assert result.returncode == 1 and message in result.stderr, result.stderr
