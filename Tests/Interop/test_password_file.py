"""Password files written by `tern passwd` work in Debian's mosquitto, and `tern passwd` behaves as mosquitto_passwd.

- A file written by `tern passwd` ($7$ PBKDF2-SHA512 by default, $6$ SHA-512 with -H sha512, from -b, from a
  password piped on stdin, or hashed by -U from plain text) is loaded by mosquitto with `allow_anonymous false`:
  the right password connects (paho-mqtt 2.x over 3.1.1 and 5.0, and mosquitto_pub), a wrong password or an
  unknown user is refused (CONNACK 5 in 3.1.1, 0x86 Bad User Name or Password / 0x87 Not Authorized in 5.0).
- `tern passwd` edits a file made by mosquitto_passwd without breaking it for mosquitto.
- For the same command lines, `tern passwd` exits with mosquitto_passwd's status and prints its error message.

Files written by mosquitto_passwd are checked against Tern's verifier in the Swift unit tests
(Tests/TernServerTests/Security); the broker-level test (tern serve with password_file) comes with the
configuration file support.

The binary is `TERN_BINARY` or the package's .build/debug/tern (see tern_broker.tern_binary); every test here is
skipped, with the reason, when it is missing or has no `passwd` subcommand yet.
"""
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from conftest import MosquittoBroker
from tern_broker import tern_binary

DEADLINE = 10.0
PROTOCOLS = [pytest.param(mqtt.MQTTv311, id="v3.1.1"), pytest.param(mqtt.MQTTv5, id="v5")]
# 3.1.1: 4 Bad User Name or Password, 5 Not Authorized. 5.0: 0x86, 0x87. Mosquitto 2.0.11 answers 5 and 0x87.
REFUSED = {mqtt.MQTTv311: {4, 5}, mqtt.MQTTv5: {0x86, 0x87}}


def _tern_passwd_binary() -> str:
    try:
        binary = tern_binary()
    except RuntimeError as error:
        pytest.skip(str(error))
    if not binary.exists():
        pytest.skip(f"tern binary {binary} not found: run `swift build --product tern` or set TERN_BINARY")
    # A tern without the subcommand answers `tern passwd --help` with its own help (and status 0).
    probe = subprocess.run([str(binary), "passwd", "--help"], capture_output=True, timeout=DEADLINE)
    if probe.returncode != 0 or b"tern passwd" not in probe.stdout:
        pytest.skip(f"{binary} has no `passwd` subcommand yet")
    return str(binary)


@pytest.fixture(scope="module")
def tern() -> str:
    return _tern_passwd_binary()


def tern_passwd(tern: str, *args: str, stdin: bytes = b"", cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([tern, "passwd", *args], input=stdin, capture_output=True, timeout=60, cwd=cwd)


def mosquitto_passwd(*args: str, stdin: bytes = b"", cwd=None) -> subprocess.CompletedProcess:
    binary = shutil.which("mosquitto_passwd")
    if binary is None:
        pytest.skip("mosquitto_passwd not found: install the Debian package `mosquitto` (scripts/test does)")
    return subprocess.run([binary, *args], input=stdin, capture_output=True, timeout=60, cwd=cwd)


class PasswordBroker:
    """Debian's mosquitto with `password_file` and `allow_anonymous false`; the file lives in the broker's directory.

    mosquitto started as root reads the password file after switching to the `mosquitto` user, and `tern passwd`
    creates files with mode 0600 (as current mosquitto_passwd does), so the directory and file are opened up here.
    """

    def __init__(self):
        self.broker = MosquittoBroker()
        self.path = self.broker.directory / "passwd"

    def start(self) -> MosquittoBroker:
        os.chmod(self.broker.directory, 0o755)
        os.chmod(self.path, 0o644)
        # The generated config says `allow_anonymous true`; the later line wins.
        self.broker.extra_config = f"password_file {self.path}\nallow_anonymous false\n"
        return self.broker.start()

    def stop(self):
        self.broker.stop()
        self.broker.cleanup()


@pytest.fixture
def password_broker():
    broker = PasswordBroker()
    yield broker
    broker.stop()


def connack(broker, username, password, protocol) -> int:
    """Connects with these credentials and returns the CONNACK's reason code (a 3.1.1 return code for 3.1.1)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=protocol)
    if username is not None:
        client.username_pw_set(username, password)
    done = threading.Event()
    result = {}

    def on_connect(client, userdata, flags, reason_code, properties):
        result["code"] = reason_code
        done.set()

    client.on_connect = on_connect
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    try:
        assert done.wait(DEADLINE), f"no CONNACK within {DEADLINE} s"
    finally:
        client.disconnect()
        client.loop_stop()
    code = result["code"]
    if protocol == mqtt.MQTTv311:
        # paho maps 3.1.1 return codes onto reason codes; the packet's byte is what mosquitto sent.
        return {0: 0, 0x84: 1, 0x85: 2, 0x88: 3, 0x86: 4, 0x87: 5}.get(code.value, code.value)
    return code.value


def assert_accepts(broker, username, password):
    for protocol in (mqtt.MQTTv311, mqtt.MQTTv5):
        assert connack(broker, username, password, protocol) == 0, f"{username} refused over {protocol}"


def assert_refuses(broker, username, password):
    for protocol in (mqtt.MQTTv311, mqtt.MQTTv5):
        code = connack(broker, username, password, protocol)
        assert code in REFUSED[protocol], f"{username}/{password!r} over {protocol}: CONNACK {code}"


def mosquitto_pub(broker, username, password) -> int:
    return subprocess.run(
        ["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-u", username, "-P", password,
         "-t", "tern/test", "-m", "x"], capture_output=True, timeout=DEADLINE * 2).returncode


def test_file_written_by_tern_passwd_is_accepted_by_mosquitto(tern, password_broker):
    path = str(password_broker.path)
    result = tern_passwd(tern, "-c", "-b", path, "alice", "s3cret wörd")
    assert result.returncode == 0, result.stderr
    assert tern_passwd(tern, "-b", path, "bob", "hunter2").returncode == 0
    assert tern_passwd(tern, "-H", "sha512", "-b", path, "carol", "legacy").returncode == 0
    assert tern_passwd(tern, "-I", "2000", "-b", path, "dave", "slow").returncode == 0
    lines = password_broker.path.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["alice", "bob", "carol", "dave"]
    assert lines[0].startswith("alice:$7$101$") and lines[2].startswith("carol:$6$")
    assert lines[3].startswith("dave:$7$2000$")
    broker = password_broker.start()

    assert_accepts(broker, "alice", "s3cret wörd")
    assert_accepts(broker, "bob", "hunter2")
    assert_accepts(broker, "carol", "legacy")
    assert_accepts(broker, "dave", "slow")
    assert_refuses(broker, "alice", "s3cret word")
    assert_refuses(broker, "bob", "Hunter2")
    assert_refuses(broker, "carol", "")
    assert_refuses(broker, "mallory", "hunter2")
    assert mosquitto_pub(broker, "bob", "hunter2") == 0
    assert mosquitto_pub(broker, "bob", "wrong") == 5  # mosquitto_pub exits with the CONNACK code
    assert "Error" not in broker.output().replace("Error: The connection was refused", "")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wrong_password_and_unknown_user_get_mosquittos_refusal(tern, password_broker, protocol):
    assert tern_passwd(tern, "-c", "-b", str(password_broker.path), "alice", "secret").returncode == 0
    broker = password_broker.start()
    assert connack(broker, "alice", "secret", protocol) == 0
    wrong = connack(broker, "alice", "wrong", protocol)
    unknown = connack(broker, "nobody", "secret", protocol)
    anonymous = connack(broker, None, None, protocol)
    assert wrong in REFUSED[protocol]
    assert unknown == wrong, "an unknown user must be refused exactly as a wrong password is"
    assert anonymous in REFUSED[protocol]


def test_password_typed_on_stdin(tern, password_broker):
    path = str(password_broker.path)
    created = tern_passwd(tern, "-c", path, "alice", stdin=b"first pw\nfirst pw\n")
    assert created.returncode == 0, created.stderr
    assert created.stdout == b"Password: \nReenter password: \n"
    changed = tern_passwd(tern, path, "alice", stdin=b"second pw\nsecond pw\n")
    assert changed.returncode == 0, changed.stderr
    mismatch = tern_passwd(tern, path, "alice", stdin=b"third\nfourth\n")
    assert (mismatch.returncode, mismatch.stderr) == (2, b"Error: Passwords do not match.\n")
    broker = password_broker.start()
    assert_accepts(broker, "alice", "second pw")
    assert_refuses(broker, "alice", "first pw")
    assert_refuses(broker, "alice", "third")


def test_tern_passwd_edits_a_mosquitto_passwd_file(tern, password_broker):
    path = str(password_broker.path)
    assert mosquitto_passwd("-c", "-b", path, "alice", "alice-pw").returncode == 0
    assert mosquitto_passwd("-b", path, "bob", "bob-pw").returncode == 0
    assert mosquitto_passwd("-H", "sha512", "-b", path, "carol", "carol-pw").returncode == 0
    before = password_broker.path.read_text().splitlines()

    assert tern_passwd(tern, "-b", path, "dave", "dave-pw").returncode == 0
    assert tern_passwd(tern, "-b", path, "alice", "new-alice-pw").returncode == 0
    deleted = tern_passwd(tern, "-D", path, "bob")
    assert deleted.returncode == 0, deleted.stderr
    after = password_broker.path.read_text().splitlines()
    assert [line.split(":")[0] for line in after] == ["alice", "carol", "dave"]
    assert after[1] == before[2], "a line tern passwd did not edit is kept byte for byte"

    broker = password_broker.start()
    assert_accepts(broker, "alice", "new-alice-pw")
    assert_refuses(broker, "alice", "alice-pw")
    assert_refuses(broker, "bob", "bob-pw")
    assert_accepts(broker, "carol", "carol-pw")
    assert_accepts(broker, "dave", "dave-pw")


def test_plain_text_file_upgraded_by_tern_passwd(tern, password_broker):
    password_broker.path.write_text("# users\nalice:alice-pw\n\n  bob : bob pw \n")
    upgraded = tern_passwd(tern, "-U", str(password_broker.path))
    assert upgraded.returncode == 0, upgraded.stderr
    text = password_broker.path.read_text()
    assert text.startswith("# users\nalice:$7$101$")
    # Running it again leaves the hashes alone (mosquitto_passwd -U would hash the hashes).
    assert tern_passwd(tern, "-U", str(password_broker.path)).returncode == 0
    assert password_broker.path.read_text() == text
    broker = password_broker.start()
    assert_accepts(broker, "alice", "alice-pw")
    assert_accepts(broker, "bob", "bob pw")
    assert_refuses(broker, "alice", "bob pw")


HASHED = "alice:$7$101$RVujpgAaLiBkQNoA$zEGeouWvHGR2MSPtBzTEDaFZzac684zIvz5c+XsNJ/l1hX2txHYljuzoamf+j+UrMrGrGNUartzw3zqH9UDAfA==\n"

# (file contents before, or None for no file; arguments with F for the file; stdin)
SAME_AS_MOSQUITTO_PASSWD = [
    pytest.param(None, ["-c", "-b", "F", "u", "p"], b"", id="create"),
    pytest.param(None, ["-b", "F", "u", "p"], b"", id="missing-file"),
    pytest.param(None, ["-D", "F", "u"], b"", id="delete-missing-file"),
    pytest.param(HASHED, ["-D", "F", "nobody"], b"", id="delete-unknown-user"),
    pytest.param(HASHED, ["-D", "F", "alice"], b"", id="delete"),
    pytest.param(HASHED, ["-c", "-D", "F", "u"], b"", id="c-and-D"),
    pytest.param(HASHED, ["-c", "-U", "F"], b"", id="c-and-U"),
    pytest.param(HASHED, ["-D", "-U", "F"], b"", id="D-and-U"),
    pytest.param(HASHED, ["-b", "-D", "F", "u"], b"", id="b-and-D"),
    pytest.param(None, ["-c", "F"], b"", id="c-without-user"),
    pytest.param(None, ["-c", "-b", "F", "u"], b"", id="c-b-without-password"),
    pytest.param(HASHED, ["-D", "F"], b"", id="D-without-user"),
    pytest.param(None, ["-U"], b"", id="U-without-file"),
    pytest.param(HASHED, ["-H", "md5", "-b", "F", "u", "p"], b"", id="unknown-hash"),
    pytest.param(HASHED, ["-I", "0", "-b", "F", "u", "p"], b"", id="zero-iterations"),
    pytest.param(HASHED, ["-b", "F", "us:er", "p"], b"", id="colon-in-user"),
    pytest.param(HASHED, ["-b", "F", "us\ter", "p"], b"", id="control-in-user"),
    pytest.param(HASHED, ["-b", "F", "u", "p" * 65536], b"", id="password-too-long"),
    pytest.param(HASHED, ["F", "eve"], b"a\nb\n", id="passwords-differ"),
    pytest.param(HASHED, ["F", "eve"], b"a\na\n", id="passwords-typed"),
    pytest.param(HASHED, ["F", "eve"], b"a\n", id="second-password-missing"),
    pytest.param(HASHED, ["F", "eve"], b"\n\n", id="empty-password"),
    pytest.param(HASHED, ["F", "eve"], b"", id="no-input"),
    pytest.param(None, ["F", "eve"], b"a\na\n", id="prompt-missing-file"),
    pytest.param("alice:secret\nbob:pw\n", ["-U", "F"], b"", id="upgrade"),
]


@pytest.mark.parametrize("initial, arguments, stdin", SAME_AS_MOSQUITTO_PASSWD)
def test_same_exit_status_and_messages_as_mosquitto_passwd(tern, initial, arguments, stdin):
    results = []
    for run in (lambda *a: mosquitto_passwd(*a, stdin=stdin, cwd=directory),
                lambda *a: tern_passwd(tern, *a, stdin=stdin, cwd=directory)):
        directory = tempfile.mkdtemp(prefix="tern-passwd-")
        try:
            if initial is not None:
                Path(directory, "F").write_text(initial)
            result = run(*arguments)
            path = Path(directory, "F")
            users = [line.split(":")[0] for line in path.read_text().splitlines()] if path.exists() else None
            results.append((result.returncode, result.stdout, result.stderr, users))
        finally:
            shutil.rmtree(directory)
    assert results[1] == results[0], "tern passwd (second) differs from mosquitto_passwd (first)"


def test_corrupt_file_is_left_alone(tern, tmp_path):
    # mosquitto_passwd 2.0 reports the line and then writes a file with only the new user; tern passwd stops.
    path = tmp_path / "passwd"
    path.write_text(HASHED + "this line has no colon\n")
    result = tern_passwd(tern, "-b", str(path), "bob", "pw")
    assert result.returncode == 1
    assert result.stderr.decode().startswith("Error: Corrupt password file at line 2")
    assert path.read_text() == HASHED + "this line has no colon\n"


def test_comments_and_blank_lines_are_kept(tern, tmp_path):
    # mosquitto_passwd 2.0 calls a comment a corrupt line; the broker and tern passwd accept them.
    path = tmp_path / "passwd"
    path.write_text("# site users\n\n" + HASHED)
    assert tern_passwd(tern, "-b", str(path), "bob", "pw").returncode == 0
    lines = path.read_text().splitlines()
    assert lines[:3] == ["# site users", "", HASHED.strip()]
    assert lines[3].startswith("bob:$7$101$")


def test_new_file_is_private_and_existing_mode_is_kept(tern, tmp_path):
    path = tmp_path / "passwd"
    assert tern_passwd(tern, "-c", "-b", str(path), "alice", "pw").returncode == 0
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o640)
    assert tern_passwd(tern, "-b", str(path), "bob", "pw").returncode == 0
    assert path.stat().st_mode & 0o777 == 0o640
