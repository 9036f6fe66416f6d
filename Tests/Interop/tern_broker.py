"""Starts the `tern` binary for interoperability tests and waits until it listens."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tern_binary() -> Path:
    explicit = os.environ.get("TERN_BINARY")
    if explicit:
        return Path(explicit)
    for configuration in ("debug", "release"):
        candidate = ROOT / ".build" / configuration / "tern"
        if candidate.exists():
            return candidate
    raise RuntimeError("tern binary not found: run `swift build --product tern` first or set TERN_BINARY")


class TernBroker:
    """A `tern serve -p 0` process; `port` is read from its `listening on 127.0.0.1:PORT` log line."""

    def __init__(self, *args: str, deadline: float = 20.0):
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tern-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w+")
        self.process = subprocess.Popen(
            [str(tern_binary()), "serve", "-p", "0", *args],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.host = "127.0.0.1"
        self.port = None
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", self.output())
            if match:
                self.port = int(match.group(1))
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"tern did not start listening:\n{self.output()}")

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, deadline: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(deadline)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode
