#!/usr/bin/env python3
"""Memory under churn and a mixed soak: does the broker give back what clients took?

Starts `tern serve -p 0` (--binary, else $TERN_BINARY, else the debug or release build), samples its resident set size (VmRSS) once a
second, and runs two phases:

1. churn: --churn connect/disconnect cycles (default 100,000) over raw sockets from --workers threads, MQTT 3.1.1
   and 5 alternately, half with a persistent session that the next cycle of the same client id resumes and
   cleans;
2. soak: --minutes of mixed traffic (default 10): QoS 0/1/2 publishers at a fixed rate, subscribers on wildcards,
   retained messages set and cleared, clients with wills dropping their sockets, persistent sessions going
   offline and coming back to their queues, subscribe/unsubscribe churn.

It prints a Markdown table of the RSS at each milestone (start, after warm-up, after churn, settled, then the
peak of each minute of the soak and the RSS once its sessions have expired) for BENCHMARKS.md, and exits 1 when
memory grows where it should not: the RSS settled after the churn more than --margin MiB above the RSS after the
warm-up, or the last minute of the soak more than --margin MiB above its second minute (by then the offline
queues have filled to their limits, so what grows after is a leak). `--smoke` is a few seconds of each phase
(what the test suite runs). Progress goes to stderr.

Run with the test venv (paho-mqtt 2.x): `.venv/bin/python scripts/soak.py` (or /tmp/venv/bin/python).
"""
import argparse
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "Tests" / "Interop"))

import raw_mqtt as raw  # noqa: E402
from tern_broker import tern_binary  # noqa: E402


def binary(explicit: str | None) -> Path:
    return Path(explicit) if explicit else tern_binary()


class Broker:
    def __init__(self, path: Path, persistence: bool):
        self.directory = Path(tempfile.mkdtemp(prefix="tern-soak-"))
        config = self.directory / "tern.conf"
        config.write_text("" if persistence else "persistence false\n")
        self.log = open(self.directory / "tern.log", "w+")
        self.process = subprocess.Popen(
            [str(path), "serve", "-p", "0", "-c", str(config), "--data-dir", str(self.directory / "data")],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        end = time.monotonic() + 30
        while time.monotonic() < end:
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", (self.directory / "tern.log").read_text())
            if match:
                self.port = int(match.group(1))
                return
            time.sleep(0.05)
        raise RuntimeError("tern did not start:\n" + (self.directory / "tern.log").read_text())

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)
        return code


class Sampler(threading.Thread):
    """Samples the broker's RSS every second; `peak` since the last `reset_peak`."""

    def __init__(self, broker: Broker):
        super().__init__(daemon=True)
        self.broker = broker
        self.samples: list[tuple[float, float]] = []
        self.peak = 0.0
        self.running = True
        self.started = time.monotonic()

    def run(self):
        while self.running:
            rss = self.broker.rss_mib()
            self.samples.append((time.monotonic() - self.started, rss))
            self.peak = max(self.peak, rss)
            time.sleep(1)

    def reset_peak(self):
        self.peak = self.broker.rss_mib()

    def peaks_per_minute(self, since: float) -> list[float]:
        """The highest RSS of each minute since `since` (a time on the sampler's clock)."""
        peaks: dict[int, float] = {}
        for at, rss in self.samples:
            if at >= since:
                minute = int((at - since) // 60)
                peaks[minute] = max(peaks.get(minute, 0.0), rss)
        return [peaks[minute] for minute in sorted(peaks)]


def progress(message: str):
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def churn_cycle(port: int, client_id: str, protocol: int, persistent: bool):
    connection = raw.Connection("127.0.0.1", port, protocol)
    try:
        props = {"SessionExpiryInterval": 60} if persistent and protocol == raw.V5 else None
        connection.send(raw.connect(client_id, protocol=protocol, clean=not persistent, props=props))
        connack = connection.expect(raw.CONNACK)
        assert connack.reason == 0, connack
        if persistent:
            connection.send(raw.subscribe(1, [(f"churn/{client_id}", 1)], protocol=protocol))
            connection.expect(raw.SUBACK)
        connection.send(raw.disconnect(protocol=protocol))
    finally:
        connection.close()


def churn(port: int, cycles: int, workers: int) -> float:
    """Runs `cycles` connect/disconnect cycles; returns the rate per second."""
    counter = iter(range(cycles))
    lock = threading.Lock()
    errors = []

    def work(worker: int):
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            protocol = raw.V5 if index % 2 else raw.V311
            # Persistent sessions come back (same id, every 1000 cycles) and the last cycle of each id is clean.
            persistent = index % 4 == 1 and index + 1000 < cycles
            try:
                churn_cycle(port, f"churn-{index % 1000}-{index % 4}", protocol, persistent)
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
                return

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return cycles / (time.monotonic() - started)


SESSION_EXPIRY = 10  # seconds: the soak's persistent sessions are gone this long after it ends


def soak(port: int, seconds: float, rate: int) -> dict:
    """Mixed traffic for `seconds`; returns counts."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.packettypes import PacketTypes

    counts = {"published": 0, "received": 0, "reconnects": 0, "wills": 0}
    lock = threading.Lock()
    stop = threading.Event()

    def on_message(client, userdata, message):
        with lock:
            counts["received"] += 1

    def client(client_id: str, clean: bool = True, will: bool = False, expiry: int = 0) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        c.on_message = on_message
        if will:
            c.will_set(f"soak/will/{client_id}", "gone", qos=1)
        properties = Properties(PacketTypes.CONNECT)
        if expiry:
            properties.SessionExpiryInterval = expiry
        c.connect("127.0.0.1", port, keepalive=30, clean_start=clean, properties=properties)
        c.loop_start()
        return c

    subscribers = []
    for index, (pattern, qos) in enumerate([("soak/#", 0), ("soak/+/1", 1), ("soak/data/#", 2), ("soak/will/#", 1)]):
        subscriber = client(f"soak-sub-{index}")
        subscriber.subscribe(pattern, qos)
        subscribers.append(subscriber)
    publisher = client("soak-pub")

    def publish_loop():
        generator = random.Random(1)
        interval = 1 / rate
        next_at = time.monotonic()
        while not stop.is_set():
            topic = f"soak/data/{generator.randrange(16)}"
            qos = generator.choice((0, 0, 1, 2))
            retain = generator.random() < 0.05
            payload = os.urandom(generator.randrange(16, 2048)) if generator.random() < 0.97 else b""
            publisher.publish(topic, payload, qos=qos, retain=retain)
            with lock:
                counts["published"] += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def session_loop():
        generator = random.Random(2)
        index = 0
        while not stop.is_set():
            index += 1
            name = f"soak-session-{index % 50}"
            c = client(name, clean=index % 7 == 0, will=True, expiry=SESSION_EXPIRY)
            c.subscribe(f"soak/data/{index % 16}", 1)
            c.subscribe(f"soak/tmp/{index}/#", 0)
            c.unsubscribe(f"soak/tmp/{index}/#")
            time.sleep(generator.uniform(0.05, 0.3))
            if generator.random() < 0.3:
                c.socket().close()  # dropped: the will goes out
                with lock:
                    counts["wills"] += 1
            else:
                c.disconnect()
            c.loop_stop()
            with lock:
                counts["reconnects"] += 1

    threads = [threading.Thread(target=publish_loop), threading.Thread(target=session_loop)]
    for thread in threads:
        thread.start()
    end = time.monotonic() + seconds
    while not stop.wait(min(60.0, max(0.0, end - time.monotonic()))):
        if time.monotonic() >= end:
            break
        with lock:
            progress(f"soak: {counts}")
    stop.set()
    for thread in threads:
        thread.join()
    for c in subscribers + [publisher]:
        c.disconnect()
        c.loop_stop()
    return counts


def settle(broker: Broker, seconds: float) -> float:
    time.sleep(seconds)
    return broker.rss_mib()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary")
    parser.add_argument("--churn", type=int, default=100_000, help="connect/disconnect cycles (default 100000)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10.0, help="mixed soak duration (default 10)")
    parser.add_argument("--rate", type=int, default=500, help="publications per second in the soak")
    parser.add_argument("--margin", type=float, default=16.0, help="allowed RSS growth per phase, MiB")
    parser.add_argument("--no-persistence", action="store_true", help="run the broker with persistence false")
    parser.add_argument("--smoke", action="store_true", help="a few seconds of each phase")
    options = parser.parse_args()
    if options.smoke:
        options.churn, options.minutes, options.rate = 400, 0.05, 100
    pause = 0.5 if options.smoke else 5
    expiry_pause = 0.5 if options.smoke else SESSION_EXPIRY + 5
    broker = Broker(binary(options.binary), persistence=not options.no_persistence)
    sampler = Sampler(broker)
    sampler.start()
    rows = [("start", broker.rss_mib())]
    failures = []
    try:
        warmup = min(2_000, options.churn)
        progress(f"broker on port {broker.port}, pid {broker.process.pid}; warm-up")
        churn(broker.port, warmup, options.workers)
        warm = settle(broker, pause)
        rows.append((f"after {warmup} warm-up cycles", warm))
        progress(f"churn: {options.churn} cycles")
        rate = churn(broker.port, options.churn, options.workers)
        rows.append((f"after {options.churn} churn cycles ({rate:.0f}/s)", broker.rss_mib()))
        rows.append(("peak during churn", sampler.peak))
        churned = settle(broker, pause)
        rows.append((f"churn settled ({pause:g} s)", churned))
        if churned - warm > options.margin:
            failures.append(f"churn: RSS grew by {churned - warm:.1f} MiB")
        progress(f"soak: {options.minutes:g} min at {options.rate} publications/s")
        rows.append(("soak start", broker.rss_mib()))
        soak_started = time.monotonic() - sampler.started
        counts = soak(broker.port, options.minutes * 60, options.rate)
        peaks = sampler.peaks_per_minute(soak_started)
        for minute, peak in enumerate(peaks):
            rows.append((f"soak minute {minute + 1}, peak", peak))
        rows.append((f"soak end ({options.minutes:g} min)", broker.rss_mib()))
        rows.append((f"soak settled ({expiry_pause:g} s: its sessions expired)", settle(broker, expiry_pause)))
        if len(peaks) >= 3 and peaks[-1] - peaks[1] > options.margin:
            failures.append(f"soak: RSS grew by {peaks[-1] - peaks[1]:.1f} MiB from minute 2 to the last")
    finally:
        sampler.running = False
        code = broker.stop()
    print("| moment | RSS (MiB) |")
    print("|---|---:|")
    for label, rss in rows:
        print(f"| {label} | {rss:.1f} |")
    print(f"\nsoak traffic: {counts}; broker exit status {code}")
    if code != 0:
        failures.append(f"tern exited with {code}")
    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
