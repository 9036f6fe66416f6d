#!/usr/bin/env python3
"""scripts/bench broker: the same `tern bench` scenarios against Tern and Debian's Mosquitto in one run.

Both brokers listen on free loopback ports; each broker is pinned to CPU 0 and the load generator to CPU 1 with
taskset (when the machine has two CPUs or more). Prints a Markdown table: each figure for both brokers and the
ratio Tern/Mosquitto. Usage: scripts/bench broker [SECONDS_PER_SCENARIO] [--json]
"""
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SCENARIOS = [
    ("fan-in, QoS 0, 4 publishers", ["--scenario", "fan-in", "--publishers", "4", "--qos", "0"]),
    ("fan-in, QoS 1, 4 publishers", ["--scenario", "fan-in", "--publishers", "4", "--qos", "1"]),
    ("fan-out, QoS 0, 8 subscribers", ["--scenario", "fan-out", "--subscribers", "8", "--qos", "0"]),
    ("pairs, QoS 2, 4 pairs", ["--scenario", "pairs", "--publishers", "4", "--qos", "2"]),
    ("latency, 2000 msg/s, QoS 1", ["--scenario", "latency", "--rate", "2000", "--qos", "1"]),
    ("connections, 2000 idle", ["--scenario", "connections", "--connections", "2000"]),
]
FIGURES = ["received_per_s", "latency_p50_us", "latency_p99_us", "lost", "duplicates", "reordered",
           "broker_cpu_s", "broker_rss_mb", "connections_per_s", "broker_kb_per_connection"]


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


def start_tern(binary: str, directory: str):
    # The log goes to a file: a pipe nobody drains would block the broker once it fills.
    log_path = os.path.join(directory, "tern.log")
    log = open(log_path, "w")
    process = subprocess.Popen(pinned(0) + [binary, "serve", "-p", "0"], stdout=log, stderr=log)
    end = time.time() + 20
    while time.time() < end:
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", open(log_path).read())
        if match:
            return process, int(match.group(1))
        time.sleep(0.05)
    raise RuntimeError("tern serve did not start")


def start_mosquitto(directory: str):
    port = free_port()
    config = os.path.join(directory, "mosquitto.conf")
    with open(config, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000\n")
    process = subprocess.Popen(pinned(0) + ["/usr/sbin/mosquitto", "-c", config], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_port(port)
    return process, port


def broker_pid(process) -> int:
    # Under taskset the broker is taskset's exec'd image, so the pid is the same.
    return process.pid


def run(binary: str, port: int, pid: int, args: list[str], seconds: str) -> dict:
    out = subprocess.run(pinned(1) + [binary, "bench", "--port", str(port), "--duration", seconds, "--json",
                                      "--broker-pid", str(pid), *args], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        return {"error": out.stderr.strip()[-200:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--json"]
    seconds = args[0] if args else "3"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run(["swift", "build", "-c", "release", "--product", "tern"], cwd=root, check=True,
                   stdout=subprocess.DEVNULL)
    bin_path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=root, check=True,
                              capture_output=True, text=True).stdout.strip()
    binary = os.path.join(bin_path, "tern")
    directory = tempfile.mkdtemp(prefix="tern-bench-")
    results = []
    for name, scenario in SCENARIOS:
        row = {"scenario": name}
        # A fresh broker per scenario, so memory and CPU figures belong to that scenario alone.
        for label, start in (("tern", lambda: start_tern(binary, directory)), ("mosquitto", lambda: start_mosquitto(directory))):
            process, port = start()
            try:
                row[label] = run(binary, port, broker_pid(process), scenario, seconds)
            finally:
                process.send_signal(signal.SIGTERM)
                process.wait(10)
        results.append(row)
        print(f"{name}: done", file=sys.stderr)
    shutil.rmtree(directory, ignore_errors=True)
    if "--json" in sys.argv:
        print(json.dumps(results))
        return 0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                            text=True).stdout.strip()
    print(f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs, commit {commit}, "
          f"{seconds} s per scenario, broker on CPU 0 and load on CPU 1\n")
    print("| scenario | figure | Tern | Mosquitto | Tern/Mosquitto |")
    print("| --- | --- | ---: | ---: | ---: |")
    for row in results:
        for figure in FIGURES:
            t, m = row["tern"].get(figure), row["mosquitto"].get(figure)
            if t is None and m is None:
                continue
            ratio = f"{t / m:.2f}" if isinstance(t, (int, float)) and isinstance(m, (int, float)) and m else "-"
            print(f"| {row['scenario']} | {figure} | {t} | {m} | {ratio} |")
        for label in ("tern", "mosquitto"):
            if "error" in row[label]:
                print(f"| {row['scenario']} | error ({label}) | {row[label]['error']} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
