"""A `tern serve -c FILE` with an HTTP listener, for the operations tests: starts it, finds both ports in its log,
and makes HTTP requests with the standard library."""
import base64
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from tern_broker import TernBroker


class HTTPTern(TernBroker):
    """Tern with `settings` (which should contain an `http_listener 0 127.0.0.1` line) written to a file in
    `directory`; `http_port` is read from the `http listening on` log line."""

    def __init__(self, directory: Path, settings: str, deadline: float = 20.0):
        config = directory / "tern.conf"
        config.write_text(settings + "\n")
        self.config = config
        super().__init__("-c", str(config), deadline=deadline)
        end = time.monotonic() + deadline
        self.http_port = None
        while time.monotonic() < end:
            match = re.search(r"http listening on 127\.0\.0\.1:(\d+)", self.output())
            if match:
                self.http_port = int(match.group(1))
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"no http listener:\n{self.output()}")

    def request(self, method: str, path: str, body=None, user=None, password=None, token=None, headers=None):
        """(status, headers, body bytes) of one request; HTTP errors are results, not exceptions."""
        data = None
        all_headers = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if user is not None:
            all_headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if token is not None:
            all_headers["Authorization"] = "Bearer " + token
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method,
                                         headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def json(self, method: str, path: str, **kwargs):
        status, _, body = self.request(method, path, **kwargs)
        return status, (json.loads(body) if body else None)
