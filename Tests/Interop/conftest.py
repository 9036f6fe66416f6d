"""Shared fixtures for the interoperability tests.

- ``free_port``: a TCP port on 127.0.0.1 that nothing listens on (``find_free_port()`` outside fixtures).
- ``reference_broker``: a Debian ``mosquitto`` broker on a free port, started for the test and stopped after it;
  ``MosquittoBroker`` is the same as a class (for a test that needs several brokers or extra config lines).
- ``wait_for_port(host, port, deadline)``: connects until something accepts, or raises at the deadline.
- ``tern``: a running ``tern serve -p 0`` (``tern_broker.TernBroker``) for the test; stopping it must exit 0.

A broker object has ``host`` and ``port`` (as ``tern_broker.TernBroker`` does), so a test written against the
reference broker can be pointed at Tern by swapping the fixture.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tern_broker import TernBroker


# Ports already handed out by this process: a port probed free is free again at once, so two probes in a row (one
# per listener of a broker) could return the same one.
_handed_out: set[int] = set()


def find_free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out for `host` and that is closed again, never one this process handed out
    before (another process may still take it before it is used: callers that bind it themselves retry on
    EADDRINUSE, as MosquittoBroker does)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def wait_for_port(host: str, port: int, deadline: float = 10.0, process: subprocess.Popen | None = None) -> None:
    """Returns as soon as a TCP connection to host:port succeeds; raises TimeoutError after `deadline` seconds, or
    RuntimeError at once if `process` (the server expected to listen) has exited."""
    end = time.monotonic() + deadline
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before listening on {host}:{port}")
        if time.monotonic() >= end:
            raise TimeoutError(f"nothing accepted connections on {host}:{port} within {deadline} s")
        time.sleep(0.01)


def mosquitto_binary() -> str | None:
    explicit = os.environ.get("MOSQUITTO_BINARY")
    if explicit:
        return explicit
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)), None)


class MosquittoBroker:
    """The Debian `mosquitto` broker on 127.0.0.1 and a free port, with a generated minimal config.

    Use as a context manager or call start()/stop(). `output()` returns the broker's log (every log type).
    """

    def __init__(self, extra_config: str = "", start_deadline: float = 10.0):
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.extra_config = extra_config
        self.start_deadline = start_deadline
        self.process: subprocess.Popen | None = None
        self.directory = Path(tempfile.mkdtemp(prefix="tern-mosquitto-"))
        self.log_path = self.directory / "mosquitto.log"
        self._log = None

    def start(self, attempts: int = 5) -> "MosquittoBroker":
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto not found: install the Debian package `mosquitto` (scripts/test does)")
        for _ in range(attempts):
            port = find_free_port(self.host)
            config = self.directory / "mosquitto.conf"
            config.write_text(
                f"listener {port} {self.host}\n"
                "allow_anonymous true\n"
                "log_dest stderr\n"
                "log_type all\n"
                f"{self.extra_config}\n")
            self._log = open(self.log_path, "a+")
            self._log.write(f"--- mosquitto -c {config} (port {port})\n")
            self._log.flush()
            # The log goes to a file descriptor opened here, so it is still writable after mosquitto, started as
            # root, switches to the `mosquitto` user.
            self.process = subprocess.Popen([binary, "-c", str(config)], stdin=subprocess.DEVNULL,
                                            stdout=self._log, stderr=subprocess.STDOUT)
            try:
                wait_for_port(self.host, port, self.start_deadline, self.process)
                self.port = port
                return self
            except RuntimeError:
                self._log.close()
                if "Address already in use" in self.output():
                    continue  # another process took the port between find_free_port and mosquitto's bind
                raise RuntimeError(f"mosquitto did not start:\n{self.output()}")
            except TimeoutError:
                self.stop()
                raise RuntimeError(f"mosquitto did not accept connections within {self.start_deadline} s:\n"
                                   f"{self.output()}")
        raise RuntimeError(f"mosquitto found no free port in {attempts} attempts:\n{self.output()}")

    def output(self) -> str:
        if self._log is not None and not self._log.closed:
            self._log.flush()
        return self.log_path.read_text() if self.log_path.exists() else ""

    def stop(self, deadline: float = 10.0) -> int | None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(deadline)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None and not self._log.closed:
            self._log.close()
        return self.process.returncode if self.process is not None else None

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> "MosquittoBroker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self.cleanup()


@pytest.fixture
def free_port() -> int:
    return find_free_port()


@pytest.fixture
def reference_broker():
    """A running Debian mosquitto broker (MosquittoBroker) for this test; a failing test's report shows its log."""
    broker = MosquittoBroker().start()
    yield broker
    broker.stop()
    broker.cleanup()


@pytest.fixture
def tern():
    """A running Tern broker (TernBroker) for this test; a failing test's report shows its log, and the test fails
    if the broker does not exit with status 0 on SIGTERM."""
    broker = TernBroker()
    yield broker
    code = broker.stop()
    assert code == 0, f"tern exited with status {code}:\n{broker.output()}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Adds the log of every broker the test used to the report of a failed test.
    report = yield
    if report.failed and report.when == "call":
        for name, value in getattr(item, "funcargs", {}).items():
            output = getattr(value, "output", None)
            if callable(output):
                try:
                    report.sections.append((f"{name} log", output()))
                except Exception as error:  # the log is a help, never a second failure
                    report.sections.append((f"{name} log", f"(unreadable: {error})"))
    return report
