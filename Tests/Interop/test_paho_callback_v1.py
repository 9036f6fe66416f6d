"""Tern with paho-mqtt 2.x used in its callback API version 1 style (`mqtt.CallbackAPIVersion.VERSION1`): the old
callback signatures that programs written for paho-mqtt 1.x keep using after moving to 2.x.

    on_connect(client, userdata, flags, rc)                          3.1.1; flags["session present"] is 0 or 1
    on_connect(client, userdata, flags, reasonCode, properties)      5
    on_subscribe(client, userdata, mid, granted_qos)                 3.1.1; a tuple of ints
    on_subscribe(client, userdata, mid, reasonCodes, properties)     5; a list of ReasonCode
    on_unsubscribe(client, userdata, mid)                            3.1.1
    on_unsubscribe(client, userdata, mid, properties, reasonCodes)   5; one ReasonCode, or a list for several
    on_publish(client, userdata, mid)
    on_message(client, userdata, message)
    on_disconnect(client, userdata, rc)                              3.1.1
    on_disconnect(client, userdata, rc, properties)                  5; the broker's reason code if it sent one

Each callback below has exactly one of these signatures (no defaults, no *args): if paho called it with other
arguments the call would fail, the test would not see the event and would fail at its deadline. Every wait has a
deadline; nothing sleeps a fixed time.
"""
import queue
import socket

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from mqtt_helpers import V5, V311

pytestmark = pytest.mark.filterwarnings("ignore:Callback API version 1 is deprecated:DeprecationWarning")

PROTOCOLS = [pytest.param(V311, id="v3.1.1"), pytest.param(V5, id="v5")]
DEADLINE = 10.0


class V1Client:
    """A paho-mqtt 2.x client with VERSION1 callbacks, its network loop in paho's thread (loop_start). Every callback
    puts its arguments, as paho passed them, in the queue of its name; next(name) takes the next one."""

    def __init__(self, broker, client_id, protocol, clean=True, session_expiry=None, will=None,
                 reconnect_on_failure=True):
        self.protocol = protocol
        self.reconnect_on_failure = reconnect_on_failure
        self.userdata = {"client id": client_id}
        kwargs = {"client_id": client_id, "protocol": protocol, "userdata": self.userdata,
                  "reconnect_on_failure": reconnect_on_failure}
        if protocol != V5:
            kwargs["clean_session"] = clean
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, **kwargs)
        assert self.client.callback_api_version == mqtt.CallbackAPIVersion.VERSION1
        self.events = {name: queue.Queue() for name in
                       ("connect", "subscribe", "unsubscribe", "publish", "message", "disconnect")}
        self._install_callbacks()
        if will:
            self.client.will_set(**will)
        connect_kwargs = {}
        if protocol == V5:
            properties = Properties(PacketTypes.CONNECT)
            if session_expiry is not None:
                properties.SessionExpiryInterval = session_expiry
            connect_kwargs = {"clean_start": clean, "properties": properties}
        self.client.connect(broker.host, broker.port, keepalive=30, **connect_kwargs)
        self.client.loop_start()
        self.connack = self.next("connect")

    def _install_callbacks(self):
        events = self.events

        def on_message(client, userdata, message):
            events["message"].put((userdata, message))

        def on_publish(client, userdata, mid):
            events["publish"].put((userdata, mid))

        if self.protocol == V5:
            def on_connect(client, userdata, flags, reasonCode, properties):
                events["connect"].put((userdata, flags, reasonCode, properties))

            def on_subscribe(client, userdata, mid, reasonCodes, properties):
                events["subscribe"].put((userdata, mid, reasonCodes, properties))

            def on_unsubscribe(client, userdata, mid, properties, reasonCodes):
                events["unsubscribe"].put((userdata, mid, properties, reasonCodes))

            def on_disconnect(client, userdata, rc, properties):
                events["disconnect"].put((userdata, rc, properties))
        else:
            def on_connect(client, userdata, flags, rc):
                events["connect"].put((userdata, flags, rc))

            def on_subscribe(client, userdata, mid, granted_qos):
                events["subscribe"].put((userdata, mid, granted_qos))

            def on_unsubscribe(client, userdata, mid):
                events["unsubscribe"].put((userdata, mid))

            def on_disconnect(client, userdata, rc):
                events["disconnect"].put((userdata, rc))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_unsubscribe = on_unsubscribe
        self.client.on_publish = on_publish
        self.client.on_message = on_message
        self.client.on_disconnect = on_disconnect

    def next(self, name):
        try:
            return self.events[name].get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError(f"{self.userdata['client id']}: no on_{name} within {DEADLINE} s") from None

    def messages(self, count):
        """The next `count` messages given to on_message (each checked to carry our userdata)."""
        result = []
        for _ in range(count):
            userdata, message = self.next("message")
            assert userdata is self.userdata
            result.append(message)
        return result

    def subscribe(self, topics):
        result, mid = self.client.subscribe(topics)
        assert result == mqtt.MQTT_ERR_SUCCESS
        event = self.next("subscribe")
        assert event[0] is self.userdata and event[1] == mid
        return event[2:]

    def publish(self, topic, payload, qos=0, retain=False):
        """Publishes and waits for on_publish with the same mid."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS
        userdata, mid = self.next("publish")
        assert userdata is self.userdata and mid == info.mid
        return mid

    def disconnect(self):
        """A normal DISCONNECT; returns the arguments of on_disconnect after userdata."""
        self.client.disconnect()
        event = self.next("disconnect")
        self.client.loop_stop()
        assert event[0] is self.userdata
        return event[1:]

    def drop(self):
        """Ends the connection without DISCONNECT, as a crashed program would (for a client made with
        reconnect_on_failure=False, so that paho does not connect again); returns the arguments of on_disconnect."""
        assert not self.reconnect_on_failure
        self.client.socket().shutdown(socket.SHUT_RDWR)
        event = self.next("disconnect")
        self.client.loop_stop()
        return event[1:]

    def stop(self):
        """Cleanup: a DISCONNECT if still connected (which also ends paho's network thread at once), then
        loop_stop."""
        if self.client.is_connected():
            self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def v1_clients(tern):
    """Factory: v1_clients(client_id, protocol, **options) -> connected V1Client; all stopped after the test."""
    clients = []

    def connect(client_id, protocol, **options):
        client = V1Client(tern, client_id, protocol, **options)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.stop()


def assert_connack(client, session_present):
    if client.protocol == V5:
        userdata, flags, reason_code, properties = client.connack
        assert isinstance(reason_code, ReasonCode) and reason_code == 0, reason_code
        assert isinstance(properties, Properties)
    else:
        userdata, flags, rc = client.connack
        assert rc == 0
    assert userdata is client.userdata
    assert flags == {"session present": int(session_present)}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_connect_subscribe_with_wildcards_and_publish_qos_0_1_2(v1_clients, protocol):
    subscriber = v1_clients("v1-sub", protocol)
    assert_connack(subscriber, session_present=False)
    acknowledgement = subscriber.subscribe([("home/+/temperature", 2), ("factory/#", 1)])
    if protocol == V5:
        reason_codes, properties = acknowledgement
        assert all(isinstance(code, ReasonCode) for code in reason_codes)
        assert [code.value for code in reason_codes] == [2, 1]
        assert isinstance(properties, Properties)
    else:
        assert acknowledgement == ((2, 1),)
    publisher = v1_clients("v1-pub", protocol)
    mids = [publisher.publish("home/kitchen/temperature", f"qos{qos}", qos=qos) for qos in (0, 1, 2)]
    mids += [publisher.publish("home/kitchen/sensor/temperature", "not matched", qos=1),
             publisher.publish("factory", "parent level", qos=2),
             publisher.publish("factory/line1/machine3", "deep", qos=2)]
    assert len(set(mids)) == len(mids)
    received = subscriber.messages(5)
    # Per topic and QoS in publishing order; paho gives a QoS 2 message to on_message at its PUBREL, so the
    # order between QoS levels is not fixed.
    assert sorted((m.topic, m.payload, m.qos, m.retain) for m in received) == sorted([
        ("home/kitchen/temperature", b"qos0", 0, False), ("home/kitchen/temperature", b"qos1", 1, False),
        ("home/kitchen/temperature", b"qos2", 2, False), ("factory", b"parent level", 1, False),
        ("factory/line1/machine3", b"deep", 1, False)])
    assert [m.payload for m in received if m.topic.startswith("factory")] == [b"parent level", b"deep"]
    assert all(m.mid != 0 for m in received if m.qos > 0)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_retained_message_and_clear(v1_clients, protocol):
    publisher = v1_clients("v1-retain-pub", protocol)
    publisher.publish("device/thermostat/setpoint", "20", qos=1, retain=True)
    publisher.publish("device/thermostat/setpoint", "21.5", qos=2, retain=True)
    subscriber = v1_clients("v1-retain-sub", protocol)
    subscriber.subscribe("device/#")   # paho's default QoS: 0
    [retained] = subscriber.messages(1)
    assert (retained.topic, retained.payload, retained.qos, retained.retain) == (
        "device/thermostat/setpoint", b"21.5", 0, True)
    publisher.publish("device/thermostat/setpoint", "", qos=1, retain=True)   # clears it, and is forwarded
    [cleared] = subscriber.messages(1)
    assert (cleared.payload, cleared.retain) == (b"", False)
    later = v1_clients("v1-retain-later", protocol)
    later.subscribe([("device/#", 1)])
    publisher.publish("device/sentinel", "after the subscribe", qos=1)
    assert [m.topic for m in later.messages(1)] == ["device/sentinel"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_will_on_crash_and_none_on_disconnect(v1_clients, protocol):
    watcher = v1_clients("v1-watcher", protocol)
    watcher.subscribe([("devices/+/status", 1)])
    crashing = v1_clients("v1-device-1", protocol, reconnect_on_failure=False, will=dict(
        topic="devices/v1-device-1/status", payload="offline", qos=1, retain=True))
    crashing.publish("devices/v1-device-1/status", "online", qos=1, retain=True)
    assert crashing.drop()[0] == mqtt.MQTT_ERR_CONN_LOST   # paho's rc for a lost connection
    assert [(m.topic, m.payload) for m in watcher.messages(2)] == [
        ("devices/v1-device-1/status", b"online"), ("devices/v1-device-1/status", b"offline")]
    polite = v1_clients("v1-device-2", protocol, will=dict(topic="devices/v1-device-2/status", payload="offline"))
    if protocol == V5:
        rc, properties = polite.disconnect()
        assert rc == 0   # paho's own DISCONNECT: MQTT_ERR_SUCCESS, no properties
        assert properties is None
    else:
        assert polite.disconnect() == (0,)
    # The will of the polite client would have been published at its DISCONNECT, before this message.
    v1_clients("v1-sentinel", protocol).publish("devices/sentinel/status", "last", qos=1)
    assert [m.topic for m in watcher.messages(1)] == ["devices/sentinel/status"]
    newcomer = v1_clients("v1-newcomer", protocol)
    newcomer.subscribe([("devices/v1-device-1/status", 1)])
    [status] = newcomer.messages(1)
    assert (status.payload, status.retain) == (b"offline", True)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_persistent_session_reports_session_present(v1_clients, protocol):
    session = {"clean": False, "session_expiry": 300} if protocol == V5 else {"clean": False}
    first = v1_clients("v1-persistent", protocol, **session)
    assert_connack(first, session_present=False)
    first.subscribe([("inbox/#", 2)])
    first.disconnect()
    sender = v1_clients("v1-sender", protocol)
    for n, qos in enumerate([1, 2, 1, 0]):   # QoS 0 is not queued for an offline session
        sender.publish(f"inbox/{qos}", f"m{n}", qos=qos)
    back = v1_clients("v1-persistent", protocol, **session)
    assert_connack(back, session_present=True)
    received = back.messages(3)
    assert sorted((m.payload, m.qos) for m in received) == [(b"m0", 1), (b"m1", 2), (b"m2", 1)]
    assert [m.payload for m in received if m.qos == 1] == [b"m0", b"m2"]
    back.disconnect()
    clean = v1_clients("v1-persistent", protocol, **({"clean": True, "session_expiry": 0} if protocol == V5 else {}))
    assert_connack(clean, session_present=False)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unsubscribe(v1_clients, protocol):
    subscriber = v1_clients("v1-unsub", protocol)
    subscriber.subscribe([("news/#", 1), ("alerts/#", 1)])
    publisher = v1_clients("v1-unsub-pub", protocol)
    publisher.publish("news/today", "before", qos=1)
    assert [m.payload for m in subscriber.messages(1)] == [b"before"]

    result, mid = subscriber.client.unsubscribe("news/#")
    assert result == mqtt.MQTT_ERR_SUCCESS
    event = subscriber.next("unsubscribe")
    assert event[:2] == (subscriber.userdata, mid)
    if protocol == V5:
        properties, reason_code = event[2:]
        assert isinstance(reason_code, ReasonCode) and reason_code.value == 0x00   # one topic: one ReasonCode
        result, mid = subscriber.client.unsubscribe(["news/#", "alerts/#"])
        event = subscriber.next("unsubscribe")
        assert event[1] == mid
        assert [code.value for code in event[3]] == [0x11, 0x00]   # No subscription existed, Success
    else:
        assert len(event) == 2
        result, mid = subscriber.client.unsubscribe("alerts/#")
        assert subscriber.next("unsubscribe") == (subscriber.userdata, mid)
    subscriber.subscribe([("sentinel", 1)])
    publisher.publish("news/today", "after", qos=1)
    publisher.publish("alerts/fire", "after", qos=1)
    publisher.publish("sentinel", "last", qos=1)
    assert [m.topic for m in subscriber.messages(1)] == ["sentinel"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_disconnect_by_the_broker(v1_clients, protocol):
    # The same client id connecting again takes the session over: the first connection is closed by the broker
    # (MQTT 5: DISCONNECT 0x8E Session taken over). Without reconnect_on_failure, paho does not fight back.
    old = v1_clients("v1-takeover", protocol, reconnect_on_failure=False)
    v1_clients("v1-takeover", protocol, reconnect_on_failure=False)
    event = old.next("disconnect")
    assert event[0] is old.userdata
    if protocol == V5:
        rc, properties = event[1:]
        assert isinstance(rc, ReasonCode) and rc.value == 0x8E
    else:
        (rc,) = event[1:]
        assert rc == mqtt.MQTT_ERR_CONN_LOST


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_subscribe_in_on_connect_and_message_callback_add(tern, protocol):
    """The usual 1.x program: subscriptions made in on_connect, a per-filter callback, loop_start."""
    got = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id="v1-classic", protocol=protocol)

    if protocol == V5:
        def on_connect(client, userdata, flags, reasonCode, properties):
            client.subscribe([("sensors/#", 1), ("commands/+", 2)])

        def on_subscribe(client, userdata, mid, reasonCodes, properties):
            got.put(("subscribed", [code.value for code in reasonCodes]))
    else:
        def on_connect(client, userdata, flags, rc):
            client.subscribe([("sensors/#", 1), ("commands/+", 2)])

        def on_subscribe(client, userdata, mid, granted_qos):
            got.put(("subscribed", list(granted_qos)))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = lambda client, userdata, message: got.put(("default", message.topic, message.payload))
    client.message_callback_add("commands/+", lambda client, userdata, message: got.put(
        ("command", message.topic, message.payload)))
    client.connect(tern.host, tern.port)
    client.loop_start()
    try:
        assert got.get(timeout=DEADLINE) == ("subscribed", [1, 2])
        publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id="v1-classic-pub", protocol=protocol)
        publisher.connect(tern.host, tern.port)
        publisher.loop_start()
        publisher.publish("sensors/door", "open", qos=1).wait_for_publish(DEADLINE)
        publisher.publish("commands/reboot", "now", qos=2).wait_for_publish(DEADLINE)
        publisher.disconnect()
        publisher.loop_stop()
        assert sorted([got.get(timeout=DEADLINE), got.get(timeout=DEADLINE)]) == [
            ("command", "commands/reboot", b"now"), ("default", "sensors/door", b"open")]
    finally:
        client.disconnect()
        client.loop_stop()
