"""What the conformance tests (test_conformance_v311.py, test_conformance_v5.py) share: the `broker` fixture, which
runs each test once against Tern and once against Debian's mosquitto, and the `on_brokers` decorator that
parametrizes it, with a strict xfail for a broker known to depart from the specification in that scenario.

    @on_brokers(mosquitto="mosquitto: sends X, spec says Y")
    @pytest.mark.broker_config("max_keepalive 10")
    def test_something(broker): ...

A case of a further parametrization that one broker fails is marked with `xfail_on(broker name, reason)`:

    pytest.param(data, id="case", marks=pytest.mark.xfail_on("mosquitto", "mosquitto: ..."))

`broker_config` lines go into both brokers' configuration files (Tern reads mosquitto.conf syntax, so the same
lines work for both; with no listener line Tern listens on the loopback addresses and lets anonymous clients in,
and the mosquitto fixture adds its own listener and `allow_anonymous true`).
"""
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import MosquittoBroker
from tern_broker import TernBroker

def on_brokers(tern: str | None = None, mosquitto: str | None = None):
    """Parametrizes the `broker` fixture over Tern and mosquitto; a reason given for one marks that run as a
    strict xfail (it must fail, so a fix is noticed)."""
    params = []
    for name, reason in (("tern", tern), ("mosquitto", mosquitto)):
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(name, id=name, marks=marks))
    return pytest.mark.parametrize("broker", params, indirect=True)


class ConfiguredTern(TernBroker):
    """`tern serve -p 0 -c FILE` with the given configuration lines, FILE in `directory` (no file when there are
    no lines)."""

    def __init__(self, config: str, directory: Path):
        arguments = []
        if config:
            path = directory / "tern.conf"
            path.write_text(config + "\n")
            arguments = ["-c", str(path)]
        super().__init__(*arguments)


def broker_config(marker, broker_name: str, directory: Path) -> str:
    """The configuration text for broker `broker_name` of a `broker_config(*lines, files={name: text},
    tern=[lines], mosquitto=[lines])` marker: the common lines, then the broker's own (for settings the two name
    differently); each file is written to `directory` and `{name}` in the lines is replaced by its path."""
    if marker is None:
        return ""
    lines = list(marker.args) + list(marker.kwargs.get(broker_name, []))
    paths = {}
    for file_name, text in marker.kwargs.get("files", {}).items():
        path = directory / file_name
        path.write_text(text)
        path.chmod(0o644)
        paths[file_name] = str(path)
    return "\n".join(line.format(**paths) for line in lines)


@pytest.fixture
def broker(request):
    """A running broker (Tern or mosquitto, per the test's parameter) with the test's `broker_config` lines; it
    has `name`, `host`, `port` and `output()`. Tern must exit with status 0 when stopped."""
    for marker in request.node.iter_markers("xfail_on"):
        name, reason = marker.args
        if name == request.param:
            request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    # Readable by the `mosquitto` user a root-started mosquitto switches to.
    directory = Path(tempfile.mkdtemp(prefix="conformance-"))
    directory.chmod(0o755)
    config = broker_config(request.node.get_closest_marker("broker_config"), request.param, directory)
    try:
        if request.param == "tern":
            running = ConfiguredTern(config, directory)
            running.name = "tern"
            yield running
            code = running.stop()
            assert code == 0, f"tern exited with status {code}:\n{running.output()}"
        else:
            running = MosquittoBroker(extra_config=config).start()
            running.name = "mosquitto"
            yield running
            running.stop()
            running.cleanup()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
