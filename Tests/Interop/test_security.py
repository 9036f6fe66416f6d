"""Configuration files, password files and ACL files: one mosquitto.conf, run by Tern and by Debian's mosquitto.

Each scenario writes a configuration (a `listener PORT 127.0.0.1` line plus the settings under test), a password
file made by Debian's `mosquitto_passwd` and an ACL file, then runs `tern serve -c FILE` and, where both brokers
should behave alike, `mosquitto -c FILE`, and checks what paho-mqtt 2.x and mosquitto_pub/_sub observe.

Where Tern deliberately differs from Mosquitto 2.0 it is tested on Tern only, with the reason:
- SUBSCRIBE to a filter through which the ACL lets nothing be read is refused (v5 0x87, v3.1.1 0x80); Mosquitto
  grants every subscription and filters each message on delivery (Tern filters on delivery too).
- SIGHUP reload of the password file disconnects a client whose user was removed (MQTT 5: DISCONNECT 0x87).
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import find_free_port, mosquitto_binary, wait_for_port
from mqtt_helpers import wait_until
from tern_broker import tern_binary

DEADLINE = 10.0
V311, V5 = mqtt.MQTTv311, mqtt.MQTTv5


class ConfiguredBroker:
    """`tern serve -c FILE` or `mosquitto -c FILE` with a configuration written here, on a free loopback port."""

    def __init__(self, kind: str, settings: str, directory: Path):
        self.kind = kind
        self.directory = directory
        self.host = "127.0.0.1"
        self.port = find_free_port()
        self.config = directory / f"{kind}.conf"
        self.config.write_text(f"listener {self.port} {self.host}\n{settings}\n")
        self.log_path = directory / f"{kind}.log"
        self.log = open(self.log_path, "w+")
        if kind == "tern":
            command = [str(tern_binary()), "serve", "-c", str(self.config)]
        else:
            command = [mosquitto_binary(), "-c", str(self.config)]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT, cwd=directory)
        wait_for_port(self.host, self.port, DEADLINE, self.process)

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def reload(self, expect: str = "reloaded"):
        """SIGHUP, then waits for the log line that says the reload is done (or failed)."""
        before = self.output().count(expect)
        self.process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: self.output().count(expect) > before, DEADLINE), self.output()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode


@pytest.fixture
def workdir():
    directory = Path(tempfile.mkdtemp(prefix="tern-security-"))
    # mosquitto started as root reads its files as the `mosquitto` user.
    os.chmod(directory, 0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def start(workdir):
    """start(kind, settings) → a running ConfiguredBroker; all are stopped at the end of the test."""
    brokers = []

    def start(kind, settings):
        broker = ConfiguredBroker(kind, settings, workdir)
        brokers.append(broker)
        return broker

    yield start
    for broker in brokers:
        code = broker.stop()
        if broker.kind == "tern":
            assert code == 0, f"tern exited with status {code}:\n{broker.output()}"


def mosquitto_passwd(path: Path, user: str, password: str, create: bool = False):
    arguments = ["mosquitto_passwd", *(["-c"] if create else []), "-b", str(path), user, password]
    subprocess.run(arguments, check=True, capture_output=True, timeout=30)
    os.chmod(path, 0o644)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    os.chmod(path, 0o644)
    return path


class Session:
    """A paho 2.x client that records its CONNACK, SUBACKs, PUBACK/PUBREC reason codes and messages."""

    def __init__(self, broker, client_id, username=None, password=None, protocol=V5, will=None, connect=True):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self.protocol = protocol
        if username is not None:
            self.client.username_pw_set(username, password)
        if will:
            self.client.will_set(*will)
        self.lock = threading.Lock()
        self.connack = None
        self.subacks = {}
        self.acks = {}
        self.messages = []
        self.disconnected = None
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect
        # paho would reconnect by itself after a refusal; these tests want to see each refusal once.
        self.client.reconnect_delay_set(60, 60)
        if connect:
            self.client.connect(broker.host, broker.port, keepalive=30)
            self.client.loop_start()
            assert wait_until(lambda: self.connack is not None, DEADLINE), "no CONNACK"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack_properties = properties
        self.connack = reason_code

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        self.subacks[mid] = [code.value for code in reason_codes]

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self.acks[mid] = reason_code.value

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append((message.topic, message.payload.decode()))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnected = reason_code

    @property
    def connack_code(self) -> int:
        """The CONNACK's reason code, or the 3.1.1 return code for 3.1.1."""
        if self.protocol == V311:
            return {0: 0, 0x84: 1, 0x85: 2, 0x88: 3, 0x86: 4, 0x87: 5}.get(self.connack.value, self.connack.value)
        return self.connack.value

    def subscribe(self, *filters, qos=1) -> list[int]:
        result, mid = self.client.subscribe([(topic, qos) for topic in filters])
        assert wait_until(lambda: mid in self.subacks, DEADLINE), "no SUBACK"
        return self.subacks[mid]

    def publish(self, topic, payload, qos=1, retain=False) -> int | None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return None
        assert wait_until(lambda: info.mid in self.acks, DEADLINE), "no acknowledgement"
        return self.acks[info.mid]

    def received(self):
        with self.lock:
            return list(self.messages)

    def close(self, clean=True):
        if clean:
            self.client.disconnect()
        self.client.loop_stop()


def sync(publisher, subscriber, topic="sync/marker"):
    """Publishes a marker that `subscriber` may read, and waits for it: everything published before has been routed."""
    marker = f"marker-{time.monotonic_ns()}"
    publisher.publish(topic, marker, qos=1)
    assert wait_until(lambda: (topic, marker) in subscriber.received(), DEADLINE), subscriber.received()


# ---------------------------------------------------------------------------------------------------------------
# Configuration file errors
# ---------------------------------------------------------------------------------------------------------------

def run_tern(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(tern_binary()), "serve", "-c", str(config)], capture_output=True, text=True,
                          timeout=DEADLINE * 2, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("text, line, words", [
    ("listener {port} 127.0.0.1\nmax_keepalive abc\n", 2, "max_keepalive"),
    ("allow_anonymous false\nlistener {port} 127.0.0.1\nallow_anonymous maybe\n", 3, "allow_anonymous"),
    ("socket_domain ipv4\nlistener {port}\n", 1, "socket_domain"),  # a listener setting before any listener
    ("listener {port} 127.0.0.1\npassword_file\n", 2, "password_file"),
])
def test_bad_configuration_stops_with_file_and_line(workdir, text, line, words):
    config = write(workdir / "bad.conf", text.format(port=find_free_port()))
    result = run_tern(config)
    assert result.returncode != 0
    assert re.search(rf"{re.escape(str(config))}:{line}: .*{words}", result.stderr), result.stderr


def test_unreadable_password_file_and_broken_acl_stop_the_broker(workdir):
    port = find_free_port()
    missing = write(workdir / "a.conf", f"listener {port} 127.0.0.1\npassword_file {workdir}/nope\n")
    result = run_tern(missing)
    assert result.returncode != 0 and f"{workdir}/nope" in result.stderr, result.stderr
    acl = write(workdir / "acl", "user alice\ntopic sideways a/b\n")
    broken = write(workdir / "b.conf", f"listener {port} 127.0.0.1\nacl_file {acl}\n")
    result = run_tern(broken)
    assert result.returncode != 0 and re.search(rf"{acl}:2:", result.stderr), result.stderr


def test_unknown_setting_is_a_warning_with_file_and_line(start):
    broker = start("tern", "allow_anonymous true\nno_such_setting 1\n")
    assert re.search(rf"{re.escape(str(broker.config))}:3: .*no_such_setting", broker.output()), broker.output()
    client = Session(broker, "anyone")
    assert client.connack_code == 0


# ---------------------------------------------------------------------------------------------------------------
# Authentication
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["tern", "mosquitto"])
def test_password_file_from_mosquitto_passwd(start, workdir, kind):
    passwd = workdir / "passwd"
    mosquitto_passwd(passwd, "alice", "secret", create=True)
    mosquitto_passwd(passwd, "bob", "hunter2")
    broker = start(kind, f"password_file {passwd}\n")
    for protocol, refused in ((V311, 5), (V5, 0x87)):
        assert Session(broker, "", "alice", "secret", protocol).connack_code == 0
        assert Session(broker, "", "bob", "hunter2", protocol).connack_code == 0
        assert Session(broker, "", "alice", "wrong", protocol).connack_code == refused  # wrong password
        assert Session(broker, "", "mallory", "secret", protocol).connack_code == refused  # unknown user
        assert Session(broker, "", None, None, protocol).connack_code == refused  # anonymous, refused by default
    ok = subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-u", "alice", "-P", "secret", "-t", "t",
                         "-m", "x"], capture_output=True, timeout=DEADLINE)
    bad = subprocess.run(["mosquitto_pub", "-p", str(broker.port), "-u", "alice", "-P", "nope", "-t", "t",
                          "-m", "x"], capture_output=True, text=True, timeout=DEADLINE)
    assert ok.returncode == 0
    assert bad.returncode != 0 and "not authori" in bad.stderr.lower(), bad.stderr
    if kind == "tern":
        assert "secret" not in broker.output() and "nope" not in broker.output()  # never logged
        assert "refused" in broker.output()


@pytest.mark.parametrize("kind", ["tern", "mosquitto"])
def test_allow_anonymous_true_with_a_password_file(start, workdir, kind):
    passwd = workdir / "passwd"
    mosquitto_passwd(passwd, "alice", "secret", create=True)
    broker = start(kind, f"allow_anonymous true\npassword_file {passwd}\n")
    assert Session(broker, "", None, None).connack_code == 0
    assert Session(broker, "", "alice", "secret").connack_code == 0
    assert Session(broker, "", "alice", "wrong").connack_code == 0x87  # a user name is still checked


# ---------------------------------------------------------------------------------------------------------------
# Authorization
# ---------------------------------------------------------------------------------------------------------------

ACL = """\
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic read shared/#
topic deny shared/secret
topic readwrite sync/#

user admin
topic readwrite #
topic read $SYS/#

pattern readwrite users/%u/#
pattern write clients/%c/status
pattern read clients/+/status
"""


@pytest.fixture(params=["tern", "mosquitto"])
def acl_broker(request, start, workdir):
    passwd = workdir / "passwd"
    mosquitto_passwd(passwd, "alice", "a", create=True)
    mosquitto_passwd(passwd, "admin", "x")
    mosquitto_passwd(passwd, "carol", "c")
    acl = write(workdir / "acl", ACL)
    return start(request.param, f"allow_anonymous true\npassword_file {passwd}\nacl_file {acl}\n")


def test_publish_allowed_and_denied(acl_broker):
    admin = Session(acl_broker, "admin", "admin", "x")
    admin.subscribe("#")
    alice5 = Session(acl_broker, "alice5", "alice", "a", V5)
    alice3 = Session(acl_broker, "alice3", "alice", "a", V311)
    assert alice5.publish("alice/diary", "mine") == 0
    assert alice5.publish("shared/news", "not mine to write", qos=1) == 0x87  # v5: PUBACK Not authorized
    assert alice3.publish("shared/news", "dropped", qos=1) == 0  # v3.1.1: acknowledged, then dropped
    assert alice3.publish("users/alice/x", "via %u") == 0
    sync(admin, admin)
    assert [m for m in admin.received() if not m[0].startswith("sync/")] == [
        ("alice/diary", "mine"), ("users/alice/x", "via %u")]


def test_no_client_publishes_to_sys(acl_broker):
    admin = Session(acl_broker, "admin", "admin", "x")
    admin.subscribe("$SYS/broker/forged")
    assert admin.publish("$SYS/broker/forged", "x", qos=1) == 0x87  # even with `topic readwrite #`
    admin.publish("sync/x", "y")
    assert not admin.received()


def test_delivery_is_filtered_whatever_the_filter(acl_broker):
    admin = Session(acl_broker, "admin", "admin", "x")
    admin.publish("shared/secret", "retained secret", retain=True)
    admin.publish("shared/open", "retained open", retain=True)
    alice = Session(acl_broker, "alice", "alice", "a")
    alice.subscribe("#")
    admin.publish("shared/secret", "live secret")
    admin.publish("elsewhere/x", "live elsewhere")
    admin.publish("shared/open", "live open")
    sync(alice, alice)
    got = [m for m in alice.received() if not m[0].startswith("sync/")]
    assert got == [("shared/open", "retained open"), ("shared/open", "live open")]
    for topic in ("shared/secret", "shared/open"):
        admin.publish(topic, "", retain=True)


def test_anonymous_rules_and_patterns(acl_broker):
    admin = Session(acl_broker, "admin", "admin", "x")
    admin.subscribe("sync/#")
    anonymous = Session(acl_broker, "anon", None, None)
    anonymous.subscribe("#")
    carol = Session(acl_broker, "carol-1", "carol", "c")  # no user section: patterns only
    carol.subscribe("users/#")
    for topic in ("public/news", "alice/diary", "users/carol/inbox", "users/alice/inbox"):
        admin.publish(topic, topic)
    sync(admin, admin)
    assert wait_until(lambda: ("public/news", "public/news") in anonymous.received(), DEADLINE)
    assert wait_until(lambda: carol.received(), DEADLINE)
    assert carol.received() == [("users/carol/inbox", "users/carol/inbox")]
    assert anonymous.publish("public/news", "read only") == 0x87
    assert carol.publish("users/carol/x", "own") == 0
    assert carol.publish("users/alice/x", "someone else's") == 0x87


def test_will_with_client_id_pattern(acl_broker):
    watcher = Session(acl_broker, "watcher", "carol", "c")
    watcher.subscribe("clients/+/status")
    allowed = Session(acl_broker, "device-1", "carol", "c", will=("clients/device-1/status", "offline-1"))
    forged = Session(acl_broker, "device-2", "carol", "c", will=("clients/device-1/status", "forged"))
    # Closed without DISCONNECT: the wills are due.
    allowed.client.socket().close()
    forged.client.socket().close()
    assert wait_until(lambda: watcher.received(), DEADLINE)
    time.sleep(0.5)  # a second, forged will would arrive right after the first one
    assert watcher.received() == [("clients/device-1/status", "offline-1")]


def test_subscribe_refused_where_nothing_is_readable(start, workdir):
    """Tern only: Mosquitto 2.0 grants every subscription and filters on delivery."""
    passwd = workdir / "passwd"
    mosquitto_passwd(passwd, "alice", "a", create=True)
    acl = write(workdir / "acl", ACL)
    broker = start("tern", f"password_file {passwd}\nacl_file {acl}\n")
    alice5 = Session(broker, "a5", "alice", "a", V5)
    alice3 = Session(broker, "a3", "alice", "a", V311)
    assert alice5.subscribe("alice/#", "secret/#", "shared/secret", "#") == [1, 0x87, 0x87, 1]
    assert alice3.subscribe("alice/#", "secret/#", "shared/secret", "#") == [1, 0x80, 0x80, 1]
    sub = subprocess.run(["mosquitto_sub", "-p", str(broker.port), "-u", "alice", "-P", "a", "-t", "secret/#",
                          "-E"], capture_output=True, text=True, timeout=DEADLINE)
    assert sub.returncode != 0 or "denied" in (sub.stdout + sub.stderr).lower(), sub


# ---------------------------------------------------------------------------------------------------------------
# Reload (SIGHUP)
# ---------------------------------------------------------------------------------------------------------------

def test_reload_adds_and_removes_users_while_clients_stay_connected(start, workdir):
    passwd = workdir / "passwd"
    mosquitto_passwd(passwd, "alice", "a", create=True)
    mosquitto_passwd(passwd, "carol", "c")
    acl = write(workdir / "acl", "user alice\ntopic readwrite #\nuser carol\ntopic readwrite #\n")
    broker = start("tern", f"password_file {passwd}\nacl_file {acl}\n")
    carol = Session(broker, "carol", "carol", "c")
    carol.subscribe("t")
    alice = Session(broker, "alice", "alice", "a")
    assert Session(broker, "bob-1", "bob", "b").connack_code == 0x87

    # bob added, alice removed; carol's ACL narrowed to `t` (read only).
    subprocess.run([str(tern_binary()), "passwd", "-b", str(passwd), "bob", "b"], check=True, capture_output=True)
    subprocess.run([str(tern_binary()), "passwd", "-D", str(passwd), "alice"], check=True, capture_output=True)
    write(acl, "user carol\ntopic read t\nuser bob\ntopic readwrite #\n")
    broker.reload()

    bob = Session(broker, "bob-2", "bob", "b")
    assert bob.connack_code == 0
    assert wait_until(lambda: alice.disconnected is not None, DEADLINE), "alice was not disconnected"
    assert alice.disconnected.value == 0x87
    assert Session(broker, "alice-2", "alice", "a").connack_code == 0x87
    # carol stayed connected, with her subscription, under the new rules.
    assert bob.publish("t", "after reload") == 0
    assert wait_until(lambda: ("t", "after reload") in carol.received(), DEADLINE)
    assert carol.publish("t", "no longer writable") == 0x87


def test_failed_reload_keeps_the_previous_configuration(start, workdir):
    passwd = workdir / "passwd"
    mosquitto_passwd(passwd, "alice", "a", create=True)
    broker = start("tern", f"password_file {passwd}\n")
    write(passwd, "this line has no separator\n")
    broker.reload(expect="reload failed")
    assert re.search(rf"{passwd}:1", broker.output()), broker.output()
    assert Session(broker, "alice", "alice", "a").connack_code == 0


# ---------------------------------------------------------------------------------------------------------------
# Broker settings of the same file
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["tern", pytest.param("mosquitto", marks=pytest.mark.xfail(
    strict=True, reason="mosquitto 2.0.11 answers PUBACK 0x95 Packet too large, which PUBACK may not carry "
    "(MQTT 5 3.4.2.1): paho reports a malformed packet and drops the connection"))])
def test_message_size_limit(start, kind):
    """Payloads over message_size_limit are dropped; MQTT 5 gets PUBACK 0x83 Implementation specific error."""
    broker = start(kind, "allow_anonymous true\nmessage_size_limit 10\n")
    subscriber = Session(broker, "sub")
    subscriber.subscribe("t")
    v5 = Session(broker, "v5")
    v3 = Session(broker, "v3", protocol=V311)
    assert v5.publish("t", "x" * 11) == 0x83
    assert v3.publish("t", "y" * 11) == 0  # acknowledged, dropped
    assert v5.publish("t", "z" * 10) == 0
    # The accepted message was published last: once it is here, a dropped one would have arrived before it.
    assert wait_until(lambda: subscriber.received(), DEADLINE)
    assert subscriber.received() == [("t", "z" * 10)]


def test_log_dest_file_and_connection_messages(start, workdir):
    log = workdir / "broker.log"
    broker = start("tern", f"allow_anonymous true\nlog_dest file {log}\nconnection_messages false\n")
    Session(broker, "quiet-client").close()
    assert wait_until(lambda: log.exists() and "listening on" in log.read_text(), DEADLINE)
    assert "listening on" not in broker.output()  # not on standard error any more
    time.sleep(0.2)  # the disconnect is logged right after the client leaves, if at all
    assert "quiet-client" not in log.read_text()


@pytest.mark.parametrize("kind", ["tern", "mosquitto"])
def test_per_listener_client_identifier_settings(start, kind):
    broker = start(kind, "per_listener_settings true\nallow_anonymous true\nauto_id_prefix plant-\n")
    client = Session(broker, "")
    assert client.connack_code == 0
    assert client.connack_properties.AssignedClientIdentifier.startswith("plant-")


@pytest.mark.parametrize("kind", ["tern", "mosquitto"])
def test_use_username_as_clientid(start, workdir, kind):
    """The user name replaces the client identifier: a second client of the same user takes the first one's
    session over whatever identifier it sends, the `%c` ACL pattern sees the user name, and a client without a
    user name is refused as not authorized."""
    passwd = workdir / "passwd"
    mosquitto_passwd(passwd, "alice", "secret", create=True)
    acl = write(workdir / "acl", "pattern readwrite clients/%c/#\n")
    broker = start(kind, f"allow_anonymous true\npassword_file {passwd}\nacl_file {acl}\n"
                         "use_username_as_clientid true\n")
    first = Session(broker, "sensor-1", "alice", "secret")
    assert first.connack_code == 0
    assert first.subscribe("clients/alice/#") == [1]
    assert first.publish("clients/alice/status", "up") == 0  # allowed: %c is alice, not sensor-1
    assert wait_until(lambda: ("clients/alice/status", "up") in first.received(), DEADLINE)
    second = Session(broker, "sensor-2", "alice", "secret")
    assert second.connack_code == 0
    assert wait_until(lambda: first.disconnected is not None, DEADLINE)
    if kind == "tern":
        # DISCONNECT 0x8E Session taken over [MQTT-3.1.4-3]; mosquitto 2.0.11 closes the old connection without it
        # (on any takeover).
        assert first.disconnected.value == 0x8E
    empty = Session(broker, "", "alice", "secret")  # an MQTT 5 client that asks for an identifier is told
    assert (empty.connack_code, empty.connack_properties.AssignedClientIdentifier) == (0, "alice")
    for protocol, refused in ((V5, 0x87), (V311, 5)):
        assert Session(broker, "anonymous", protocol=protocol).connack_code == refused
    for session in (first, second, empty):
        session.close()


@pytest.mark.parametrize("kind", ["tern", "mosquitto"])
def test_clientid_prefixes(start, kind):
    broker = start(kind, "allow_anonymous true\nclientid_prefixes sensor-\n")
    for protocol, refused in ((V5, 0x87), (V311, 5)):
        allowed = Session(broker, "sensor-1", protocol=protocol)
        assert allowed.connack_code == 0
        allowed.close()
        assert Session(broker, "camera-1", protocol=protocol).connack_code == refused
