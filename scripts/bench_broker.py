#!/usr/bin/env python3
"""scripts/bench broker: the issue 10 scenarios against Tern and Debian's Mosquitto in one run.

Both brokers listen on free loopback ports; each broker is pinned to CPU 0 and the load generator to CPU 1 with
taskset (when the machine has two CPUs or more). Every scenario runs RUNS times, alternating a fresh Tern and a
fresh Mosquitto, so both see the same machine load; the table shows the median of each figure and the ratio of
the medians, Tern / Mosquitto. A run that loses messages is marked (the issue counts it as 0).

Both brokers get queue limits high enough that these closed-loop runs never drop (`max_queued_messages
1000000`, and for Tern `max_write_buffer` 1 GiB, its bound on QoS 0 waiting for a subscriber's socket) and no
in-flight limit (`max_inflight_messages 0`: with a window of 20 a QoS 1 run measures the round trips of the
subscriber's window); "in memory" runs use `persistence false` for Tern and Mosquitto's default (no persistence);
"durable" runs turn persistence on for both and give the subscriber a persistent session, so that what is queued
for it must be kept (Tern: SQLite, every acknowledged message committed before its acknowledgement; Mosquitto:
periodic snapshots). Mosquitto runs with its defaults (Nagle on) for throughput and
with `set_tcp_nodelay true` for the latency scenarios; Tern always sets TCP_NODELAY.

The last rows ("scaling") compare Tern with `event_loops 2` against Tern on one loop, with nothing pinned.

Usage: scripts/bench broker [SECONDS_PER_RUN] [--runs N] [--only SUBSTRING] [--json]
(TERN_BINARY=path measures that `tern` binary, load generator included, instead of building this tree.)
"""
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

# name, `tern bench` arguments, options: durable (persistence on for both), nodelay (Mosquitto
# set_tcp_nodelay true), subscriptions (that many extra non-matching subscriptions before the run; each run is
# paired with one of the same scenario without them, on a fresh broker right after, and the row's
# share_of_1_subscription is the median of the pairs' rate ratios: the machine's speed drifts between rows minutes
# apart, which moved the ratio of two rows by a third), retained (that many retained messages, then one subscriber
# on `#`: a separate measurement, not `tern bench`).
SCENARIOS = [
    ("fan-in QoS 0, 4 publishers", ["--scenario", "fan-in", "--publishers", "4", "--qos", "0"], {}),
    ("fan-in QoS 0, 4 publishers, 1 KiB", ["--scenario", "fan-in", "--publishers", "4", "--qos", "0",
                                           "--size", "1024"], {}),
    ("fan-in QoS 1, 4 publishers, in memory", ["--scenario", "fan-in", "--publishers", "4", "--qos", "1"], {}),
    # The subscriber's session persists (expiry 300 s), so what is queued for it is what a durable store keeps.
    ("fan-in QoS 1, 4 publishers, durable", ["--scenario", "fan-in", "--publishers", "4", "--qos", "1",
                                              "--session-expiry", "300"], {"durable": True}),
    ("fan-in QoS 2, 10 publishers x 20000", ["--scenario", "fan-in", "--publishers", "10", "--qos", "2",
                                             "--count", "20000"], {"until_count": True}),
    ("fan-out QoS 0, 100 subscribers", ["--scenario", "fan-out", "--subscribers", "100", "--qos", "0"], {}),
    ("fan-out QoS 1, 100 subscribers", ["--scenario", "fan-out", "--subscribers", "100", "--qos", "1"], {}),
    ("pairs QoS 0, 10 pairs", ["--scenario", "pairs", "--publishers", "10", "--qos", "0"], {}),
    # Latency: 10 s per run (10,000 samples, so p99 is not one of a few dozen outliers), at least 5 runs.
    ("latency 1000 msg/s, QoS 0", ["--scenario", "latency", "--rate", "1000", "--qos", "0"],
     {"nodelay": True, "seconds": "10", "min_runs": 5}),
    ("latency 1000 msg/s, QoS 1", ["--scenario", "latency", "--rate", "1000", "--qos", "1"],
     {"nodelay": True, "seconds": "10", "min_runs": 5}),
    ("connections, 10000 idle", ["--scenario", "connections", "--connections", "10000"], {}),
    ("fan-in QoS 0, 100000 subscriptions", ["--scenario", "fan-in", "--publishers", "4", "--qos", "0"],
     {"subscriptions": 100_000}),
    # The same with 10,000 topics per publisher in turn: no topic comes back soon enough for Tern's topic match
    # cache, so every message walks the subscription trie.
    ("fan-in QoS 0, 100000 subscriptions, 40000 topics",
     ["--scenario", "fan-in", "--publishers", "4", "--qos", "0", "--topics", "10000"], {"subscriptions": 100_000}),
    ("1000000 retained, subscribe to #", [], {"retained": 1_000_000}),
]
# Tern on `event_loops 2` (a loop for the broker core, one for the connections) against Tern on one loop, nothing
# pinned (brokers and generator share both CPUs): the "Tern" column is two loops, the "Mosquitto" column one.
SCALING = [
    ("scaling: fan-in QoS 0, 4 publishers; Tern on 2 event loops / on 1, nothing pinned",
     ["--scenario", "fan-in", "--publishers", "4", "--qos", "0"]),
    ("scaling: fan-out QoS 0, 100 subscribers; Tern on 2 event loops / on 1, nothing pinned",
     ["--scenario", "fan-out", "--subscribers", "100", "--qos", "0"]),
]
FIGURES = ["received_per_s", "sent_per_s", "latency_p50_us", "latency_p99_us", "lost", "duplicates", "reordered",
           "broker_cpu_s", "broker_cpu_us_per_message", "broker_rss_mb", "connections_per_s",
           "broker_kb_per_connection", "broker_cpu_us_per_connection", "seconds_to_deliver_all", "delivered",
           "share_of_1_subscription"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, deadline: float = 10) -> None:
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def pinned(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def wait_log(path: str, pattern: str, deadline: float = 60) -> int:
    end = time.time() + deadline
    while time.time() < end:
        match = re.search(pattern, open(path).read())
        if match:
            return int(match.group(1))
        time.sleep(0.05)
    raise RuntimeError(f"no '{pattern}' in {path}")


def start_tern(binary: str, directory: str, options: dict, pin: bool = True):
    data = tempfile.mkdtemp(prefix="tern-data-", dir=directory)
    config = os.path.join(directory, "tern.conf")
    with open(config, "w") as f:
        # Queues and write buffers large enough that nothing is dropped (for QoS 0, what waits for a subscriber's
        # socket is bounded by max_write_buffer, as Mosquitto bounds it by max_queued_messages).
        f.write("max_queued_messages 1000000\nmax_inflight_messages 0\nmax_write_buffer 1073741824\n")
        f.write(f"event_loops {options.get('event_loops', 1)}\n")
        f.write(f"persistence true\npersistence_location {data}\n" if options.get("durable")
                else "persistence false\n")
    # The log goes to a file: a pipe nobody drains would block the broker once it fills.
    log_path = os.path.join(directory, "tern.log")
    log = open(log_path, "w")
    process = subprocess.Popen((pinned(0) if pin else []) + [binary, "serve", "-p", "0", "-c", config],
                               stdout=log, stderr=log)
    return process, wait_log(log_path, r"listening on 127\.0\.0\.1:(\d+)")


def start_mosquitto(directory: str, options: dict):
    port = free_port()
    config = os.path.join(directory, "mosquitto.conf")
    with open(config, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\n"
                "max_inflight_messages 0\n")
        if options.get("durable"):
            data = tempfile.mkdtemp(prefix="mosquitto-data-", dir=directory)
            f.write(f"persistence true\npersistence_location {data}/\n")
        if options.get("nodelay"):
            f.write("set_tcp_nodelay true\n")
    process = subprocess.Popen(pinned(0) + ["/usr/sbin/mosquitto", "-c", config], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_port(port)
    return process, port


def start_sink(root: str, directory: str, size: str):
    log_path = os.path.join(directory, "sink.log")
    process = subprocess.Popen(pinned(0) + [sys.executable, os.path.join(root, "scripts", "bench_sink.py"), size],
                               stdout=open(log_path, "w"), stderr=subprocess.DEVNULL)
    return process, wait_log(log_path, r"listening on (\d+)")


# MARK: Raw MQTT 3.1.1 helpers for the set-up the load generator does not do

def encode_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + encode_length(len(body)) + body


def mqtt_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def raw_connect(port: int, client_id: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(packet(0x10, mqtt_string("MQTT") + b"\x04\x02\x00\x3c" + mqtt_string(client_id)))
    read_exactly(s, 4)  # CONNACK
    return s


def read_exactly(s: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = s.recv(min(1 << 20, n - len(data)))
        if not chunk:
            raise RuntimeError("connection closed")
        data += chunk
    return bytes(data)


def subscribe_many(port: int, count: int) -> socket.socket:
    """One client with `count` subscriptions of mixed shapes that never match the bench's topics."""
    shapes = ["bench/{i}/in/+", "bench/+/in/x{i}", "s{i}/#", "+/s{i}/in/#", "s/{i}/+/t", "bench/x{i}"]
    s = raw_connect(port, f"bench-subscriptions-{os.getpid()}")
    per_packet, packet_id, sent = 100, 0, 0
    while sent < count:
        packet_id += 1
        n = min(per_packet, count - sent)
        body = struct.pack(">H", packet_id) + b"".join(
            mqtt_string(shapes[i % len(shapes)].format(i=i)) + b"\x00" for i in range(sent, sent + n))
        s.sendall(packet(0x82, body))
        sent += n
        # SUBACK: fixed header (2 or 3 bytes) + identifier + one byte per filter.
        remaining = 2 + n
        read_exactly(s, 1 + len(encode_length(remaining)) + remaining)
    return s


def retained_run(port: int, count: int, pid: int) -> dict:
    """Stores `count` retained messages (same-length topics, 20-byte payloads), then times one subscriber on `#`
    until it has received every one. Every PUBLISH is 40 bytes, so counting bytes counts messages."""
    before = broker_usage(pid)
    publisher = raw_connect(port, f"bench-retain-pub-{os.getpid()}")
    chunk = 20_000
    for start in range(0, count, chunk):
        publisher.sendall(b"".join(
            packet(0x31, mqtt_string(f"retained/{i:07d}") + struct.pack(">IQQ", 0, i, 0))
            for i in range(start, min(count, start + chunk))))
    publisher.sendall(b"\xc0\x00")  # PINGREQ: answered after every PUBLISH before it is processed
    read_exactly(publisher, 2)
    subscriber = raw_connect(port, f"bench-retain-sub-{os.getpid()}")
    start = time.time()
    subscriber.sendall(packet(0x82, b"\x00\x01" + mqtt_string("#") + b"\x00"))
    wanted, received = 5 + 40 * count, 0
    subscriber.settimeout(30)
    try:
        while received < wanted:
            chunk_bytes = subscriber.recv(1 << 20)
            if not chunk_bytes:
                break
            received += len(chunk_bytes)
    except socket.timeout:
        pass
    seconds = time.time() - start
    after = broker_usage(pid)
    publisher.close()
    subscriber.close()
    delivered = max(0, received - 5) // 40
    result = {"delivered": delivered, "lost": count - delivered, "seconds_to_deliver_all": round(seconds, 3),
              "received_per_s": round(delivered / seconds)}
    if before and after:
        result["broker_cpu_s"] = round(after[0] - before[0], 3)
        result["broker_rss_mb"] = round(after[1] / 1024, 3)
    return result


def broker_usage(pid: int):
    try:
        stat = open(f"/proc/{pid}/stat").read()
        fields = stat[stat.rindex(")") + 2:].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        rss = next(int(line.split()[1]) for line in open(f"/proc/{pid}/status") if line.startswith("VmRSS:"))
        return cpu, rss
    except (OSError, ValueError, StopIteration):
        return None


def run_bench(binary: str, port: int, pid: int, args: list[str], seconds: str, options: dict) -> dict:
    # Count-bounded runs last as long as they need (up to a minute).
    duration = "60" if options.get("until_count") else seconds
    # Queues built up by a saturating load take seconds to drain; only what has not arrived after 30 s is lost.
    out = subprocess.run(([] if options.get("unpinned") else pinned(1)) + [binary, "bench", "--port", str(port), "--duration", duration, "--json",
                                      "--drain", options.get("drain", "30"), "--broker-pid", str(pid), *args],
                         capture_output=True, text=True, timeout=240)
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-200:]}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result.get("received") and "broker_cpu_s" in result:
        result["broker_cpu_us_per_message"] = round(result["broker_cpu_s"] / result["received"] * 1e6, 3)
    return result


def run_once(binary: str, port: int, pid: int, args: list[str], seconds: str, options: dict) -> dict:
    if options.get("retained"):
        return retained_run(port, options["retained"], pid)
    extra = subscribe_many(port, options["subscriptions"]) if options.get("subscriptions") else None
    try:
        return run_bench(binary, port, pid, args, seconds, options)
    finally:
        if extra:
            extra.close()


def pair_with_baseline(result: dict, binary: str, start, scenario: list[str], seconds: str) -> None:
    """Runs `scenario` without the extra subscriptions on a fresh broker and records the rate of `result`
    against it."""
    process, port = start()
    try:
        baseline = run_bench(binary, port, process.pid, scenario, seconds, {})
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    if result.get("received_per_s") and baseline.get("received_per_s"):
        result["share_of_1_subscription"] = round(result["received_per_s"] / baseline["received_per_s"], 3)


def tern_binary(root: str) -> str:
    """`TERN_BINARY` (another build, a baseline), else this tree's release build, built first."""
    if os.environ.get("TERN_BINARY"):
        return os.environ["TERN_BINARY"]
    subprocess.run(["swift", "build", "-c", "release", "--product", "tern"], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    bin_path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=root, check=True,
                              capture_output=True, text=True).stdout.strip()
    return os.path.join(bin_path, "tern")


def median(values: list) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(numbers) if numbers else None


def main() -> int:
    argv = sys.argv[1:]
    runs, only = 3, None
    if "--runs" in argv:
        runs = int(argv[argv.index("--runs") + 1])
        del argv[argv.index("--runs"):argv.index("--runs") + 2]
    if "--only" in argv:
        only = argv[argv.index("--only") + 1]
        del argv[argv.index("--only"):argv.index("--only") + 2]
    args = [a for a in argv if a != "--json"]
    seconds = args[0] if args else "3"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    binary = tern_binary(root)
    directory = tempfile.mkdtemp(prefix="tern-bench-")
    results = []
    try:
        # The load generator's ceiling: the fan-in scenarios against a sink that does no broker work.
        for size in ("64", "1024"):
            row = {"scenario": f"generator ceiling (trivial sink), fan-in QoS 0, {size} B", "runs": {"sink": []}}
            if only is not None and only not in row["scenario"]:
                continue
            for _ in range(runs):
                process, port = start_sink(root, directory, size)
                try:
                    row["runs"]["sink"].append(run_bench(binary, port, process.pid, [
                        "--scenario", "fan-in", "--publishers", "4", "--qos", "0", "--size", size], seconds,
                        {"drain": "0"}))  # the sink's repeated sequence numbers never complete a drain
                finally:
                    process.kill()
                    process.wait(10)
            results.append(row)
        scenarios = [s for s in SCENARIOS if only is None or only in s[0]]
        for name, scenario, options in scenarios:
            row = {"scenario": name, "runs": {"tern": [], "mosquitto": []}}
            for _ in range(max(runs, options.get("min_runs", 0))):
                # A fresh broker per run, so memory and CPU figures belong to that run alone.
                for label, start in (("tern", lambda: start_tern(binary, directory, options)),
                                     ("mosquitto", lambda: start_mosquitto(directory, options))):
                    process, port = start()
                    try:
                        row["runs"][label].append(run_once(binary, port, process.pid, scenario,
                                                           options.get("seconds", seconds), options))
                    except Exception as error:  # a failed run is reported, not fatal to the others
                        row["runs"][label].append({"error": str(error)[-200:]})
                    finally:
                        process.send_signal(signal.SIGTERM)
                        process.wait(30)
                    if options.get("subscriptions"):
                        pair_with_baseline(row["runs"][label][-1], binary, start, scenario,
                                           options.get("seconds", seconds))
            results.append(row)
            print(f"{name}: done", file=sys.stderr)
        for name, scenario in [s for s in SCALING if only is None or only in s[0]]:
            row = {"scenario": name, "runs": {"tern, 2 loops": [], "tern, 1 loop": []}}
            for _ in range(runs):
                for label, loops in (("tern, 2 loops", 2), ("tern, 1 loop", 1)):
                    options = {"event_loops": loops, "unpinned": True}
                    process, port = start_tern(binary, directory, options, pin=False)
                    try:
                        row["runs"][label].append(run_bench(binary, port, process.pid, scenario, seconds, options))
                    except Exception as error:
                        row["runs"][label].append({"error": str(error)[-200:]})
                    finally:
                        process.send_signal(signal.SIGTERM)
                        process.wait(30)
            results.append(row)
            print(f"{name}: done", file=sys.stderr)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if "--json" in sys.argv:
        print(json.dumps(results))
        return 0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                            text=True).stdout.strip()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"commit {commit}, {seconds} s per run, median of {runs} runs, broker on CPU 0 and load on CPU 1\n")
    print("| scenario | figure | Tern | Mosquitto | Tern/Mosquitto |")
    print("| --- | --- | ---: | ---: | ---: |")
    for row in results:
        labels = list(row["runs"])
        for figure in FIGURES:
            values = [median([r.get(figure) for r in row["runs"][label]]) for label in labels]
            if all(v is None for v in values):
                continue
            if len(labels) == 1:
                # Against the sink only the rates mean something (it repeats one burst of sequence numbers).
                if figure in ("received_per_s", "sent_per_s"):
                    print(f"| {row['scenario']} | {figure} | {fmt(values[0])} | | |")
                continue
            t, m = values
            ratio = f"{t / m:.2f}" if t is not None and m else "-"
            print(f"| {row['scenario']} | {figure} | {fmt(t)} | {fmt(m)} | {ratio} |")
        for label in labels:
            for r in row["runs"][label]:
                if "error" in r:
                    print(f"| {row['scenario']} | error ({label}) | {r['error']} | | |")
                elif r.get("lost") and label != "sink":
                    print(f"| {row['scenario']} | run with losses ({label}) | {r['lost']} lost | | |")
    return 0


def fmt(value) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


if __name__ == "__main__":
    sys.exit(main())
