"""`tern serve` as init scripts run it: `pid_file`, and `-d` (in the background, detached from the terminal), each
checked on Tern and on Debian's mosquitto doing the same (`mosquitto -d`), so that a script written for one works
with the other."""
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

import raw_mqtt as raw
from conftest import find_free_port, mosquitto_binary
from mqtt_helpers import wait_until
from tern_broker import tern_binary

BROKERS = ["tern", "mosquitto"]


def command(broker: str, config: Path, *flags: str) -> list[str]:
    binary = [str(tern_binary()), "serve"] if broker == "tern" else [mosquitto_binary()]
    return [*binary, *flags, "-c", str(config)]


@pytest.fixture
def run_directory():
    """The pid file's directory: writable by every user, outside pytest's private temporary directories, as
    mosquitto started by root writes it after switching to the `mosquitto` user."""
    directory = Path(tempfile.mkdtemp(prefix="tern-run-"))
    directory.chmod(0o777)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def configure(tmp_path: Path, pid_path: Path) -> tuple[Path, int]:
    """A configuration with one loopback listener and `pid_file`."""
    port = find_free_port()
    config = tmp_path / "broker.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npid_file {pid_path}\n")
    return config, port


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state, parent, process group, session, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def running(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie that nobody reaped counts as exited)."""
    try:
        return stat_fields(pid)[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def accepts_clients(port: int) -> bool:
    try:
        connection, connack = raw.open_session("127.0.0.1", port, "pid-file-check")
    except OSError:
        return False
    connection.close()
    return connack.reason == 0


@pytest.mark.parametrize("broker", BROKERS)
def test_pid_file_holds_the_broker_while_it_runs(broker, tmp_path, run_directory):
    pid_path = run_directory / "broker.pid"
    config, port = configure(tmp_path, pid_path)
    process = subprocess.Popen(command(broker, config), cwd=tmp_path, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: accepts_clients(port))
        assert int(pid_path.read_text()) == process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    assert not pid_path.exists()


@pytest.mark.parametrize("broker", BROKERS)
def test_daemon_runs_detached_and_is_found_through_its_pid_file(broker, tmp_path, run_directory):
    """`-d` returns at once with status 0; the broker goes on in a session of its own (no controlling terminal)
    with its standard input and output on /dev/null, writes its pid file, and removes it when stopped."""
    pid_path = run_directory / "broker.pid"
    config, port = configure(tmp_path, pid_path)
    started = subprocess.run(command(broker, config, "-d"), cwd=tmp_path, capture_output=True, timeout=10)
    assert started.returncode == 0, started.stderr
    assert wait_until(lambda: pid_path.exists() and pid_path.read_text().strip() != "")
    pid = int(pid_path.read_text())
    try:
        assert running(pid)
        assert int(stat_fields(pid)[3]) == pid  # its own session
        assert [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in (0, 1, 2)] == ["/dev/null"] * 3
        assert wait_until(lambda: accepts_clients(port))
    finally:
        os.kill(pid, signal.SIGTERM)
    assert wait_until(lambda: not running(pid))
    assert not pid_path.exists()


@pytest.mark.parametrize("broker", BROKERS)
def test_a_pid_file_that_cannot_be_written_stops_the_broker(broker, tmp_path):
    config, _ = configure(tmp_path, tmp_path / "missing" / "broker.pid")
    result = subprocess.run(command(broker, config), cwd=tmp_path, capture_output=True, text=True, timeout=10)
    assert result.returncode == 1
    if broker == "tern":
        assert f"cannot write pid_file {tmp_path}/missing/broker.pid: No such file or directory" in result.stderr
