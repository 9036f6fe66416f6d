#!/usr/bin/env python3
"""The broker's share of the latency at a fixed rate: for each message, the time from the `read` that brought
it to the `write` that forwards it, as the kernel's tracepoints see them in the broker's process.

Runs Tern and Debian's Mosquitto (`set_tcp_nodelay true`) in turn, each pinned to CPU 0, with `tern bench
--scenario latency` (one publisher, one subscriber) on CPU 1, and records `sys_exit_read`, `sys_enter_write`
and `sys_exit_epoll_wait` of the broker with `perf record` (linux-perf; tracepoints need root or
`perf_event_paranoid` at -1). A message's read-to-write time is from the last `read` before a `write` to that
`write`; its wake-to-write time from the `epoll_wait` that returned before them. The end-to-end latency is mostly
the two wake-ups of sleeping threads (the broker's and the subscriber's); this is the part the broker's code
decides, with the cold caches of a process that sleeps between messages.

Usage: scripts/bench path [--runs N] [--rate MSG_PER_S] [--qos Q]
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_broker  # noqa: E402  (broker start-up and pinning shared with the throughput benchmark)


def percentile(values: list[float], share: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * share))]


def trace(pid: int, seconds: float, output: str) -> None:
    events = "syscalls:sys_exit_read,syscalls:sys_enter_write,syscalls:sys_exit_epoll_wait"
    subprocess.run(["perf", "record", "-q", "-e", events, "-p", str(pid), "-o", output, "--", "sleep", str(seconds)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def gaps(data: str) -> tuple[list[float], list[float]]:
    """(read-to-write, wake-to-write) in microseconds, one pair per write that follows a read."""
    script = subprocess.run(["perf", "script", "-i", data, "-F", "time,event"], check=True, capture_output=True,
                            text=True).stdout
    read_to_write, wake_to_write = [], []
    last_read = last_wake = None
    for line in script.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        at, event = float(fields[0].rstrip(":")), fields[1]
        if "exit_epoll_wait" in event:
            last_wake, last_read = at, None
        elif "exit_read" in event:
            last_read = at
        elif "enter_write" in event and last_read is not None and last_wake is not None:
            read_to_write.append((at - last_read) * 1e6)
            wake_to_write.append((at - last_wake) * 1e6)
            last_read = None
    return read_to_write, wake_to_write


def measure(label: str, binary: str, directory: str, rate: str, qos: str) -> dict:
    options = {"nodelay": True}
    if label == "tern":
        process, port = bench_broker.start_tern(binary, directory, options)
    else:
        process, port = bench_broker.start_mosquitto(directory, options)
    try:
        load = subprocess.Popen(bench_broker.pinned(1) + [
            binary, "bench", "--port", str(port), "--scenario", "latency", "--rate", rate, "--qos", qos,
            "--duration", "9", "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # past the connections and the first messages
        data = os.path.join(directory, f"{label}.perf")
        trace(process.pid, 6, data)
        load.wait(timeout=60)
        read_to_write, wake_to_write = gaps(data)
        return {"writes": len(read_to_write),
                "read_to_write_p50_us": percentile(read_to_write, 0.5),
                "read_to_write_p90_us": percentile(read_to_write, 0.9),
                "read_to_write_p99_us": percentile(read_to_write, 0.99),
                "wake_to_write_p50_us": percentile(wake_to_write, 0.5),
                "wake_to_write_p90_us": percentile(wake_to_write, 0.9)}
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> int:
    argv = sys.argv[1:]

    def option(name: str, default: str) -> str:
        return argv[argv.index(name) + 1] if name in argv else default

    runs, rate, qos = int(option("--runs", "3")), option("--rate", "1000"), option("--qos", "0")
    if not shutil.which("perf"):
        print("perf is missing (Debian: apt-get install linux-perf)", file=sys.stderr)
        return 2
    binary = bench_broker.tern_binary(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    directory = tempfile.mkdtemp(prefix="tern-bench-path-")
    results: dict[str, list[dict]] = {"tern": [], "mosquitto": []}
    for _ in range(runs):
        for label in results:  # alternating, so that both see the machine in the same state
            results[label].append(measure(label, binary, directory, rate, qos))
            print(f"{label}: {results[label][-1]}", file=sys.stderr)
    shutil.rmtree(directory, ignore_errors=True)
    print(f"\n{rate} msg/s, QoS {qos}, median of {runs} runs (µs, from perf's system call tracepoints)\n")
    print("| figure | Tern | Mosquitto | Tern/Mosquitto |\n| --- | ---: | ---: | ---: |")
    for figure in results["tern"][0]:
        if figure == "writes":
            continue
        tern, mosquitto = (bench_broker.median([run[figure] for run in results[label]]) for label in results)
        print(f"| {figure} | {tern:.1f} | {mosquitto:.1f} | {tern / mosquitto:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
