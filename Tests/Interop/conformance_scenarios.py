"""Scenarios the MQTT 3.1.1 and MQTT 5 conformance tests share (test_conformance_v311.py, test_conformance_v5.py):
each takes the running broker and the protocol version (raw_mqtt.V311 or V5, equal to paho's MQTTv311 and
MQTTv5) and asserts what both standards require. The tests call them and cite each version's statement ids.
"""
import time

import raw_mqtt as raw
from observer import Clients, sync

TOPICS = ("TopicA", "TopicA/B", "Topic/C", "TopicA/C", "/TopicA")
WILDTOPICS = ("TopicA/+", "+/C", "#", "/#", "/+", "+/+", "TopicA/#")


def clients(broker, protocol) -> Clients:
    return Clients(broker.host, broker.port, protocol)


def payloads(records):
    return sorted(r["payload"] for r in records)


def basic(broker, protocol):
    """Connect, disconnect, connect again, subscribe at QoS 2: the client's own messages come back at the QoS they
    were published with, in order."""
    with clients(broker, protocol) as c:
        first = c.connect("myclientid", sync=False)
        assert first.connack["reason"] == 0
        first.disconnect()
        client = c.connect("myclientid")
        assert client.subscribe(TOPICS[0], qos=2) == [2]
        for qos in (0, 1, 2):
            client.publish(TOPICS[0], f"qos {qos}", qos=qos)
        sync(client, client)
        assert [(r["payload"], r["qos"]) for r in client.received()] == [("qos 0", 0), ("qos 1", 1), ("qos 2", 2)]


def qos_is_the_minimum(broker, protocol):
    """A subscription granted QoS 1 receives messages published at QoS 0, 1, 2 at QoS 0, 1, 1."""
    with clients(broker, protocol) as c:
        client = c.connect("myclientid")
        assert client.subscribe(TOPICS[0], qos=1) == [1]
        for qos in (0, 1, 2):
            client.publish(TOPICS[0], f"qos {qos}", qos=qos)
        sync(client, client)
        assert sorted((r["payload"], r["qos"]) for r in client.received()) == [
            ("qos 0", 0), ("qos 1", 1), ("qos 2", 1)]


def refused_at_connect(broker, protocol, data):
    """Sends `data` as the first bytes of a connection: the broker closes it without a successful CONNACK.
    Returns the packets it sent."""
    connection = raw.Connection(broker.host, broker.port, protocol)
    connection.send(data)
    packets = connection.closing(deadline=2)
    assert all(not (p.kind == raw.CONNACK and p.reason == 0) for p in packets), packets
    return packets


def retained_messages(broker, protocol, properties=None):
    """Retained messages of QoS 0, 1, 2 (with `properties`) reach a new wildcard subscription with RETAIN set;
    emptied, they reach nobody. Returns the records first received."""
    with clients(broker, protocol) as c:
        client = c.connect("myclientid")
        for qos, topic in enumerate(TOPICS[1:4]):
            client.publish(topic, f"qos {qos}", qos=qos, retain=True, properties=properties)
        assert client.subscribe(WILDTOPICS[5], qos=2) == [2]
        client.wait_for(lambda records: len(records) >= 3)  # three topics and QoS: no defined order
        sync(client, client)
        received = client.received()
        assert sorted((r["topic"], r["payload"], r["qos"], r["retain"]) for r in received) == sorted(
            [(TOPICS[1], "qos 0", 0, True), (TOPICS[2], "qos 1", 1, True), (TOPICS[3], "qos 2", 2, True)])

        client.clear()
        client.publish(TOPICS[1], "live", qos=1, retain=True)
        client.wait_for_topic(TOPICS[1])
        assert [(r["payload"], r["retain"]) for r in client.received()] == [("live", False)], client.received()

        for qos, topic in enumerate(TOPICS[1:4]):
            client.publish(topic, b"", qos=qos, retain=True)
        fresh = c.connect("myclientid2")
        assert fresh.subscribe(WILDTOPICS[5], qos=2) == [2]
        sync(client, fresh)
        assert fresh.received() == []
        return received


def offline_message_queueing(broker, protocol, **session):
    """A subscriber whose session outlives its connection (`session`: clean=False for 3.1.1, a Session Expiry
    Interval for 5) gets the QoS 1 and 2 messages published while it was away, and perhaps the QoS 0 one."""
    with clients(broker, protocol) as c:
        a = c.connect("myclientid", **session)
        assert a.subscribe(WILDTOPICS[5], qos=2) == [2]
        a.disconnect()
        b = c.connect("myclientid2")
        for qos, topic in enumerate(TOPICS[1:4]):
            b.publish(topic, f"qos {qos}", qos=qos)
        a = c.connect("myclientid", sync=False, **dict(session, clean=False))
        assert a.connack["session_present"] is True
        a.wait_for(lambda records: {"qos 1", "qos 2"} <= {r["payload"] for r in records})
        sync(b, a)
        assert payloads(a.received()) in (["qos 1", "qos 2"], ["qos 0", "qos 1", "qos 2"])


def redelivery_on_reconnect(broker, protocol, props=None):
    """A subscriber leaves a QoS 1 and a QoS 2 message unacknowledged and a third PUBREC'd; on resuming its session
    (`props`: CONNECT properties) it gets the two PUBLISH again, with DUP and their packet identifiers, and the
    PUBREL."""
    with clients(broker, protocol) as c:
        subscriber, _ = raw.open_session(broker.host, broker.port, "myclientid2", protocol, clean=False, props=props)
        subscriber.send(raw.subscribe(1, [(WILDTOPICS[6], 2)], protocol=protocol))
        assert subscriber.expect(raw.SUBACK).codes == [2]
        publisher = c.connect("myclientid", sync=False)
        publisher.publish(TOPICS[1], "qos 1", qos=1)
        publisher.publish(TOPICS[3], "qos 2", qos=2)
        publisher.publish(TOPICS[3], "qos 2, PUBREC'd", qos=2)
        first = [subscriber.expect(raw.PUBLISH) for _ in range(3)]
        assert [(p.payload, p.qos, p.dup) for p in first] == [
            (b"qos 1", 1, False), (b"qos 2", 2, False), (b"qos 2, PUBREC'd", 2, False)]
        subscriber.send(raw.ack(raw.PUBREC, first[2].packet_id, protocol=protocol))
        assert subscriber.expect(raw.PUBREL).packet_id == first[2].packet_id
        subscriber.close()

        again, connack = raw.open_session(broker.host, broker.port, "myclientid2", protocol, clean=False,
                                          props=props)
        assert connack.reason == 0 and connack.session_present, connack
        resent = [again.read() for _ in range(3)]
        publishes = [(p.packet_id, p.payload, p.qos, p.dup) for p in resent if p.kind == raw.PUBLISH]
        assert publishes == [(first[0].packet_id, b"qos 1", 1, True), (first[1].packet_id, b"qos 2", 2, True)]
        assert [(p.kind, p.packet_id) for p in resent if p.kind != raw.PUBLISH] == [
            (raw.PUBREL, first[2].packet_id)]
        again.send(raw.ack(raw.PUBACK, first[0].packet_id, protocol=protocol))
        again.send(raw.ack(raw.PUBREC, first[1].packet_id, protocol=protocol))
        assert again.expect(raw.PUBREL).packet_id == first[1].packet_id
        again.send(raw.ack(raw.PUBCOMP, first[1].packet_id, protocol=protocol))
        again.send(raw.ack(raw.PUBCOMP, first[2].packet_id, protocol=protocol))
        again.send(raw.pingreq())
        assert again.expect(raw.PINGRESP)
        again.close()


def retained_will(c: Clients):
    """A will with Will Retain 1, published when its client drops, is there for a later subscriber, retained."""
    dropped = c.connect("retained", sync=False,
                        will={"topic": "will/retained", "payload": "retained will", "retain": True})
    dropped.drop()
    late = c.connect("late", sync=False)
    assert late.subscribe("will/retained", qos=1) == [1]
    [will] = late.wait_for_count(1)
    assert (will["payload"], will["retain"]) == ("retained will", True)


def keepalive(broker, protocol, closing_check):
    """A client with keep alive 1 s that sends nothing is disconnected within 1.5 s (plus 1 s of slack), not
    before 1 s, and its will is published, while one sending PINGREQ stays connected. `closing_check(connection)`
    checks what the broker sent when closing."""
    interval = 1
    with clients(broker, protocol) as c:
        subscriber = c.connect("myclientid2", keepalive=0)
        assert subscriber.subscribe(TOPICS[4], qos=2) == [2]
        pinging, _ = raw.open_session(broker.host, broker.port, "pinging", protocol, keepalive=interval)
        silent, _ = raw.open_session(broker.host, broker.port, "silent", protocol, keepalive=interval,
                                     will={"topic": TOPICS[4], "payload": b"keepalive expiry"})
        start = time.monotonic()
        end = start + 1.5 * interval + 1
        closed_after = None
        while time.monotonic() < end and closed_after is None:
            pinging.send(raw.pingreq())
            assert pinging.expect(raw.PINGRESP)
            if not silent.silent_for(0.5 * interval):
                closing_check(silent)
                closed_after = time.monotonic() - start
        assert closed_after is not None, "the silent client was not disconnected"
        assert closed_after >= interval, f"disconnected after {closed_after:.2f} s, before its keep alive"
        assert [r["payload"] for r in subscriber.wait_for_count(1)] == ["keepalive expiry"]
        pinging.send(raw.pingreq())
        assert pinging.expect(raw.PINGRESP)
        pinging.close()


def overlapping_subscriptions(broker, protocol):
    """TopicA/# at QoS 2 and TopicA/+ at QoS 1: a QoS 2 message on TopicA/C arrives once at QoS 2, or once per
    subscription at QoS 2 and 1."""
    with clients(broker, protocol) as c:
        client = c.connect("myclientid")
        assert client.subscribe((WILDTOPICS[6], 2), (WILDTOPICS[0], 1)) == [2, 1]
        client.publish(TOPICS[3], "overlapping topic filters", qos=2)
        sync(client, client)
        qos = sorted(r["qos"] for r in client.received())
        assert qos in ([2], [1, 2]), client.received()


def invalid_filter_answer(broker, protocol, topic_filter):
    """Subscribes to `topic_filter` on a fresh connection; the broker's first answer, or None if it closed the
    connection without one."""
    connection, connack = raw.open_session(broker.host, broker.port, "myclientid", protocol)
    assert connack.reason == 0
    connection.send(raw.subscribe(1, [(topic_filter, 1)], protocol=protocol))
    try:
        return connection.read(), connection
    except EOFError:
        return None, connection


def dollar_topics(broker, protocol):
    """+/+ and # do not match $TopicA/B; $TopicA/B does."""
    with clients(broker, protocol) as c:
        wildcard = c.connect("myclientid2", keepalive=0)
        assert wildcard.subscribe((WILDTOPICS[5], 2), ("#", 2)) == [2, 2]
        dollar = c.connect("dollar")
        assert dollar.subscribe("$" + TOPICS[1], qos=2) == [2]
        wildcard.publish("$" + TOPICS[1], "dollar", qos=1)
        dollar.wait_for_count(1)
        sync(wildcard, wildcard)
        assert wildcard.received() == []


def unsubscribe(broker, protocol, unsuback_codes):
    """Subscribed to three topics, unsubscribed from one (and from one never subscribed, in the same UNSUBSCRIBE,
    answered with `unsuback_codes`): messages arrive from the two others only."""
    with clients(broker, protocol) as c:
        b = c.connect("myclientid2")
        for topic in TOPICS[:3]:
            assert b.subscribe(topic, qos=2) == [2]
        assert b.unsubscribe(TOPICS[0], "never/subscribed") == unsuback_codes
        a = c.connect("myclientid", sync=False)
        a.publish(TOPICS[0], "topic 0 - unsubscribed", qos=1)
        a.publish(TOPICS[1], "topic 1", qos=1)
        a.publish(TOPICS[2], "topic 2", qos=1)
        sync(a, b)
        assert payloads(b.received()) == ["topic 1", "topic 2"]


def after_offence(broker, protocol, data, closing_check):
    """A client with a will sends `data` after a successful CONNECT; `closing_check(connection)` checks how the
    broker ends the connection, then the will must have been published."""
    with clients(broker, protocol) as c:
        subscriber = c.connect("watcher")
        assert subscriber.subscribe("will/offender", qos=1) == [1]
        offender, connack = raw.open_session(broker.host, broker.port, "offender", protocol,
                                             will={"topic": "will/offender", "payload": b"gone"})
        assert connack.reason == 0
        offender.send(data)
        closing_check(offender)
        assert subscriber.arrives("will/offender", within=2), "no will"


def qos2_exactly_once(broker, protocol):
    """A QoS 2 PUBLISH sent again (DUP) before its PUBREL is acknowledged but not delivered again; after PUBCOMP,
    a PUBLISH reusing the packet identifier is a new message."""
    with clients(broker, protocol) as c:
        subscriber = c.connect("subscriber")
        assert subscriber.subscribe(TOPICS[0], qos=2) == [2]
        publisher, _ = raw.open_session(broker.host, broker.port, "publisher", protocol)
        publisher.send(raw.publish(TOPICS[0], b"once", qos=2, packet_id=5, protocol=protocol))
        assert publisher.expect(raw.PUBREC).packet_id == 5
        publisher.send(raw.publish(TOPICS[0], b"once", qos=2, dup=True, packet_id=5, protocol=protocol))
        assert publisher.expect(raw.PUBREC).packet_id == 5
        publisher.send(raw.ack(raw.PUBREL, 5, protocol=protocol))
        assert publisher.expect(raw.PUBCOMP).packet_id == 5
        publisher.send(raw.publish(TOPICS[0], b"new", qos=2, packet_id=5, protocol=protocol))
        assert publisher.expect(raw.PUBREC).packet_id == 5
        publisher.send(raw.ack(raw.PUBREL, 5, protocol=protocol))
        assert publisher.expect(raw.PUBCOMP).packet_id == 5
        publisher.close()
        subscriber.wait_for(lambda records: any(r["payload"] == "new" for r in records))
        sync(subscriber, subscriber)
        assert [r["payload"] for r in subscriber.received()] == ["once", "new"]


def dup_not_propagated(broker, protocol):
    """A PUBLISH that arrives with DUP set is forwarded with DUP clear: DUP belongs to one hop."""
    with clients(broker, protocol) as c:
        subscriber, _ = raw.open_session(broker.host, broker.port, "subscriber", protocol)
        subscriber.send(raw.subscribe(1, [(TOPICS[0], 1)], protocol=protocol))
        assert subscriber.expect(raw.SUBACK).codes == [1]
        publisher, _ = raw.open_session(broker.host, broker.port, "publisher", protocol)
        publisher.send(raw.publish(TOPICS[0], b"dup", qos=1, dup=True, packet_id=9, protocol=protocol))
        assert publisher.expect(raw.PUBACK).packet_id == 9
        forwarded = subscriber.expect(raw.PUBLISH)
        assert (forwarded.payload, forwarded.dup) == (b"dup", False), forwarded
        publisher.close()
        subscriber.close()


def non_retained_publish_keeps_retained(broker, protocol):
    """A PUBLISH without RETAIN neither stores nor replaces nor removes the retained message of its topic."""
    with clients(broker, protocol) as c:
        publisher = c.connect("publisher", sync=False)
        publisher.publish(TOPICS[1], "retained", qos=1, retain=True)
        publisher.publish(TOPICS[1], "not retained", qos=1)
        publisher.publish(TOPICS[1], b"", qos=1)
        publisher.publish(TOPICS[2], "not retained either", qos=1)
        subscriber = c.connect("subscriber")
        assert subscriber.subscribe(WILDTOPICS[5], qos=1) == [1]
        subscriber.wait_for_count(1)
        sync(publisher, subscriber)
        assert [(r["topic"], r["payload"], r["retain"]) for r in subscriber.received()] == [
            (TOPICS[1], "retained", True)]


def resubscribe_replaces(broker, protocol, **first_options):
    """Subscribing again to the same filter replaces the subscription: a QoS 2 subscription (with
    `first_options`) subscribed again at QoS 0 gets one copy of each message, at QoS 0. Returns the records."""
    with clients(broker, protocol) as c:
        client = c.connect("myclientid")
        assert client.subscribe(TOPICS[0], qos=2, **first_options) == [2]
        assert client.subscribe(TOPICS[0], qos=0) == [0]
        client.publish(TOPICS[0], "after the second SUBSCRIBE", qos=2)
        sync(client, client)
        received = client.received()
        assert [(r["payload"], r["qos"]) for r in received] == [("after the second SUBSCRIBE", 0)], received
        return received


def qos2_inbound_across_reconnect(broker, protocol, props=None):
    """A publisher's QoS 2 exchange survives its reconnection (session kept; `props`: CONNECT properties): the
    PUBLISH re-sent with DUP after reconnecting is acknowledged but not delivered again, and the PUBREL completes
    it with PUBCOMP (reason 0x00 in MQTT 5: the identifier is known)."""
    with clients(broker, protocol) as c:
        subscriber = c.connect("subscriber")
        assert subscriber.subscribe(TOPICS[0], qos=2) == [2]
        publisher, _ = raw.open_session(broker.host, broker.port, "publisher", protocol, clean=False, props=props)
        publisher.send(raw.publish(TOPICS[0], b"exactly once", qos=2, packet_id=7, protocol=protocol))
        assert publisher.expect(raw.PUBREC).packet_id == 7
        publisher.close()
        again, connack = raw.open_session(broker.host, broker.port, "publisher", protocol, clean=False, props=props)
        assert connack.reason == 0 and connack.session_present, connack
        again.send(raw.publish(TOPICS[0], b"exactly once", qos=2, dup=True, packet_id=7, protocol=protocol))
        assert again.expect(raw.PUBREC).packet_id == 7
        again.send(raw.ack(raw.PUBREL, 7, protocol=protocol))
        pubcomp = again.expect(raw.PUBCOMP)
        assert (pubcomp.packet_id, pubcomp.reason) == (7, 0), pubcomp
        again.close()
        subscriber.wait_for_count(1)
        sync(subscriber, subscriber)
        assert [r["payload"] for r in subscriber.received()] == ["exactly once"]


def queued_messages_in_order(broker, protocol, **session):
    """Forty QoS 1 messages published while a subscriber is away (more than an inflight window) arrive in order
    when it comes back (`session` keeps its session)."""
    with clients(broker, protocol) as c:
        away = c.connect("myclientid", **session)
        assert away.subscribe(TOPICS[0], qos=1) == [1]
        away.disconnect()
        publisher = c.connect("publisher", sync=False)
        for n in range(40):
            publisher.publish(TOPICS[0], f"{n}", qos=1)
        back = c.connect("myclientid", **dict(session, clean=False))
        back.wait_for_count(40)
        assert [r["payload"] for r in back.received()] == [f"{n}" for n in range(40)]
