"""Small helpers around paho-mqtt 2.x for tests: connect and wait, collect messages with deadlines."""
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

V311 = mqtt.MQTTv311
V5 = mqtt.MQTTv5


def wait_until(predicate, deadline: float = 10.0, interval: float = 0.01):
    """Polls `predicate` until it is true or the deadline passes; returns its last value."""
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(interval)


class Client:
    """A paho client (callback API 2) running its network loop in a thread, recording what it receives."""

    def __init__(self, port, client_id="", protocol=V5, clean=True, session_expiry=None, will=None,
                 host="127.0.0.1", keepalive=60, callback_api=mqtt.CallbackAPIVersion.VERSION2,
                 transport="tcp", ws_path="/mqtt", tls=None, username=None, password=None):
        """`transport="websockets"` connects over WebSocket at `ws_path`; `tls` (a dict of `tls_set` arguments,
        e.g. {"ca_certs": ...}) over TLS; `username`/`password` are sent in CONNECT."""
        self.protocol = protocol
        kwargs = {"client_id": client_id, "protocol": protocol, "transport": transport}
        if protocol != V5:
            kwargs["clean_session"] = clean
        self.client = mqtt.Client(callback_api, **kwargs)
        if transport == "websockets":
            self.client.ws_set_options(path=ws_path)
        if tls is not None:
            self.client.tls_set(**tls)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.messages = []
        self.connack = None
        self.disconnect_reason = None
        self.lock = threading.Lock()
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        if will:
            self.client.will_set(**will)
        properties = None
        connect_kwargs = {}
        if protocol == V5:
            properties = Properties(PacketTypes.CONNECT)
            if session_expiry is not None:
                properties.SessionExpiryInterval = session_expiry
            connect_kwargs["clean_start"] = clean
            connect_kwargs["properties"] = properties
        self.client.connect(host, port, keepalive=keepalive, **connect_kwargs)
        self.client.loop_start()
        assert wait_until(lambda: self.connack is not None), "no CONNACK"

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        self.connack = (flags, reason_code, properties)

    def _on_disconnect(self, client, userdata, flags, reason_code=None, properties=None):
        self.disconnect_reason = reason_code

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append(message)

    @property
    def session_present(self):
        return bool(self.connack[0].session_present)

    def subscribe(self, topic, qos=0, properties=None, **options):
        """Waits for the SUBACK; `properties` (MQTT 5) go with the SUBSCRIBE, e.g. a Subscription Identifier."""
        done = threading.Event()
        result = {}

        def on_subscribe(client, userdata, mid, reason_codes, properties=None):
            result["codes"] = reason_codes
            done.set()

        self.client.on_subscribe = on_subscribe
        if self.protocol == V5:
            self.client.subscribe(topic, options=mqtt.SubscribeOptions(qos=qos, **options), properties=properties)
        else:
            self.client.subscribe(topic, qos)
        assert done.wait(10), "no SUBACK"
        return result["codes"]

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(10)
        assert info.is_published()
        return info

    def received(self):
        with self.lock:
            return list(self.messages)

    def payloads(self):
        return [m.payload.decode() for m in self.received()]

    def wait_for(self, count, deadline=10.0):
        wait_until(lambda: len(self.received()) >= count, deadline)
        return self.received()

    def disconnect(self):
        self.client.disconnect()
        self.client.loop_stop()

    def drop(self):
        """Ends the connection without DISCONNECT, as a crashed client would."""
        self.client.socket().close()
        self.client.loop_stop()
