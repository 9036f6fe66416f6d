#!/usr/bin/env python3
"""Reference-count operations per delivered message in the whole server: calls of the Swift runtime's
`swift_retain`, `swift_release`, `swift_bridgeObjectRetain`/`Release` (strings and arrays) and
`swift_allocObject`, counted with uprobes (`perf probe`, `perf stat`; linux-perf and root).

Unlike a rate, these counts do not move with the machine's load: the same build gives the same figures to the
second decimal, so a change that removes a copy per message shows as a whole number fewer. Each scenario sends a
fixed count of messages (the uprobes slow the broker down; nothing here is a speed). A bridge-object call on
native storage (a string's or an array's buffer) calls `swift_retain` or `swift_release` in turn: it counts in
both columns.

Usage: scripts/bench arc [--only SUBSTRING]   (TERN_BINARY: another build, a baseline)
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_broker  # noqa: E402  (broker start-up and pinning shared with the throughput benchmark)

FUNCTIONS = ["swift_retain", "swift_release", "swift_bridgeObjectRetain", "swift_bridgeObjectRelease",
             "swift_allocObject"]
SCENARIOS = [
    ("fan-in QoS 0, 4 publishers", ["--scenario", "fan-in", "--count", "10000"]),
    ("fan-out QoS 0, 100 subscribers", ["--scenario", "fan-out", "--subscribers", "100", "--count", "2000"]),
    ("fan-out QoS 1, 100 subscribers", ["--scenario", "fan-out", "--subscribers", "100", "--count", "1000",
                                        "--qos", "1"]),
]


def runtime_library(binary: str) -> str:
    for line in subprocess.run(["ldd", binary], capture_output=True, text=True).stdout.splitlines():
        if "libswiftCore.so" in line:
            return line.split("=>")[1].split()[0]
    raise RuntimeError(f"{binary} does not load libswiftCore.so")


def add_probes(library: str) -> list[str]:
    events = []
    for function in FUNCTIONS:
        # Idempotent: a probe left by an earlier run is reused.
        subprocess.run(["perf", "probe", "-q", "-x", library, "-a", function], capture_output=True)
        events.append(f"probe_libswiftCore:{function}")
    return events


def count(binary: str, directory: str, events: list[str], arguments: list[str]) -> dict:
    process, port = bench_broker.start_tern(binary, directory, {})
    counts = os.path.join(directory, "counts.csv")
    try:
        stat = subprocess.Popen(["perf", "stat", "-x", ",", "-o", counts, "-e", ",".join(events),
                                 "-p", str(process.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # until perf counts (placing the probes takes a moment); the idle broker adds nothing
        load = subprocess.run(bench_broker.pinned(1) + [
            binary, "bench", "--port", str(port), "--drain", "30", "--quiet", *arguments],
            capture_output=True, text=True, timeout=600)
        stat.send_signal(2)
        stat.wait(timeout=30)
        fields = dict(line.split(None, 1) for line in load.stdout.splitlines() if " " in line)
        received = int(fields["received"])
        result = {"received": received, "lost": int(fields["lost"])}
        for line in open(counts):
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[2].startswith("probe_libswiftCore:"):
                result[parts[2].split(":")[1]] = int(parts[0]) / received
        return result
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> int:
    argv = sys.argv[1:]
    only = argv[argv.index("--only") + 1] if "--only" in argv else ""
    if not shutil.which("perf"):
        print("perf is missing (Debian: apt-get install linux-perf)", file=sys.stderr)
        return 2
    binary = bench_broker.tern_binary(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    events = add_probes(runtime_library(binary))
    directory = tempfile.mkdtemp(prefix="tern-bench-arc-")
    print("| scenario | messages | retain | release | bridgeObjectRetain | bridgeObjectRelease | allocObject | "
          "all |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, arguments in SCENARIOS:
        if only not in name:
            continue
        result = count(binary, directory, events, arguments)
        per_message = [result.get(function, 0.0) for function in FUNCTIONS]
        lost = f" ({result['lost']} lost)" if result["lost"] else ""
        print(f"| {name} | {result['received']}{lost} | "
              + " | ".join(f"{value:.2f}" for value in per_message)
              + f" | {sum(per_message[:4]):.2f} |", flush=True)
    shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
