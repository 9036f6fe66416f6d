"""MQTT 5.0 conformance: the scenarios of the Eclipse Paho interoperability suite (paho.mqtt.testing,
interoperability/client_test5.py) and the rest of the MQTT 5 features a server must get right, re-expressed with
paho-mqtt 2.x and hand-built packets (raw_mqtt), and run against Tern and against Debian's mosquitto
(conformance.on_brokers).

Each test asserts what the MQTT 5.0 standard requires (its docstring cites the statement ids, or the section where
a rule has none); where the standard leaves a choice, every allowed choice passes. A broker known to depart from
the standard in a scenario is marked there as a strict xfail, with what it does instead.

Waits end as soon as their condition holds (deadline 10 s). Messages that must not arrive are checked with a
synchronisation message published after them (observer.sync), or with a short silence on a raw connection. Time
passes on purpose only where the scenario is about time (keep alive, session expiry, will delay, message expiry),
with intervals of one or two seconds.
"""
import time

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import conformance_scenarios as scenarios
import raw_mqtt as raw
from conformance import broker, on_brokers  # noqa: F401 (broker is the fixture)
from conformance_scenarios import TOPICS, WILDTOPICS, payloads
from observer import V5, Clients, publish_properties, sync


SUCCESS, NO_MATCHING_SUBSCRIBERS, NO_SUBSCRIPTION_EXISTED = 0x00, 0x10, 0x11
MALFORMED, PROTOCOL_ERROR, NOT_AUTHORIZED, TOPIC_FILTER_INVALID = 0x81, 0x82, 0x87, 0x8F
TOPIC_NAME_INVALID, PACKET_ID_NOT_FOUND, RECEIVE_MAXIMUM_EXCEEDED, TOPIC_ALIAS_INVALID = 0x90, 0x92, 0x93, 0x94
PACKET_TOO_LARGE, SESSION_TAKEN_OVER, KEEP_ALIVE_TIMEOUT = 0x95, 0x8E, 0x8D


def clients(broker) -> Clients:
    return scenarios.clients(broker, V5)


def properties(packet_type: int, **values) -> Properties:
    """paho Properties for a packet of `packet_type` (PacketTypes.CONNECT, ...), given by name."""
    built = Properties(packet_type)
    for name, value in values.items():
        setattr(built, name, value)
    return built


def raw_session(broker, client_id="", **connect_args):
    """A raw MQTT 5 connection that the broker accepted: (connection, CONNACK)."""
    connection, connack = raw.open_session(broker.host, broker.port, client_id, raw.V5, **connect_args)
    assert connack.reason == SUCCESS, connack
    return connection, connack


def disconnect_reason(connection: raw.Connection, deadline: float = 2.0):
    """The reason code of the DISCONNECT the broker sent before closing the connection, or None if it closed it
    without one. Fails if it sent anything else or kept the connection open for `deadline` s."""
    packets = connection.closing(deadline)
    assert all(p.kind == raw.DISCONNECT for p in packets), packets
    return packets[-1].reason if packets else None


# ---------------------------------------------------------------------------------------------------------------
# Basic
# ---------------------------------------------------------------------------------------------------------------

@on_brokers()
def test_basic(broker):
    """A client connects (CONNACK 0x00 [MQTT-3.2.2-6]), disconnects, connects again, subscribes at QoS 2 and
    receives its own messages at the QoS they were published with, in order [MQTT-3.3.4-1], [MQTT-4.6.0-6]."""
    scenarios.basic(broker, raw.V5)


@on_brokers()
def test_qos_is_the_minimum_of_published_and_granted(broker):
    """A message is delivered at the lower of its published QoS and the subscription's Maximum QoS (3.8.4)."""
    scenarios.qos_is_the_minimum(broker, raw.V5)


@on_brokers()
def test_qos2_exactly_once(broker):
    """A QoS 2 message re-sent with DUP before PUBREL is not delivered twice; after PUBCOMP the packet identifier
    may carry a new message [MQTT-4.3.3-10], [MQTT-4.3.3-11] (4.3.3)."""
    scenarios.qos2_exactly_once(broker, raw.V5)


@on_brokers()
def test_unsupported_authentication_method_is_refused(broker):
    """A CONNECT with an Authentication Method the server does not support gets CONNACK 0x8C (Bad authentication
    method) or 0x87 (Not authorized), or no CONNACK, and the connection is closed [MQTT-4.12.0-1]."""
    packets = scenarios.refused_at_connect(broker, raw.V5, raw.connect(
        "myclientid", props={"AuthenticationMethod": "NO-SUCH-METHOD"}))
    assert all(p.kind == raw.CONNACK and p.reason in (0x8C, NOT_AUTHORIZED) for p in packets), packets


@on_brokers()
@pytest.mark.broker_config("retain_available false")
def test_retain_not_available(broker):
    """A server without retained messages says Retain Available 0 in the CONNACK (3.2.2.3.5); a retained
    PUBLISH from the client then gets DISCONNECT 0x9A (Retain not supported) [MQTT-3.2.2-14] (3.3.1.3).
    (Both brokers: retain_available false.)"""
    client, connack = raw_session(broker, "myclientid")
    assert connack.properties.get("RetainAvailable") == 0, connack
    client.send(raw.publish(TOPICS[0], b"x", qos=1, retain=True))
    assert disconnect_reason(client) == 0x9A


@on_brokers()
@pytest.mark.broker_config("max_qos 1")
def test_maximum_qos_1(broker):
    """A server that supports QoS 0 and 1 only says Maximum QoS 1 in the CONNACK [MQTT-3.2.2-9]; a SUBSCRIBE at
    QoS 2 is granted QoS 1, a will at QoS 2 is refused with CONNACK 0x9B (QoS not supported) [MQTT-3.2.2-12], and
    a PUBLISH at QoS 2 gets DISCONNECT 0x9B [MQTT-3.2.2-11]. (Both brokers: Mosquitto's `max_qos 1`.)"""
    client, connack = raw_session(broker, "myclientid")
    assert connack.properties.get("MaximumQoS") == 1, connack
    client.send(raw.subscribe(1, [(TOPICS[0], 2), (TOPICS[1], 1), (TOPICS[2], 0)]))
    assert client.expect(raw.SUBACK).codes == [1, 1, 0]
    packets = scenarios.refused_at_connect(broker, raw.V5, raw.connect(
        "willclient", will={"topic": TOPICS[3], "payload": b"gone", "qos": 2}))
    assert [(p.kind, p.reason) for p in packets] == [(raw.CONNACK, 0x9B)]
    client.send(raw.publish(TOPICS[0], b"qos 1 is fine", qos=1, packet_id=2))
    delivery, puback = sorted((client.read(), client.read()), key=lambda p: p.kind)  # in either order
    assert (delivery.kind, delivery.qos, delivery.payload) == (raw.PUBLISH, 1, b"qos 1 is fine")
    assert (puback.kind, puback.reason) == (raw.PUBACK, SUCCESS)
    client.send(raw.publish(TOPICS[0], b"qos 2 is not", qos=2, packet_id=3))
    assert disconnect_reason(client) == 0x9B


@on_brokers()
@pytest.mark.broker_config("max_topic_alias 2")
def test_topic_alias_maximum_2(broker):
    """The CONNACK's Topic Alias Maximum is the server's limit (3.2.2.3.8): aliases 1 and 2 work, alias 3 gets
    DISCONNECT 0x94 (Topic Alias invalid) [MQTT-3.3.2-9]. (Both brokers: Mosquitto's `max_topic_alias 2`.)"""
    client, connack = raw_session(broker, "myclientid")
    assert connack.properties.get("TopicAliasMaximum") == 2, connack
    client.send(raw.subscribe(1, [(f"{TOPICS[0]}/#", 0)]))
    client.expect(raw.SUBACK)
    client.send(raw.publish(f"{TOPICS[0]}/a", b"set 2", props={"TopicAlias": 2}))
    client.send(raw.publish("", b"use 2", props={"TopicAlias": 2}))
    assert [(p.topic, p.payload) for p in (client.expect(raw.PUBLISH), client.expect(raw.PUBLISH))] == [
        (f"{TOPICS[0]}/a", b"set 2"), (f"{TOPICS[0]}/a", b"use 2")]
    client.send(raw.publish(f"{TOPICS[0]}/b", b"set 3", props={"TopicAlias": 3}))
    assert disconnect_reason(client) == TOPIC_ALIAS_INVALID


@on_brokers()
@pytest.mark.broker_config("acl_file {acl}", files={"acl": "topic readwrite TopicA/#\n"})
def test_request_problem_information_0(broker):
    """A client that sets Request Problem Information 0 gets no Reason String and no User Property on packets
    other than PUBLISH, CONNACK and DISCONNECT [MQTT-3.1.2-29]: here a SUBACK refusing a filter (the ACL allows
    TopicA/# only) and PUBACKs."""
    client, _ = raw_session(broker, "myclientid", props={"RequestProblemInformation": 0})
    client.send(raw.subscribe(1, [("test/nosubscribe", 1), (TOPICS[1], 1)]))
    suback = client.expect(raw.SUBACK)
    client.send(raw.publish("test/nopublish", b"x", qos=1, packet_id=2))
    client.send(raw.publish("nobody/here", b"x", qos=1, packet_id=3))
    acks = [client.expect(raw.PUBACK), client.expect(raw.PUBACK)]
    for packet in [suback] + acks:
        assert "ReasonString" not in packet.properties and "UserProperty" not in packet.properties, packet
    client.close()


@on_brokers()
def test_dup_is_not_propagated(broker):
    """The DUP flag of an incoming PUBLISH is not propagated to subscribers [MQTT-3.3.1-3]."""
    scenarios.dup_not_propagated(broker, raw.V5)


@on_brokers()
def test_wrong_protocol_name_is_refused(broker):
    """A CONNECT whose protocol name is not "MQTT" is not processed as MQTT: the server may close the connection
    and must not accept it [MQTT-3.1.2-1]."""
    scenarios.refused_at_connect(broker, raw.V5, raw.connect("myclientid", protocol=raw.V5, protocol_name="hj"))


@on_brokers()
def test_unsupported_protocol_version_is_refused(broker):
    """A protocol level the server does not support may get CONNACK 0x84 (Unsupported Protocol Version); then the
    server closes the connection [MQTT-3.1.2-2]."""
    packets = scenarios.refused_at_connect(broker, raw.V5, raw.connect("myclientid", protocol=6))
    assert all(p.kind == raw.CONNACK for p in packets), packets


# ---------------------------------------------------------------------------------------------------------------
# Retained messages
# ---------------------------------------------------------------------------------------------------------------

@on_brokers()
def test_retained_messages(broker):
    """Retained messages of each QoS are stored and sent with RETAIN set to a new matching subscription, with their
    user properties in order [MQTT-3.3.1-5], [MQTT-3.3.1-9], [MQTT-3.3.2-17], [MQTT-3.3.2-18]; a retained PUBLISH
    with an empty payload removes the retained message and is not stored itself [MQTT-3.3.1-6], [MQTT-3.3.1-7]."""
    user_properties = [("a", "2"), ("c", "3")]
    received = scenarios.retained_messages(broker, raw.V5, publish_properties(UserProperty=user_properties))
    assert all(r["properties"].get("UserProperty") == user_properties for r in received), received


@on_brokers()
def test_non_retained_publish_keeps_the_retained_message(broker):
    """A PUBLISH with RETAIN 0 is not stored and does not remove or replace the retained message of its topic
    [MQTT-3.3.1-8]."""
    scenarios.non_retained_publish_keeps_retained(broker, raw.V5)


@on_brokers()
def test_resubscribe_replaces_the_subscription(broker):
    """A SUBSCRIBE with the filter of an existing subscription replaces it, options and Subscription Identifier
    included: the new QoS applies, the old identifier is gone, messages are not duplicated [MQTT-3.8.4-3]."""
    [record] = scenarios.resubscribe_replaces(
        broker, raw.V5, properties=properties(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=9))
    assert "SubscriptionIdentifier" not in record["properties"], record


# ---------------------------------------------------------------------------------------------------------------
# Sessions
# ---------------------------------------------------------------------------------------------------------------

@on_brokers()
def test_offline_message_queueing(broker):
    """While a session with a Session Expiry Interval is disconnected, the QoS 1 and 2 messages matching its
    subscriptions are kept and delivered when the client resumes it (Session Present 1) [MQTT-3.1.2-23],
    [MQTT-3.2.2-2], [MQTT-4.1.0-1]. Keeping QoS 0 messages is the server's choice."""
    scenarios.offline_message_queueing(broker, raw.V5, clean=True, session_expiry=60)


@on_brokers()
def test_redelivery_on_reconnect(broker):
    """When a session resumes (Clean Start 0), the server re-sends the unacknowledged QoS 1 and 2 PUBLISH packets
    with their original packet identifiers and DUP set, and PUBREL for messages already PUBREC'd
    [MQTT-4.4.0-1], [MQTT-3.3.1-1]."""
    scenarios.redelivery_on_reconnect(broker, raw.V5, props={"SessionExpiryInterval": 60})


@on_brokers()
def test_qos2_exchange_survives_reconnect(broker):
    """The receiver's QoS 2 state is part of the session: after the publisher reconnects, its re-sent PUBLISH is
    not delivered again and its PUBREL is completed [MQTT-4.3.3-10], [MQTT-4.4.0-1]."""
    scenarios.qos2_inbound_across_reconnect(broker, raw.V5, props={"SessionExpiryInterval": 60})


@on_brokers()
def test_queued_messages_arrive_in_order(broker):
    """Messages kept for a disconnected session are delivered in the order they were published, beyond one
    inflight window [MQTT-4.6.0-6]."""
    scenarios.queued_messages_in_order(broker, raw.V5, clean=True, session_expiry=60)


@on_brokers()
def test_zero_length_client_id(broker):
    """An empty client identifier: the server either accepts it, assigns an identifier and returns it as Assigned
    Client Identifier [MQTT-3.1.3-6], [MQTT-3.1.3-7], [MQTT-3.2.2-16], with no session to resume (Session
    Present 0) even with Clean Start 0, or refuses it with CONNACK 0x85 (Client Identifier not valid) and closes
    the connection [MQTT-3.1.3-8]."""
    for clean in (True, False):
        connection, connack = raw.open_session(broker.host, broker.port, "", raw.V5, clean=clean)
        if connack.reason == SUCCESS:
            assert connack.properties.get("AssignedClientIdentifier"), connack
            assert not connack.session_present
            connection.send(raw.disconnect())
        else:
            assert connack.reason == 0x85, connack
        connection.closing()


@on_brokers()
def test_assigned_client_identifier(broker):
    """A client connecting with an empty client identifier and Clean Start 1 gets an Assigned Client Identifier
    [MQTT-3.2.2-16]; two such clients get different ones [MQTT-3.1.3-6], and each receives its own messages."""
    with clients(broker) as c:
        first = c.connect("", sync=False)
        second = c.connect("", sync=False)
        ids = [o.connack["properties"].get("AssignedClientIdentifier") for o in (first, second)]
        assert all(ids) and ids[0] != ids[1], ids
        assert first.subscribe("assigned/x", qos=1) == [1]
        second.publish("assigned/x", "hello", qos=1)
        assert [r["payload"] for r in first.wait_for_count(1)] == ["hello"]


@on_brokers()
def test_clean_start_and_session_present(broker):
    """Clean Start 0 resumes an existing session: Session Present 1 and the subscriptions are kept
    [MQTT-3.1.2-5], [MQTT-3.2.2-3]; Clean Start 1 discards it: Session Present 0 [MQTT-3.1.2-4],
    [MQTT-3.2.2-2], and its subscriptions are gone."""
    with clients(broker) as c:
        first = c.connect("myclientid", clean=False, session_expiry=60, sync=False)
        assert first.connack["session_present"] is False
        assert first.subscribe(TOPICS[0], qos=1) == [1]
        first.disconnect()
        resumed = c.connect("myclientid", clean=False, session_expiry=60, sync=False)
        assert resumed.connack["session_present"] is True
        publisher = c.connect("publisher")
        publisher.publish(TOPICS[0], "kept", qos=1)
        assert [r["payload"] for r in resumed.wait_for_count(1)] == ["kept"]
        resumed.disconnect()
        fresh = c.connect("myclientid", clean=True, session_expiry=60)
        assert fresh.connack["session_present"] is False
        publisher.publish(TOPICS[0], "gone", qos=1)
        sync(publisher, fresh)
        assert fresh.received() == []


@on_brokers()
def test_session_expiry(broker):
    """Session Expiry Interval 0 (or absent) ends the session with the connection; a positive interval keeps it
    that many seconds after the connection ends [MQTT-3.1.2-23]; a DISCONNECT may change the interval, to 0
    (the session ends now) or to a longer one [MQTT-3.14.2-2] (3.1.2.11.2, 3.14.2.2.2)."""
    with clients(broker) as c:
        zero = c.connect("zero", session_expiry=0, sync=False)
        assert zero.subscribe(TOPICS[0], qos=1) == [1]
        zero.disconnect()
        assert c.connect("zero", clean=False, sync=False).connack["session_present"] is False

        for client_id in ("short", "lengthened", "ended"):
            client = c.connect(client_id, session_expiry=1, sync=False)
            assert client.subscribe(TOPICS[0], qos=1) == [1]
            client.disconnect(session_expiry={"lengthened": 60, "ended": 0}.get(client_id))
        present = c.connect("short", clean=False, session_expiry=1, sync=False)
        assert present.connack["session_present"] is True
        present.disconnect()
        assert c.connect("ended", clean=False, sync=False).connack["session_present"] is False

        time.sleep(2.5)  # "short" expires 1 s after its disconnect; "lengthened" lasts 60 s
        assert c.connect("short", clean=False, sync=False).connack["session_present"] is False
        assert c.connect("lengthened", clean=False, sync=False).connack["session_present"] is True


# ---------------------------------------------------------------------------------------------------------------
# Wills, DISCONNECT and keep alive
# ---------------------------------------------------------------------------------------------------------------

@on_brokers()
def test_will_message(broker):
    """The will is published, with its properties, when the connection ends without DISCONNECT [MQTT-3.1.2-8],
    [MQTT-3.1.3-10]; DISCONNECT 0x00 discards it [MQTT-3.1.2-10]; DISCONNECT 0x04 (Disconnect with Will
    Message) publishes it (3.14.2.1); a will with Will Retain 1 is published as a retained message
    [MQTT-3.1.2-15]."""
    with clients(broker) as c:
        subscriber = c.connect("myclientid2", clean=False)
        assert subscriber.subscribe(TOPICS[2], qos=2) == [2]
        dropped = c.connect("myclientid", sync=False, keepalive=2, will={
            "topic": TOPICS[2], "payload": "client not disconnected", "qos": 1,
            "properties": properties(PacketTypes.WILLMESSAGE, ContentType="text/plain", UserProperty=[("k", "v")])})
        dropped.drop()
        [will] = subscriber.wait_for_count(1)
        assert (will["payload"], will["qos"]) == ("client not disconnected", 1)
        assert will["properties"].get("ContentType") == "text/plain"
        assert will["properties"].get("UserProperty") == [("k", "v")]

        polite = c.connect("polite", sync=False, will={"topic": TOPICS[2], "payload": "must not be sent"})
        polite.disconnect(reason=0x00)
        asked = c.connect("asked", sync=False, will={"topic": TOPICS[2], "payload": "disconnect with will"})
        asked.disconnect(reason=0x04)
        subscriber.wait_for(lambda records: any(r["payload"] == "disconnect with will" for r in records))
        sync(subscriber, subscriber)
        assert payloads(subscriber.received()) == ["client not disconnected", "disconnect with will"]

        scenarios.retained_will(c)


@on_brokers(mosquitto="mosquitto: with Session Expiry Interval 0 the will is not published within 4 s "
                       "(it waits for its Will Delay Interval, 5 s), spec says it is published when the session ends")
def test_will_delay(broker):
    """The will is published when the Will Delay Interval has passed or the session has ended, whichever comes
    first, and not at all if the client reconnects before then [MQTT-3.1.3-9] (3.1.3.2.2, 3.1.2.5)."""
    cases = {  # client id: (Will Delay Interval, Session Expiry Interval)
        "delayed": (1, 10),         # published after 1 s
        "session-ends": (5, 0),     # published at once: the session ends with the connection
        "session-expires": (5, 1),  # published after 1 s, when the session expires
        "reconnects": (2, 10),      # not published: the client is back before 2 s
    }
    with clients(broker) as c:
        subscriber = c.connect("subscriber")
        assert subscriber.subscribe("will/#", qos=1) == [1]
        wills = {client_id: c.connect(client_id, session_expiry=expiry, sync=False, will={
            "topic": f"will/{client_id}", "payload": client_id,
            "properties": properties(PacketTypes.WILLMESSAGE, WillDelayInterval=delay)})
            for client_id, (delay, expiry) in cases.items()}
        start = time.monotonic()
        for client in wills.values():
            client.drop()
        back = c.connect("reconnects", clean=False, session_expiry=10, sync=False)
        arrival = {}
        end = start + 4
        while time.monotonic() < end and len(arrival) < 3:
            for record in subscriber.received():
                arrival.setdefault(record["payload"], time.monotonic() - start)
            time.sleep(0.02)
        assert arrival.get("session-ends", 99) < 0.9, arrival
        assert 0.9 <= arrival.get("delayed", 0) < 3.5, arrival
        assert 0.9 <= arrival.get("session-expires", 0) < 3.5, arrival
        time.sleep(max(0.0, start + 3 - time.monotonic()))  # past the reconnecting client's will delay
        sync(back, subscriber)
        assert "reconnects" not in payloads(subscriber.received())


@on_brokers(mosquitto="mosquitto: closes the first connection without DISCONNECT 0x8E, spec says it "
                       "sends DISCONNECT 0x8E (Session taken over)")
def test_session_taken_over(broker):
    """A second connection with the same client identifier takes the session over: the server sends DISCONNECT
    0x8E (Session taken over) to the first connection and closes it [MQTT-3.1.4-3]; the first connection's will,
    with no Will Delay Interval, is published [MQTT-3.1.2-8] (3.1.3.2.2)."""
    with clients(broker) as c:
        watcher = c.connect("watcher")
        assert watcher.subscribe("will/myclientid", qos=1) == [1]
        first, _ = raw_session(broker, "myclientid", will={"topic": "will/myclientid", "payload": b"taken over"})
        second, _ = raw_session(broker, "myclientid")
        reason = disconnect_reason(first)
        second.send(raw.pingreq())
        assert second.expect(raw.PINGRESP)
        second.close()
        assert [r["payload"] for r in watcher.wait_for_count(1)] == ["taken over"]
        assert reason == SESSION_TAKEN_OVER


@on_brokers(mosquitto="mosquitto: checks keep alives every few seconds only; a client silent with keep "
                       "alive 1 s is disconnected after about 5.5 s, spec says within 1.5 s")
def test_keepalive(broker):
    """A client that sends nothing for one and a half times its Keep Alive is disconnected (the server may send
    DISCONNECT 0x8D, Keep Alive timeout) and its will is published [MQTT-3.1.2-22], [MQTT-3.1.2-8]; PINGREQ keeps
    a connection alive [MQTT-3.12.4-1]."""
    def closing_check(connection):
        assert disconnect_reason(connection) in (None, KEEP_ALIVE_TIMEOUT)

    scenarios.keepalive(broker, raw.V5, closing_check)


@on_brokers()
@pytest.mark.broker_config("max_keepalive 10")
def test_server_keep_alive(broker):
    """A server that allows a shorter keep alive than the client asks for returns its own as Server Keep Alive in
    the CONNACK, and the client must use it [MQTT-3.2.2-21] (3.2.2.3.14). (Both brokers: max_keepalive 10.)"""
    with clients(broker) as c:
        client = c.connect("myclientid", keepalive=120, sync=False)
        assert client.connack["properties"].get("ServerKeepAlive") == 10


# ---------------------------------------------------------------------------------------------------------------
# Subscriptions
# ---------------------------------------------------------------------------------------------------------------

@on_brokers()
def test_overlapping_subscriptions(broker):
    """A message matching two subscriptions of one client is delivered once at the highest of their QoS, or once
    per subscription at each one's QoS [MQTT-3.3.4-2]."""
    scenarios.overlapping_subscriptions(broker, raw.V5)


@on_brokers(mosquitto="mosquitto: its acl_file is applied when messages are delivered, not to SUBSCRIBE: the filter "
                       "is granted (QoS 2) and its messages withheld; the scenario needs a server that refuses it")
@pytest.mark.broker_config("acl_file {acl}", files={"acl": "topic readwrite TopicA/#\ntopic readwrite sync/#\n"})
def test_subscribe_failure_not_authorized(broker):
    """A subscription the server does not allow gets a failure reason code (0x87 Not authorized, or 0x80) in the
    SUBACK, while the other filters of the same SUBSCRIBE are granted [MQTT-3.9.3-1] (3.9.3). (The server's ACL
    allows TopicA/# only.)"""
    with clients(broker) as c:
        client = c.connect("myclientid", sync=False)
        codes = client.subscribe(("test/nosubscribe", 2), (TOPICS[1], 1))
        assert codes[0] in (0x80, NOT_AUTHORIZED) and codes[1] == 1, codes


INVALID_FILTERS = [
    pytest.param("TopicA/#/B", id="hash-not-last"), pytest.param("TopicA#", id="hash-in-level"),
    pytest.param("Topic+/B", id="plus-in-level"), pytest.param("", id="empty"),
    pytest.param("$share/g+/x", id="share-wildcard-name"),
    pytest.param("$share/g", id="share-no-filter", marks=pytest.mark.xfail_on(
        "mosquitto", "mosquitto: grants it as an ordinary filter (SUBACK 1), spec says a shared subscription's "
                     "share name must be followed by '/' and a filter [MQTT-4.8.2-2]")),
]


@on_brokers()
@pytest.mark.parametrize("topic_filter", INVALID_FILTERS)
def test_subscribe_failure_invalid_filter(broker, topic_filter):
    """An invalid topic filter [MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.3-1], [MQTT-4.8.2-1], [MQTT-4.8.2-2] is
    not subscribed: the SUBACK carries 0x8F (Topic Filter invalid) or 0x80, or the server ends the connection,
    with DISCONNECT 0x8F, 0x81 or 0x82 if it sends one (4.13)."""
    answer, connection = scenarios.invalid_filter_answer(broker, raw.V5, topic_filter)
    if answer is None:
        return
    if answer.kind == raw.SUBACK:
        assert answer.codes in ([TOPIC_FILTER_INVALID], [0x80]), answer
        connection.close()
    else:
        assert answer.kind == raw.DISCONNECT and answer.reason in (TOPIC_FILTER_INVALID, MALFORMED, PROTOCOL_ERROR)
        assert connection.closing() == []


@on_brokers()
def test_dollar_topics(broker):
    """Filters starting with a wildcard do not match topic names starting with '$' [MQTT-4.7.2-1]; a filter
    naming the '$' level does."""
    scenarios.dollar_topics(broker, raw.V5)


@on_brokers()
def test_unsubscribe(broker):
    """After UNSUBSCRIBE the server stops sending the messages of that subscription and only that one
    [MQTT-3.10.4-1], [MQTT-3.10.4-2]; the UNSUBACK has one reason code per filter [MQTT-3.11.3-1]: 0x00, or 0x11
    (No subscription existed) for a filter that was not subscribed [MQTT-3.10.4-5] (3.11.3)."""
    scenarios.unsubscribe(broker, raw.V5, unsuback_codes=[SUCCESS, NO_SUBSCRIPTION_EXISTED])


@on_brokers()
def test_shared_subscriptions(broker):
    """Each message matching a shared subscription goes to exactly one member of the share group [MQTT-4.8.2-3]
    (4.8.2), while ordinary subscriptions of the same clients each get their copy."""
    shared, plain = "$share/sharename/client_test5/x", TOPICS[0]
    with clients(broker) as c:
        a, b = c.connect("myclientid"), c.connect("myclientid2")
        for member in (a, b):
            assert member.subscribe((shared, 2), (plain, 2)) == [2, 2]
        publisher = c.connect("publisher", sync=False)
        publisher.publish(plain, "to everyone", qos=1)
        for n in range(10):
            publisher.publish("client_test5/x", f"shared {n}", qos=1)
        sync(publisher, a, b)
        shared_payloads = payloads(r for r in a.received() + b.received() if r["topic"] == "client_test5/x")
        assert shared_payloads == sorted(f"shared {n}" for n in range(10))
        assert [r["payload"] for r in a.received() if r["topic"] == plain] == ["to everyone"]
        assert [r["payload"] for r in b.received() if r["topic"] == plain] == ["to everyone"]


@on_brokers()
def test_subscription_option_no_local(broker):
    """With No Local, a client's own messages are not sent back to it through that subscription [MQTT-3.8.3-3];
    others still get them, and so does the client through another subscription without No Local."""
    with clients(broker) as c:
        a, b = c.connect("myclientid"), c.connect("myclientid2")
        assert a.subscribe(TOPICS[0], qos=2, noLocal=True) == [2]
        assert b.subscribe(TOPICS[0], qos=2, noLocal=True) == [2]
        a.publish(TOPICS[0], "noLocal test", qos=1)
        sync(a, a, b)
        assert a.received() == []
        assert [r["payload"] for r in b.received()] == ["noLocal test"]

        # No Local belongs to one subscription: another one of the same client matching the topic still gets it.
        assert a.subscribe(TOPICS[0] + "/#", qos=1, properties=properties(PacketTypes.SUBSCRIBE,
                                                                           SubscriptionIdentifier=5)) == [1]
        a.publish(TOPICS[0], "through the other subscription", qos=1)
        sync(a, a)
        assert [(r["payload"], r["properties"].get("SubscriptionIdentifier")) for r in a.received()] == [
            ("through the other subscription", [5])]


@on_brokers()
def test_subscription_option_retain_as_published(broker):
    """With Retain As Published the RETAIN flag of forwarded messages is kept [MQTT-3.3.1-13]; without it, it is
    cleared [MQTT-3.3.1-12]."""
    with clients(broker) as c:
        kept, cleared = c.connect("myclientid"), c.connect("myclientid2")
        assert kept.subscribe(TOPICS[0], qos=2, retainAsPublished=True) == [2]
        assert cleared.subscribe(TOPICS[0], qos=2) == [2]
        kept.publish(TOPICS[0], "retain as published false", qos=1)
        kept.publish(TOPICS[0], "retain as published true", qos=1, retain=True)
        sync(kept, kept, cleared)
        assert [(r["payload"], r["retain"]) for r in kept.received()] == [
            ("retain as published false", False), ("retain as published true", True)]
        assert [r["retain"] for r in cleared.received()] == [False, False]


@on_brokers()
def test_subscription_option_retain_handling(broker):
    """Retain Handling 0 sends the retained messages at every SUBSCRIBE [MQTT-3.3.1-9]; 1 only when the
    subscription is new [MQTT-3.3.1-10]; 2 never [MQTT-3.3.1-11]."""
    expected = [(TOPICS[1], 0), (TOPICS[2], 1), (TOPICS[3], 2)]

    def retained(client):
        return sorted((r["topic"], r["qos"]) for r in client.received() if r["retain"])

    with clients(broker) as c:
        publisher = c.connect("publisher", sync=False)
        for qos, topic in enumerate(TOPICS[1:4]):
            publisher.publish(topic, f"qos {qos}", qos=qos, retain=True)
        for handling, first, again in ((0, expected, expected), (1, expected, []), (2, [], [])):
            client = c.connect(f"handling{handling}")
            for wanted in (first, again):
                client.clear()
                assert client.subscribe(WILDTOPICS[5], qos=2, retainHandling=handling) == [2]
                # Messages of different topics and QoS have no defined order: wait for those expected first.
                client.wait_for(lambda records: len([r for r in records if r["retain"]]) >= len(wanted))
                sync(publisher, client)
                assert retained(client) == sorted(wanted), (handling, client.received())


@on_brokers()
def test_subscription_identifiers(broker):
    """A message sent because of subscriptions with Subscription Identifiers carries them: all of them when the
    server sends one copy for overlapping subscriptions [MQTT-3.3.4-3], [MQTT-3.3.4-4], [MQTT-3.3.4-5]; so does a
    retained message sent because of a new subscription."""
    def identified(identifier):
        return properties(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=identifier)

    with clients(broker) as c:
        a, b = c.connect("myclientid"), c.connect("myclientid2")
        assert a.subscribe(TOPICS[0], qos=2, properties=identified(456789)) == [2]
        assert b.subscribe(TOPICS[0], qos=2, properties=identified(2)) == [2]
        assert b.subscribe(TOPICS[0] + "/#", qos=2, properties=identified(3)) == [2]
        b.publish(TOPICS[0], "sub identifier test", qos=1)
        sync(b, a, b)
        assert [r["properties"].get("SubscriptionIdentifier") for r in a.received()] == [[456789]]
        identifiers = sorted(i for r in b.received() for i in r["properties"].get("SubscriptionIdentifier", []))
        assert identifiers == [2, 3], b.received()

        b.publish(TOPICS[1], "retained", qos=1, retain=True)
        assert a.subscribe(TOPICS[1], qos=1, properties=identified(7)) == [1]
        [retained] = a.wait_for(lambda records: any(r["topic"] == TOPICS[1] for r in records))[-1:]
        assert retained["properties"].get("SubscriptionIdentifier") == [7], retained


@on_brokers()
def test_request_response(broker):
    """Response Topic and Correlation Data are forwarded unaltered [MQTT-3.3.2-15], [MQTT-3.3.2-16]: a responder
    can answer a request on its Response Topic with its Correlation Data."""
    with clients(broker) as c:
        requester, responder = c.connect("myclientid"), c.connect("myclientid2")
        assert requester.subscribe("responses/myclientid", qos=2) == [2]
        assert responder.subscribe(TOPICS[0], qos=2, noLocal=True) == [2]
        requester.publish(TOPICS[0], "request", qos=1, properties=publish_properties(
            ResponseTopic="responses/myclientid", CorrelationData=b"334"))
        [request] = responder.wait_for_count(1)
        assert request["properties"].get("ResponseTopic") == "responses/myclientid"
        assert request["properties"].get("CorrelationData") == b"334"
        responder.publish(request["properties"]["ResponseTopic"], "response", qos=1,
                          properties=publish_properties(CorrelationData=request["properties"]["CorrelationData"]))
        [response] = requester.wait_for_count(1)
        assert (response["payload"], response["properties"].get("CorrelationData")) == ("response", b"334")


# ---------------------------------------------------------------------------------------------------------------
# Message properties
# ---------------------------------------------------------------------------------------------------------------

@on_brokers()
def test_user_properties(broker):
    """User properties are forwarded unaltered and in order, at every QoS [MQTT-3.3.2-17], [MQTT-3.3.2-18]."""
    user_properties = [("a", "2"), ("c", "3"), ("a", "1")]
    with clients(broker) as c:
        client = c.connect("myclientid")
        assert client.subscribe(TOPICS[0], qos=2) == [2]
        for qos in (0, 1, 2):
            client.publish(TOPICS[0], f"qos {qos}", qos=qos,
                           properties=publish_properties(UserProperty=user_properties))
        sync(client, client)
        assert [(r["qos"], r["properties"].get("UserProperty")) for r in client.received()] == [
            (qos, user_properties) for qos in (0, 1, 2)]


@on_brokers()
def test_payload_format_and_content_type(broker):
    """Payload Format Indicator and Content Type are forwarded unaltered [MQTT-3.3.2-4], [MQTT-3.3.2-20]."""
    with clients(broker) as c:
        client = c.connect("myclientid")
        assert client.subscribe(TOPICS[0], qos=2) == [2]
        for qos in (0, 1, 2):
            client.publish(TOPICS[0], "text", qos=qos,
                           properties=publish_properties(PayloadFormatIndicator=1, ContentType="My name"))
        sync(client, client)
        assert [(r["qos"], r["properties"].get("PayloadFormatIndicator"), r["properties"].get("ContentType"))
                for r in client.received()] == [(qos, 1, "My name") for qos in (0, 1, 2)]


@on_brokers()
def test_message_expiry(broker):
    """A message whose Message Expiry Interval has passed is not delivered to a subscriber that was offline, nor
    kept as a retained message [MQTT-3.3.2-5]; one still valid is delivered with the interval less the time it
    waited [MQTT-3.3.2-6]."""
    with clients(broker) as c:
        subscriber = c.connect("myclientid2", session_expiry=60, sync=False)
        assert subscriber.subscribe(TOPICS[0], qos=2) == [2]
        subscriber.disconnect()
        publisher = c.connect("myclientid", sync=False)
        for expiry in (1, 60):
            publisher.publish(f"retained/{expiry}", f"retained, expiry {expiry}", qos=1, retain=True,
                              properties=publish_properties(MessageExpiryInterval=expiry))
        for expiry in (1, 60):
            for qos in (1, 2):
                publisher.publish(TOPICS[0], f"qos {qos}, expiry {expiry}", qos=qos,
                                  properties=publish_properties(MessageExpiryInterval=expiry))
        time.sleep(2.5)  # the 1 s messages expire while the subscriber is away
        back = c.connect("myclientid2", clean=False, session_expiry=60)
        sync(publisher, back)
        assert payloads(back.received()) == ["qos 1, expiry 60", "qos 2, expiry 60"]
        remaining = [m.properties.MessageExpiryInterval for m in back.raw_messages if m.topic == TOPICS[0]]
        assert all(50 <= r <= 58 for r in remaining), remaining
        assert back.subscribe("retained/+", qos=1) == [1]
        back.wait_for(lambda records: any(r["topic"].startswith("retained/") for r in records))
        sync(publisher, back)
        assert [r["payload"] for r in back.received() if r["topic"].startswith("retained/")] == [
            "retained, expiry 60"]
        [kept] = [m.properties.MessageExpiryInterval for m in back.raw_messages if m.topic == "retained/60"]
        assert 50 <= kept <= 58, kept


# ---------------------------------------------------------------------------------------------------------------
# Topic aliases
# ---------------------------------------------------------------------------------------------------------------

@on_brokers()
def test_client_topic_alias(broker):
    """A client may send Topic Aliases from 1 to the Topic Alias Maximum of the CONNACK; the server maps an empty
    topic with a known alias to its topic, and a PUBLISH with a topic and an alias sets the alias anew
    [MQTT-3.3.2-12] (3.3.2.3.4). Aliases last one connection only: an
    alias that is not set on this connection is a Protocol Error (0x82); one above the maximum [MQTT-3.3.2-9] gets
    DISCONNECT 0x94 (Topic Alias invalid), alias 0 [MQTT-3.3.2-8] 0x94 or another error code."""
    with clients(broker) as c:
        subscriber = c.connect("subscriber")
        assert subscriber.subscribe((TOPICS[0], 1), (TOPICS[1], 1)) == [1, 1]
        client, connack = raw_session(broker, "myclientid", props={"SessionExpiryInterval": 60})
        maximum = connack.properties.get("TopicAliasMaximum", 0)
        assert maximum >= 1, "the scenario needs a server that accepts topic aliases"
        client.send(raw.publish(TOPICS[0], b"alias set", qos=1, packet_id=1, props={"TopicAlias": maximum}))
        assert client.expect(raw.PUBACK).reason in (SUCCESS, NO_MATCHING_SUBSCRIBERS)
        client.send(raw.publish("", b"alias used", qos=1, packet_id=2, props={"TopicAlias": maximum}))
        assert client.expect(raw.PUBACK).reason in (SUCCESS, NO_MATCHING_SUBSCRIBERS)
        client.send(raw.publish(TOPICS[1], b"alias moved", qos=1, packet_id=3, props={"TopicAlias": maximum}))
        assert client.expect(raw.PUBACK).reason in (SUCCESS, NO_MATCHING_SUBSCRIBERS)
        client.send(raw.publish("", b"moved alias used", qos=1, packet_id=4, props={"TopicAlias": maximum}))
        assert client.expect(raw.PUBACK).reason in (SUCCESS, NO_MATCHING_SUBSCRIBERS)
        client.send(raw.disconnect())
        client.closing()
        sync(subscriber, subscriber)
        assert [(r["topic"], r["payload"]) for r in subscriber.received()] == [
            (TOPICS[0], "alias set"), (TOPICS[0], "alias used"), (TOPICS[1], "alias moved"),
            (TOPICS[1], "moved alias used")]

        # 0x94 is the code for an alias above the maximum; the standard names none for alias 0 or an unset alias.
        for alias, topic, reasons in ((maximum, "", {PROTOCOL_ERROR}),
                                      (0, TOPICS[0], {TOPIC_ALIAS_INVALID, PROTOCOL_ERROR, MALFORMED}),
                                      (maximum + 1, TOPICS[0], {TOPIC_ALIAS_INVALID})):
            client, _ = raw_session(broker, "myclientid", clean=False, props={"SessionExpiryInterval": 60})
            client.send(raw.publish(topic, b"refused", qos=1, packet_id=3, props={"TopicAlias": alias}))
            assert disconnect_reason(client) in reasons, (alias, topic)


@on_brokers()
def test_server_topic_alias(broker):
    """The server never sends a Topic Alias above the client's Topic Alias Maximum, nor any when the client
    announces none [MQTT-3.3.2-11]; an alias it does use stands for the topic it was set with (3.3.2.3.4). (Using
    aliases at all is the server's choice.)"""
    for maximum in (1, 0, None):
        props = {} if maximum is None else {"TopicAliasMaximum": maximum}
        client, _ = raw_session(broker, "myclientid", props=props)
        client.send(raw.subscribe(1, [(TOPICS[0], 2), (TOPICS[1], 2)]))
        assert client.expect(raw.SUBACK).codes == [2, 2]
        for n, topic in enumerate((TOPICS[0], TOPICS[1], TOPICS[0])):
            for qos in (0, 1, 2):
                client.send(raw.publish(topic, f"qos {qos}", qos=qos, packet_id=10 + 3 * n + qos))
        aliases, topics = {}, []
        while len(topics) < 9:
            packet = client.read()
            if packet.kind == raw.PUBLISH:
                alias = packet.properties.get("TopicAlias")
                if alias is not None:
                    assert 1 <= alias <= (maximum or 0), (maximum, packet)
                    if packet.topic:
                        aliases[alias] = packet.topic
                    assert alias in aliases, packet
                topics.append(packet.topic or aliases[alias])
                if packet.qos == 1:
                    client.send(raw.ack(raw.PUBACK, packet.packet_id))
                elif packet.qos == 2:
                    client.send(raw.ack(raw.PUBREC, packet.packet_id))
            elif packet.kind == raw.PUBREC:
                client.send(raw.ack(raw.PUBREL, packet.packet_id))
            elif packet.kind == raw.PUBREL:
                client.send(raw.ack(raw.PUBCOMP, packet.packet_id))
        assert sorted(topics) == sorted([TOPICS[0]] * 6 + [TOPICS[1]] * 3)
        client.close()


@on_brokers()
def test_retained_message_published_through_an_alias(broker):
    """A retained message published with a Topic Alias and an empty topic is stored under the topic the alias
    stands for, and sent to later subscribers with that topic (3.3.2.3.4, [MQTT-3.3.1-5])."""
    client, _ = raw_session(broker, "myclientid")
    client.send(raw.publish(TOPICS[0], b"first", qos=1, packet_id=1, props={"TopicAlias": 1}))
    assert client.expect(raw.PUBACK).packet_id == 1
    client.send(raw.publish("", b"through the alias", qos=1, retain=True, packet_id=2, props={"TopicAlias": 1}))
    assert client.expect(raw.PUBACK).packet_id == 2
    subscriber, _ = raw_session(broker, "subscriber")
    subscriber.send(raw.subscribe(1, [(TOPICS[0], 1)]))
    assert subscriber.expect(raw.SUBACK).codes == [1]
    retained = subscriber.expect(raw.PUBLISH)
    assert (retained.topic, retained.payload, retained.retain) == (TOPICS[0], b"through the alias", True), retained
    assert "TopicAlias" not in retained.properties, retained
    client.close()
    subscriber.close()


@on_brokers()
def test_resumed_session_follows_the_new_connection_limits(broker):
    """Messages kept for a session are sent on its next connection within that connection's limits: no Topic
    Alias when the new CONNECT announces none [MQTT-3.3.2-11], none larger than its Maximum Packet Size
    [MQTT-3.1.2-24]; they carry the Subscription Identifier of their subscription [MQTT-3.3.4-3]."""
    first, _ = raw_session(broker, "myclientid", props={"SessionExpiryInterval": 60, "TopicAliasMaximum": 5})
    first.send(raw.subscribe(1, [(TOPICS[0], 1)], props={"SubscriptionIdentifier": 42}))
    assert first.expect(raw.SUBACK).codes == [1]
    first.send(raw.disconnect())
    first.closing()
    with clients(broker) as c:
        publisher = c.connect("publisher", sync=False)
        for payload in ("kept 1", "kept 2", "x" * 200, "kept 3"):
            publisher.publish(TOPICS[0], payload, qos=1)
    again, connack = raw_session(broker, "myclientid", clean=False,
                                 props={"SessionExpiryInterval": 60, "MaximumPacketSize": 100})
    assert connack.session_present
    received = []
    for _ in range(3):
        packet = again.expect(raw.PUBLISH)
        again.send(raw.ack(raw.PUBACK, packet.packet_id))
        received.append(packet)
    assert [(p.topic, p.payload) for p in received] == [(TOPICS[0], b"kept %d" % n) for n in (1, 2, 3)], received
    assert all("TopicAlias" not in p.properties for p in received), received
    assert all(p.properties.get("SubscriptionIdentifier") == [42] for p in received), received
    assert again.silent_for(0.3)
    again.close()


# ---------------------------------------------------------------------------------------------------------------
# Packet size and flow control
# ---------------------------------------------------------------------------------------------------------------

@on_brokers()
@pytest.mark.broker_config("max_packet_size 200")
def test_server_maximum_packet_size(broker):
    """The server announces its Maximum Packet Size in the CONNACK (3.2.2.3.6); a larger packet from the client
    is a Protocol Error answered with DISCONNECT 0x95 (Packet too large), and the will is published
    [MQTT-3.1.2-8] (4.13). (Both brokers: max_packet_size 200.)"""
    with clients(broker) as c:
        subscriber = c.connect("subscriber")
        assert subscriber.subscribe("will/#", qos=1) == [1]
        client, connack = raw_session(broker, "myclientid", will={"topic": "will/myclientid", "payload": b"gone"})
        assert connack.properties.get("MaximumPacketSize") == 200
        client.send(raw.publish(TOPICS[0], b"." * 180, qos=0))
        client.send(raw.publish(TOPICS[0], b"." * 200, qos=0))
        assert disconnect_reason(client) == PACKET_TOO_LARGE
        assert subscriber.arrives("will/myclientid", within=2), "no will"


@on_brokers()
def test_client_maximum_packet_size(broker):
    """The server does not send a packet larger than the client's Maximum Packet Size, retained messages
    included; it discards the message for that client and goes on as if it had sent it [MQTT-3.1.2-24],
    [MQTT-3.1.2-25]."""
    maximum = 64
    with clients(broker) as c:
        publisher = c.connect("publisher", sync=False)
        publisher.publish(TOPICS[1], "." * maximum, qos=1, retain=True)
        publisher.publish(TOPICS[2], "small retained", qos=1, retain=True)
        client = c.connect("myclientid", connect_properties=properties(PacketTypes.CONNECT,
                                                                       MaximumPacketSize=maximum))
        assert client.subscribe((TOPICS[0], 2), (TOPICS[1], 2), (TOPICS[2], 2)) == [2, 2, 2]
        client.publish(TOPICS[0], "." * (maximum // 2), qos=0)
        client.publish(TOPICS[0], "." * maximum, qos=1)
        client.publish(TOPICS[0], "small again", qos=1)
        client.wait_for(lambda records: any(r["payload"] == "small retained" for r in records))
        sync(client, client)
        assert sorted(r["payload"] for r in client.received()) == sorted(
            ["." * (maximum // 2), "small again", "small retained"])


@on_brokers()
def test_receive_maximum_flow_control(broker):
    """The server sends no more unacknowledged QoS 1 and 2 PUBLISH packets than the client's Receive Maximum
    [MQTT-3.3.4-9]; acknowledging one lets the next one through."""
    client, _ = raw_session(broker, "myclientid", props={"ReceiveMaximum": 2})
    client.send(raw.subscribe(1, [(TOPICS[0], 2)]))
    assert client.expect(raw.SUBACK).codes == [2]
    with clients(broker) as c:
        publisher = c.connect("publisher", sync=False)
        for n in (1, 2, 3):
            publisher.publish(TOPICS[0], f"message {n}", qos=1)
        first, second = client.expect(raw.PUBLISH), client.expect(raw.PUBLISH)
        assert [first.payload, second.payload] == [b"message 1", b"message 2"]
        assert client.silent_for(0.5), "a third message arrived while two were unacknowledged"
        client.send(raw.ack(raw.PUBACK, first.packet_id))
        assert client.expect(raw.PUBLISH).payload == b"message 3"
    client.close()


@on_brokers()
def test_receive_maximum_counts_qos2_until_pubcomp(broker):
    """A QoS 2 message counts against the client's Receive Maximum until its PUBCOMP, not its PUBREC
    [MQTT-3.3.4-9] (4.9)."""
    client, _ = raw_session(broker, "myclientid", props={"ReceiveMaximum": 1})
    client.send(raw.subscribe(1, [(TOPICS[0], 2)]))
    assert client.expect(raw.SUBACK).codes == [2]
    with clients(broker) as c:
        publisher = c.connect("publisher", sync=False)
        for n in (1, 2):
            publisher.publish(TOPICS[0], f"message {n}", qos=2)
        first = client.expect(raw.PUBLISH)
        assert first.payload == b"message 1"
        client.send(raw.ack(raw.PUBREC, first.packet_id))
        assert client.expect(raw.PUBREL).packet_id == first.packet_id
        assert client.silent_for(0.5), "a second message arrived before the first one's PUBCOMP"
        client.send(raw.ack(raw.PUBCOMP, first.packet_id))
        assert client.expect(raw.PUBLISH).payload == b"message 2"
    client.close()


@on_brokers(mosquitto="mosquitto: answers the PUBLISH beyond its Receive Maximum with PUBREC 0x97 (Quota exceeded) "
                       "and keeps the connection, spec says DISCONNECT 0x93 (Receive Maximum exceeded)")
@pytest.mark.broker_config(tern=["receive_maximum 3"], mosquitto=["max_inflight_messages 3"])
def test_server_receive_maximum(broker):
    """The server announces its Receive Maximum in the CONNACK (3.2.2.3.3); a client that sends more
    unacknowledged QoS 2 PUBLISH packets than that gets DISCONNECT 0x93 (Receive Maximum exceeded) (3.3.4,
    4.9). (Tern: receive_maximum 3; mosquitto: max_inflight_messages 3.)"""
    client, connack = raw_session(broker, "myclientid")
    maximum = connack.properties.get("ReceiveMaximum", 65535)
    assert maximum == 3, connack
    for n in range(1, maximum + 2):
        client.send(raw.publish(TOPICS[0], f"message {n}", qos=2, packet_id=n))
    packets = client.closing(deadline=2)
    assert [p.reason for p in packets if p.kind == raw.PUBREC] == [NO_MATCHING_SUBSCRIBERS] * maximum or \
        [p.reason for p in packets if p.kind == raw.PUBREC] == [SUCCESS] * maximum, packets
    assert packets[-1].kind == raw.DISCONNECT and packets[-1].reason == RECEIVE_MAXIMUM_EXCEEDED, packets


# ---------------------------------------------------------------------------------------------------------------
# Reason codes on acknowledgements
# ---------------------------------------------------------------------------------------------------------------

@on_brokers()
def test_publish_acknowledgement_reason_codes(broker):
    """PUBACK and PUBREC carry 0x00, or 0x10 (No matching subscribers) when nobody subscribed (3.4.2.1,
    3.5.2.1); PUBREL for an unknown packet identifier gets PUBCOMP, whose fitting reason code is 0x92 (Packet
    Identifier not found) (3.7.2.1)."""
    client, _ = raw_session(broker, "myclientid")
    client.send(raw.publish("nobody/here", b"x", qos=1, packet_id=1))
    assert client.expect(raw.PUBACK).reason in (SUCCESS, NO_MATCHING_SUBSCRIBERS)
    client.send(raw.publish("nobody/here", b"x", qos=2, packet_id=2))
    assert client.expect(raw.PUBREC).reason in (SUCCESS, NO_MATCHING_SUBSCRIBERS)
    client.send(raw.ack(raw.PUBREL, 2))
    assert client.expect(raw.PUBCOMP).reason == SUCCESS
    client.send(raw.subscribe(3, [(TOPICS[0], 1)]))
    assert client.expect(raw.SUBACK).codes == [1]
    client.send(raw.publish(TOPICS[0], b"x", qos=1, packet_id=4))
    answers = [client.read(), client.read()]
    assert [p.reason for p in answers if p.kind == raw.PUBACK] == [SUCCESS], answers
    client.send(raw.ack(raw.PUBREL, 77))
    # 0x92 is the code that fits; no normative statement requires it (mosquitto answers 0x00).
    assert client.expect(raw.PUBCOMP).reason in (PACKET_ID_NOT_FOUND, SUCCESS)
    client.close()


@on_brokers()
def test_subscribe_acknowledgement_reason_codes(broker):
    """The SUBACK has one reason code per filter, in order: the granted QoS 0, 1 or 2 [MQTT-3.9.3-1]
    (3.9.3)."""
    with clients(broker) as c:
        client = c.connect("myclientid", sync=False)
        assert client.subscribe(("a/0", 0), ("a/1", 1), ("a/2", 2)) == [0, 1, 2]


# ---------------------------------------------------------------------------------------------------------------
# Malformed packets and protocol errors
# ---------------------------------------------------------------------------------------------------------------

def _subscribe(options, topic_filter=TOPICS[0], **props):
    return raw.subscribe(1, [(topic_filter, options)], props=props)


def mosquitto_fails(reason):
    return pytest.mark.xfail_on("mosquitto", f"mosquitto: {reason}")


def mosquitto_closes_silently(code):
    return mosquitto_fails(f"closes the connection without DISCONNECT, spec says it should send DISCONNECT {code}")


MALFORMED_PACKETS = [  # (packet, reason codes the DISCONNECT may carry); comment: the rule the packet breaks
    pytest.param(raw.publish(TOPICS[0], b"x", flags=0b0110), {MALFORMED}, id="publish-qos-3"),  # [MQTT-3.3.1-4]
    pytest.param(raw.publish(TOPICS[0], b"x", flags=0b1000), {MALFORMED, PROTOCOL_ERROR},      # [MQTT-3.3.1-2]
                 id="publish-qos-0-dup", marks=mosquitto_fails("accepts the PUBLISH and keeps the connection, "
                                                               "spec says DUP must be 0 at QoS 0")),
    pytest.param(raw.subscribe(1, [(TOPICS[0], 0)], flags=0), {MALFORMED}, id="subscribe-flags"),  # [MQTT-3.8.1-1]
    pytest.param(raw.frame(0xA0, b"\x00\x01\x00" + raw.utf8(TOPICS[0])), {MALFORMED},
                 id="unsubscribe-flags"),                                                  # [MQTT-3.10.1-1]
    pytest.param(raw.frame(0x60, b"\x00\x01"), {MALFORMED}, id="pubrel-flags",              # [MQTT-3.6.1-1]
                 marks=mosquitto_closes_silently("0x81")),
    pytest.param(raw.subscribe(1, []), {PROTOCOL_ERROR, MALFORMED}, id="subscribe-without-filters"),  # [MQTT-3.8.3-2]
    pytest.param(_subscribe(3), {PROTOCOL_ERROR}, id="subscribe-qos-3",                       # 3.8.3.1
                 marks=mosquitto_fails("DISCONNECT 0x81, spec says Maximum QoS 3 is a Protocol Error (0x82)")),
    pytest.param(_subscribe(0xC1), {MALFORMED}, id="subscribe-reserved-bits"),              # [MQTT-3.8.3-5]
    pytest.param(_subscribe(0x31), {PROTOCOL_ERROR}, id="subscribe-retain-handling-3",      # 3.8.3.1
                 marks=mosquitto_fails("DISCONNECT 0x81, spec says Retain Handling 3 is a Protocol Error (0x82)")),
    pytest.param(_subscribe(0x05, "$share/g/x"), {PROTOCOL_ERROR}, id="shared-no-local",     # [MQTT-3.8.3-4]
                 marks=mosquitto_fails("grants the subscription (SUBACK 1), spec says No Local on a shared "
                                       "subscription is a Protocol Error")),
    pytest.param(_subscribe(1, SubscriptionIdentifier=0), {PROTOCOL_ERROR, MALFORMED},
                 id="subscription-identifier-0"),                                          # 3.8.2.1.2
    pytest.param(raw.publish("TopicA/+", b"x"), {TOPIC_NAME_INVALID, PROTOCOL_ERROR, MALFORMED},
                 id="publish-wildcard-topic"),                                             # [MQTT-3.3.2-2]
    pytest.param(raw.publish(b"Topic\xff", b"x"), {MALFORMED}, id="topic-invalid-utf8"),    # [MQTT-1.5.4-1]
    pytest.param(raw.publish(b"Topic\x00A", b"x"), {MALFORMED}, id="topic-null-character"),  # [MQTT-1.5.4-2]
    pytest.param(raw.publish("", b"x"), {PROTOCOL_ERROR, TOPIC_NAME_INVALID},
                 id="empty-topic-without-alias"),                                          # [MQTT-3.3.2-1]
    pytest.param(raw.publish(TOPICS[0], b"x", props={"PayloadFormatIndicator": [1, 1]}), {PROTOCOL_ERROR},
                 id="property-twice", marks=mosquitto_closes_silently("0x82")),            # 3.3.2.3.2
    pytest.param(raw.publish(TOPICS[0], b"x", props={"SessionExpiryInterval": 5}), {MALFORMED, PROTOCOL_ERROR},
                 id="property-not-for-publish"),                                           # 2.2.2.2
    pytest.param(b"\x30\xff\xff\xff\xff\x01", {MALFORMED}, id="remaining-length-5-bytes",  # [MQTT-1.5.5-1]
                 marks=mosquitto_closes_silently("0x81")),
    pytest.param(raw.frame(0x00, b""), {MALFORMED, PROTOCOL_ERROR}, id="reserved-packet-type-0"),  # 2.1.2
    pytest.param(raw.frame(0xF0, b"\x18\x00"), {PROTOCOL_ERROR}, id="auth-without-method",  # 4.12
                 marks=mosquitto_closes_silently("0x82")),
    pytest.param(raw.publish(TOPICS[0], b"x", qos=1, packet_id=0), {MALFORMED, PROTOCOL_ERROR},
                 id="publish-packet-id-0"),                                                # [MQTT-2.2.1-3]
    pytest.param(raw.subscribe(0, [(TOPICS[0], 0)]), {MALFORMED, PROTOCOL_ERROR},
                 id="subscribe-packet-id-0"),                                              # [MQTT-2.2.1-3]
    pytest.param(raw.unsubscribe(0, [TOPICS[0]]), {MALFORMED, PROTOCOL_ERROR},
                 id="unsubscribe-packet-id-0"),                                            # [MQTT-2.2.1-3]
    pytest.param(raw.unsubscribe(1, []), {PROTOCOL_ERROR, MALFORMED},
                 id="unsubscribe-without-filters"),                                        # [MQTT-3.10.3-2]
    pytest.param(raw.connect("again"), {PROTOCOL_ERROR}, id="second-connect",               # [MQTT-3.1.0-2]
                 marks=mosquitto_closes_silently("0x82")),
    pytest.param(raw.disconnect(0, props={"SessionExpiryInterval": 60}), {PROTOCOL_ERROR},
                 id="disconnect-sets-expiry-after-0"),                                     # [MQTT-3.14.2-2]
]


@on_brokers()
@pytest.mark.parametrize("data, reasons", MALFORMED_PACKETS)
def test_malformed_packet_gets_disconnect(broker, data, reasons):
    """A malformed packet or protocol error after CONNECT: the server sends DISCONNECT with the reason code of the
    error (0x81 Malformed Packet, 0x82 Protocol Error, or the specific code where the standard names one)
    [MQTT-4.13.1-1] (4.13.1: sending the DISCONNECT is a SHOULD) and closes the connection [MQTT-4.13.1-1]; the
    client's will is published as for any connection that ends without a valid DISCONNECT [MQTT-3.1.2-8]. Each
    case cites the statement it breaks."""
    def closing_check(connection):
        reason = disconnect_reason(connection)
        assert reason in reasons, f"DISCONNECT {reason if reason is None else hex(reason)}, expected one of " \
                                  f"{sorted(hex(r) for r in reasons)}"

    scenarios.after_offence(broker, raw.V5, data, closing_check)


def _connect(flags: int, payload: bytes, props: bytes = b"\x00") -> bytes:
    return raw.frame(0x10, raw.utf8("MQTT") + bytes([5, flags]) + b"\x00\x3c" + props + payload)


CONNECT_VIOLATIONS = [  # (bytes, reason codes a CONNACK may carry)
    pytest.param(raw.subscribe(1, [(TOPICS[0], 0)]), set(), id="first-packet-not-connect"),  # [MQTT-3.1.0-1]
    pytest.param(_connect(0x03, raw.utf8("c")), {MALFORMED}, id="connect-reserved-flag"),    # [MQTT-3.1.2-3]
    pytest.param(_connect(0x1E, raw.utf8("c") + b"\x00" + raw.utf8("w") + raw.utf8("x")), {MALFORMED, 0x9B},
                 id="will-qos-3"),                                                        # [MQTT-3.1.2-12]
    pytest.param(_connect(0x0A, raw.utf8("c")), {MALFORMED}, id="will-qos-without-will-flag"),  # [MQTT-3.1.2-11]
    pytest.param(_connect(0x02, raw.utf8("c"), raw.properties(SessionExpiryInterval=[1, 2])), {PROTOCOL_ERROR},
                 id="property-twice"),                                                    # 3.1.2.11.2
    pytest.param(_connect(0x02, raw.utf8("c"), raw.properties(ReceiveMaximum=0)), {PROTOCOL_ERROR},
                 id="receive-maximum-0"),                                                 # 3.1.2.11.3
    pytest.param(_connect(0x02, raw.utf8("c"), raw.properties(MaximumPacketSize=0)), {PROTOCOL_ERROR},
                 id="maximum-packet-size-0"),                                             # 3.1.2.11.4
    pytest.param(_connect(0x02, raw.utf8("c"), raw.properties(RequestProblemInformation=2)), {PROTOCOL_ERROR},
                 id="request-problem-information-2"),                                     # 3.1.2.11.7
]


@on_brokers()
@pytest.mark.parametrize("data, reasons", CONNECT_VIOLATIONS)
def test_malformed_connect_is_refused(broker, data, reasons):
    """A first packet that is not CONNECT, or a CONNECT breaking its rules: the server closes the connection
    without accepting it [MQTT-3.1.0-1], [MQTT-3.1.4-1], after a CONNACK with the error's reason code if it sends
    one (4.13.1). Each case cites the statement it breaks."""
    packets = scenarios.refused_at_connect(broker, raw.V5, data)
    assert all(p.kind == raw.CONNACK and p.reason in reasons for p in packets), packets
