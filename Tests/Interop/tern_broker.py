"""Starts the `tern` binary for interoperability tests and waits until it listens."""
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
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


def run_tern(tool: str, *args: str, stdin: bytes | None = None, text: bool = False,
             timeout: float = 30) -> subprocess.CompletedProcess:
    """Runs `tern TOOL ARGS...` to completion, its output captured (bytes, or text with `text`)."""
    return subprocess.run([str(tern_binary()), tool, *args], input=stdin, capture_output=True, text=text,
                          timeout=timeout)


class TernBroker:
    """A `tern serve -p 0` process; `port` is read from its `listening on 127.0.0.1:PORT` log line.

    Each broker keeps its store in a data directory of its own: `data_dir` if given (kept after `stop`, so that
    a test can restart a broker on it), else a fresh temporary one (removed by `stop`). `open_files` (soft, hard)
    starts it under that limit on open files."""

    def __init__(self, *args: str, deadline: float = 20.0, data_dir: str | os.PathLike | None = None,
                 open_files: tuple[int, int] | None = None):
        self.log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"tern-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w+")
        self.temporary_data_dir = None
        if data_dir is None:
            self.temporary_data_dir = tempfile.mkdtemp(prefix="tern-data-")
            data_dir = self.temporary_data_dir
        self.data_dir = Path(data_dir)
        # TERN_TEST_EVENT_LOOPS=N runs every broker of the tests with N event loops (scripts/test does a pass).
        loops = os.environ.get("TERN_TEST_EVENT_LOOPS")
        extra = ["--event-loops", loops] if loops else []
        self.process = subprocess.Popen(
            [str(tern_binary()), "serve", "-p", "0", "--data-dir", str(data_dir), *extra, *args],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, open_files)) if open_files else None)
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
        if self.temporary_data_dir:
            shutil.rmtree(self.temporary_data_dir, ignore_errors=True)
        return self.process.returncode

    def kill(self) -> None:
        """Ends the broker with SIGKILL, as a crash would: nothing is flushed or saved on the way out."""
        self.process.kill()
        self.process.wait()
        if not self.log.closed:
            self.log.flush()
