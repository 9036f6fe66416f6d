"""`tern pub` and `tern sub` next to `mosquitto_pub` and `mosquitto_sub`: the same flags against the same broker
(Debian's mosquitto and Tern) must print the same output and exit with the same status."""
import json
import subprocess

import pytest

from conftest import MosquittoBroker, find_free_port
from tern_broker import run_tern, tern_binary

BROKERS = ["reference_broker", "tern"]
TIMEOUT = 20


def tern(tool: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return run_tern(tool, *args, stdin=stdin, timeout=TIMEOUT)


def mosquitto(tool: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([f"mosquitto_{tool}", *args], input=stdin, capture_output=True, timeout=TIMEOUT)


def both(tool: str, *args: str, stdin: bytes | None = None):
    return tern(tool, *args, stdin=stdin), mosquitto(tool, *args, stdin=stdin)


@pytest.fixture(params=BROKERS)
def broker(request):
    return request.getfixturevalue(request.param)


def port_args(broker) -> list[str]:
    return ["-h", "127.0.0.1", "-p", str(broker.port)]


@pytest.mark.parametrize("flags", [
    [],
    ["-v"],
    ["-v", "-N"],
    ["-F", "%t|%p|%q|%r|%l|%x|%X|%%"],
    ["-F", "@@ %t\\t%p\\n--"],
    ["-V", "mqttv5", "-v"],
])
def test_sub_prints_a_retained_message_like_mosquitto_sub(broker, flags):
    base = port_args(broker)
    published = mosquitto("pub", *base, "-t", "cli/out/a", "-m", 'hello "world"', "-r", "-q", "1")
    assert published.returncode == 0, published.stderr
    ours, theirs = both("sub", *base, "-t", "cli/out/#", "-C", "1", *flags)
    assert (ours.returncode, theirs.returncode) == (0, 0), (ours.stderr, theirs.stderr)
    assert ours.stdout == theirs.stdout


def test_sub_json_format_matches_apart_from_the_timestamp(broker):
    base = port_args(broker)
    mosquitto("pub", *base, "-t", "cli/json", "-m", 'a "quoted"\tline', "-r")
    ours, theirs = both("sub", *base, "-t", "cli/json", "-C", "1", "-F", "%j")
    ours_json, theirs_json = json.loads(ours.stdout), json.loads(theirs.stdout)
    assert ours_json.pop("tst")[:10] == theirs_json.pop("tst")[:10]
    assert ours_json == theirs_json


@pytest.mark.parametrize("flags", [
    ["-m", "plain", "-q", "0"],
    ["-m", "at least once", "-q", "1"],
    ["-m", "exactly once", "-q", "2", "-V", "mqttv5"],
    ["-l", "-q", "1"],
    ["-s", "-q", "2"],
])
def test_pub_delivers_what_mosquitto_pub_delivers(broker, flags):
    # Retained, so that a subscriber started afterwards receives it: no race with its SUBSCRIBE.
    base = port_args(broker)
    stdin = b"line one\nline two\n" if ("-l" in flags or "-s" in flags) else None
    outputs = []
    for publish in (tern, mosquitto):
        result = publish("pub", *base, "-t", "cli/pub", "-r", *flags, stdin=stdin)
        assert result.returncode == 0, result.stderr
        got = mosquitto("sub", *base, "-t", "cli/pub", "-C", "1", "-F", "%t %q %r %l %p")
        assert got.returncode == 0, got.stderr
        outputs.append(got.stdout)
        mosquitto("pub", *base, "-t", "cli/pub", "-r", "-n")
    assert outputs[0] == outputs[1]


def test_null_message_clears_a_retained_message(broker):
    base = port_args(broker)
    mosquitto("pub", *base, "-t", "cli/null", "-m", "kept", "-r")
    assert tern("pub", *base, "-t", "cli/null", "-n", "-r").returncode == 0
    got = mosquitto("sub", *base, "-t", "cli/null", "-W", "1")
    assert (got.returncode, got.stdout) == (27, b"")


def test_exit_code_when_the_broker_cannot_be_reached():
    port = str(find_free_port())
    for tool, extra in (("pub", ["-m", "x"]), ("sub", [])):
        ours, theirs = both(tool, "-h", "127.0.0.1", "-p", port, "-t", "t", *extra)
        assert ours.returncode == theirs.returncode == 1
        assert b"refused" in ours.stderr.lower()


@pytest.mark.parametrize("tool,args", [
    ("pub", ["-t", "t"]),
    ("pub", ["-m", "x"]),
    ("pub", ["-t", "a/+", "-m", "x"]),
    ("pub", ["-t", "t", "-m", "x", "-q", "3"]),
    ("sub", []),
    ("sub", ["-t"]),
    ("sub", ["-t", "a/#/b"]),
    ("sub", ["-t", "a", "-D", "subscribe", "no-such-property", "1", "-V", "mqttv5"]),
])
def test_bad_arguments_exit_with_status_1_and_a_usage_hint(tool, args):
    ours, theirs = both(tool, "-p", str(find_free_port()), *args)
    assert ours.returncode == theirs.returncode == 1, (ours.stderr, theirs.stderr)
    assert ours.stderr.startswith(b"Error: ")
    assert b"--help" in ours.stderr


def test_wait_timeout_exits_27(broker):
    ours, theirs = both("sub", *port_args(broker), "-t", "cli/silence", "-W", "1")
    assert ours.returncode == theirs.returncode == 27
    assert b"Timed out" in ours.stderr


@pytest.mark.parametrize("version,expected", [("mqttv311", 5), ("mqttv5", 135)])
def test_refused_connection_exits_with_the_connack_code(version, expected):
    with MosquittoBroker(extra_config="allow_anonymous false") as broker:
        for tool, extra in (("pub", ["-m", "x"]), ("sub", [])):
            ours, theirs = both(tool, *port_args(broker), "-t", "t", "-V", version, *extra)
            assert ours.returncode == theirs.returncode == expected, (ours.stderr, theirs.stderr)
            assert ours.stderr.splitlines()[0] == theirs.stderr.splitlines()[0]


def test_filter_out_retained_only_and_no_stale(broker):
    base = port_args(broker)
    mosquitto("pub", *base, "-t", "cli/f/keep", "-m", "k", "-r")
    mosquitto("pub", *base, "-t", "cli/f/drop", "-m", "d", "-r")
    for flags in (["-T", "cli/f/drop", "-C", "1", "-v"], ["--retained-only", "-v", "-W", "5"],
                  ["-R", "-W", "1"], ["-E"]):
        ours, theirs = both("sub", *base, "-t", "cli/f/#", *flags)
        assert ours.returncode == theirs.returncode, (flags, ours.stderr, theirs.stderr)
        assert sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines()), flags


def test_url_form(broker):
    url = f"mqtt://127.0.0.1:{broker.port}/cli/url"
    assert tern("pub", "-L", url, "-m", "via url", "-r").returncode == 0
    got = mosquitto("sub", *port_args(broker), "-t", "cli/url", "-C", "1")
    assert got.stdout == b"via url\n"
    ours = tern("sub", "-L", url, "-C", "1")
    assert ours.stdout == b"via url\n"


def test_will_and_v5_properties_reach_mosquitto_sub(broker):
    base = port_args(broker)
    result = tern("pub", *base, "-t", "cli/props", "-m", "p", "-r", "-V", "mqttv5", "-D", "publish",
                  "content-type", "text/x", "-D", "publish", "user-property", "k", "v")
    assert result.returncode == 0, result.stderr
    got = mosquitto("sub", *base, "-t", "cli/props", "-C", "1", "-V", "mqttv5", "-F", "%t %p")
    assert got.stdout == b"cli/props p\n"
