#!/usr/bin/env python3
"""Instructions the broker core executes per message and per delivery, counted by callgrind (valgrind) in
`BrokerBenchmark --messages N`: every scenario of `scripts/bench core`, a fixed count of messages through
`Broker.receive`, their encoding and the subscribers' acknowledgements, after a warm-up that is not counted.

A count does not move with the machine's load: the same build gives the same figures to a few instructions, so a
change that saves 1% shows as 1% where a rate moves by a tenth from one minute to the next. It counts instructions,
not time: a cache miss costs one instruction here and a hundred cycles in a run. Callgrind cannot read the DWARF 5
that Swift emits by default, so the benchmark is built with DWARF 4 into its own directory (`.build-callgrind`; the
first build takes minutes).

Usage: scripts/bench instructions [--messages N] [SCENARIO_SUBSTRING]
       (N messages per scenario, fan-out N / 100; default 20,000)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRATCH = os.path.join(ROOT, ".build-callgrind")
DWARF4 = ["-Xswiftc", "-dwarf-version=4", "-Xcc", "-gdwarf-4"]
# The function `BrokerBenchmark` runs the counted messages in; callgrind counts only inside it.
COUNTED = "*ScenarioSetup*publishCounted*"


def build() -> str:
    command = ["swift", "build", "-c", "release", "--product", "BrokerBenchmark", "--scratch-path", SCRATCH] + DWARF4
    built = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if built.returncode != 0:
        sys.exit(built.stdout + built.stderr)
    path = subprocess.run(command + ["--show-bin-path"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()
    return os.path.join(path, "BrokerBenchmark")


def scenarios(binary: str, only: str | None) -> list[tuple[str, int, int]]:
    """(name, messages, deliveries) of each scenario, from a run without valgrind (the same counts)."""
    output = subprocess.run([binary, "--messages", str(MESSAGES)] + ([only] if only else []), check=True,
                            capture_output=True, text=True).stdout
    rows = []
    for line in output.splitlines()[2:]:
        name, messages, deliveries = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((name, int(messages), int(deliveries)))
    return rows


def instructions(binary: str, name: str) -> int:
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", f"--toggle-collect={COUNTED}",
                        binary, "--messages", str(MESSAGES), name],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out) as profile:
            for line in profile:
                match = re.match(r"(?:summary|totals):\s+(\d+)", line)
                if match:
                    return int(match.group(1))
    raise RuntimeError(f"no instruction total in callgrind's output for {name}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    MESSAGES = 20_000
    if arguments[:1] == ["--messages"]:
        MESSAGES = int(arguments[1])
        arguments = arguments[2:]
    only = arguments[0] if arguments else None
    if shutil.which("valgrind") is None:
        sys.exit("scripts/bench instructions needs valgrind (Debian package valgrind)")
    binary = build()
    print("| scenario | messages | deliveries | instructions per message | per delivery |")
    print("|---|---:|---:|---:|---:|")
    for name, messages, deliveries in scenarios(binary, only):
        total = instructions(binary, name)
        print(f"| {name} | {messages} | {deliveries} | {total / messages:,.0f} | {total / max(1, deliveries):,.0f} |",
              flush=True)
