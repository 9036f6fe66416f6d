#!/usr/bin/env python3
"""Instructions the broker core executes per message and per delivery, counted by callgrind (valgrind) in
`BrokerBenchmark --messages N`: every scenario of `scripts/bench core`, a fixed count of messages through
`Broker.receive`, their encoding and the subscribers' acknowledgements, after a warm-up that is not counted; and per
connection opened and closed among 10,000 others (N / 10 of them: CONNECT, DISCONNECT, the tables' updates).

A count does not move with the machine's load: the same build gives the same figures to a few instructions, so a
change that saves 1% shows as 1% where a rate moves by a tenth from one minute to the next. It counts instructions,
not time: a cache miss costs one instruction here and a hundred cycles in a run. Callgrind cannot read the DWARF 5
that Swift emits by default, so the benchmark is built with DWARF 4 into its own directory (`.build-callgrind`; the
first build takes minutes).

With `--server`, the whole server instead: `ServerBenchmark` (tern's `MQTTServer` in a process with a synchronous
main: valgrind 3.19 crashes where `tern serve`'s async main parks the main thread in libdispatch) runs under
callgrind on CPU 0 while `tern bench` (this tree's release build, or TERN_BINARY) loads it from CPU 1; the counts are
zeroed once it listens and read after the load: its user-space instructions per delivery, reads, decoding, the
broker, encoding and writes included (the kernel's work is not counted). These figures move by up to 1% from run
to run with how many messages each read and each tick carry. Last, per connection opened and closed (2,000 of them,
after 200 not counted, until the server is idle again).

Usage: scripts/bench instructions [--messages N] [SCENARIO_SUBSTRING]
       (N messages per scenario, fan-out N / 100; default 20,000)
       scripts/bench instructions --server [SCENARIO_SUBSTRING]
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_broker  # noqa: E402  (free ports, pinning and the tern build shared with the throughput benchmark)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRATCH = os.path.join(ROOT, ".build-callgrind")
DWARF4 = ["-Xswiftc", "-dwarf-version=4", "-Xcc", "-gdwarf-4"]
# The functions `BrokerBenchmark` runs the counted messages (and the connections' steps) in; callgrind counts only
# inside them.
COUNTED = ["*ScenarioSetup*publishCounted*", "*ConnectionChurn*stepCounted*"]


# The server scenarios: `tern bench` arguments; every delivery is counted as one received message.
SERVER_SCENARIOS = [
    ("fan-in QoS 0, 4 publishers", ["--scenario", "fan-in", "--count", "10000"]),
    ("fan-in QoS 1, 4 publishers", ["--scenario", "fan-in", "--count", "10000", "--qos", "1"]),
    ("fan-out QoS 0, 100 subscribers", ["--scenario", "fan-out", "--subscribers", "100", "--count", "400"]),
    ("fan-out QoS 1, 100 subscribers", ["--scenario", "fan-out", "--subscribers", "100", "--count", "400",
                                        "--qos", "1"]),
    ("10 pairs, QoS 0", ["--scenario", "pairs", "--publishers", "10", "--count", "4000"]),
]
# Connections opened by `tern bench --scenario connections` (CONNECT, CONNACK), then closed (DISCONNECT): the
# instructions per connection, both halves.
SERVER_CONNECTIONS = ("connections opened and closed", 2000)


def build(product: str = "BrokerBenchmark") -> str:
    command = ["swift", "build", "-c", "release", "--product", product, "--scratch-path", SCRATCH] + DWARF4
    built = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if built.returncode != 0:
        sys.exit(built.stdout + built.stderr)
    path = subprocess.run(command + ["--show-bin-path"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()
    return os.path.join(path, product)


def callgrind_total(path: str) -> int:
    """The instruction total of a callgrind output file."""
    with open(path) as profile:
        for line in profile:
            match = re.match(r"(?:summary|totals):\s+(\d+)", line)
            if match:
                return int(match.group(1))
    raise RuntimeError(f"no instruction total in {path}")


def scenarios(binary: str, messages: int, only: str | None) -> list[tuple[str, int, int]]:
    """(name, messages, deliveries) of each scenario, from a run without valgrind (the same counts)."""
    output = subprocess.run([binary, "--messages", str(messages)] + ([only] if only else []), check=True,
                            capture_output=True, text=True).stdout
    rows = []
    for line in output.splitlines()[2:]:
        name, messages, deliveries = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((name, int(messages), int(deliveries)))
    return rows


def instructions(binary: str, messages: int, name: str) -> int:
    """The instructions of scenario `name`'s counted messages."""
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        toggles = [f"--toggle-collect={pattern}" for pattern in COUNTED]
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + toggles +
                       [binary, "--messages", str(messages), name], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return callgrind_total(out)


def control(pid: int, command: str) -> None:
    """`callgrind_control -z` (zero the counts) or `-d` (dump them) for the process `pid`."""
    subprocess.run(["callgrind_control", command, str(pid)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def cpu_ticks(pid: int) -> int:
    """The user and system time process `pid` has used, in clock ticks (/proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_idle(pid: int, deadline: float = 60) -> None:
    """Waits until process `pid` has used under a tenth of a second of CPU in a second (its timers still run):
    under callgrind the server handles what the clients left (their connections' closes) long after `tern bench`
    has exited."""
    hertz = os.sysconf("SC_CLK_TCK")
    end = time.monotonic() + deadline
    last = cpu_ticks(pid)
    while time.monotonic() < end:
        time.sleep(1)
        now = cpu_ticks(pid)
        if now - last < hertz / 10:
            return
        last = now


def server_instructions(server: str, tern: str, arguments: list[str], warm_up: list[str] | None = None,
                        settle: bool = False) -> tuple[int, dict[str, str]]:
    """(instructions, `tern bench`'s figures) of one `tern bench` run against `server` under callgrind; a `warm_up`
    run of `tern bench` first, not counted; with `settle`, counted until the server is idle again."""
    port = bench_broker.free_port()
    with tempfile.TemporaryDirectory() as directory, open(os.path.join(directory, "server.log"), "w") as log:
        out = os.path.join(directory, "callgrind.out")
        process = subprocess.Popen(bench_broker.pinned(0) + ["valgrind", "--tool=callgrind",
                                   f"--callgrind-out-file={out}", server, str(port)], stdout=log, stderr=log)
        bench = bench_broker.pinned(1) + [tern, "bench", "--port", str(port), "--drain", "10", "--quiet"]
        try:
            bench_broker.wait_port(port, deadline=120)
            if warm_up:
                subprocess.run(bench + warm_up, check=True, capture_output=True)
                wait_idle(process.pid)
            control(process.pid, "-z")
            result = subprocess.run(bench + arguments, check=True, capture_output=True, text=True).stdout
            if settle:
                wait_idle(process.pid)
            control(process.pid, "-d")
            figures = dict(line.split()[:2] for line in result.splitlines() if len(line.split()) >= 2)
            dump = out + ".1"
            for _ in range(100):
                if os.path.exists(dump) and os.path.getsize(dump) > 0:
                    break
                time.sleep(0.1)
            time.sleep(0.5)  # the dump is written in one go; let it finish
            return callgrind_total(dump), figures
        finally:
            process.kill()
            process.wait()


def run_server(only: str | None) -> None:
    server = build("ServerBenchmark")
    tern = bench_broker.tern_binary(ROOT)
    print("| scenario | messages | deliveries | instructions per delivery |")
    print("|---|---:|---:|---:|")
    for name, arguments in SERVER_SCENARIOS:
        if only and only not in name:
            continue
        total, figures = server_instructions(server, tern, arguments)
        sent, received = int(figures["sent"]), int(figures["received"])
        print(f"| {name} | {sent} | {received} | {total / max(1, received):,.0f} |", flush=True)
    name, count = SERVER_CONNECTIONS
    if not only or only in name:
        # 200 connections first, not counted: the Swift run-time's caches fill with the first ones.
        total, _ = server_instructions(server, tern, ["--scenario", "connections", "--connections", str(count)],
                                       warm_up=["--scenario", "connections", "--connections", "200"], settle=True)
        print(f"\n| scenario | connections | instructions per connection |\n|---|---:|---:|\n"
              f"| {name} | {count} | {total / count:,.0f} |", flush=True)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    messages = 20_000
    if arguments[:1] == ["--messages"]:
        messages = int(arguments[1])
        arguments = arguments[2:]
    server_mode = arguments[:1] == ["--server"]
    if server_mode:
        arguments = arguments[1:]
    only = arguments[0] if arguments else None
    if shutil.which("valgrind") is None:
        sys.exit("scripts/bench instructions needs valgrind (Debian package valgrind)")
    if server_mode:
        run_server(only)
        sys.exit(0)
    binary = build()
    print("| scenario | messages | deliveries | instructions per message | per delivery |")
    print("|---|---:|---:|---:|---:|")
    for name, counted, deliveries in scenarios(binary, messages, only):
        total = instructions(binary, messages, name)
        per_delivery = f"{total / deliveries:,.0f}" if deliveries else "-"
        print(f"| {name} | {counted} | {deliveries} | {total / counted:,.0f} | {per_delivery} |", flush=True)
