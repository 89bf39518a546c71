"""Helpers for tests that run warmflow as its users do: real processes (`warmflow`, `flask
run`, gunicorn) in a working directory of their own, reached over HTTP like a browser or
an API client would. Standard library only."""

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent  # the virtualenv's console scripts (warmflow, flask)
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# Variables a developer's shell (or the test run) may set that `make run` does not.
NOT_IN_MAKE_RUN = ("DATABASE_URL", "WARMFLOW_FILES_DIR", "TEST_DATABASE_URL", "SECRET_KEY")


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: the defaults for paths, keys and database."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_IN_MAKE_RUN}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition: Callable[[], object], seconds: float, step: float = 0.2):
    """Poll until `condition()` is truthy (returned) or the deadline passes (None)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = condition()
        except (OSError, urllib.error.URLError, ConnectionError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(step)


@dataclass
class Process:
    """A background process in its own process group, its output in a log file."""

    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)


def start(command: list, cwd: Path, env: dict[str, str], name: str) -> Process:
    log = cwd / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(  # noqa: S603 - our own command lines
            [str(c) for c in command],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(popen, log)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.body)


@dataclass
class Client:
    """A browser's worth of HTTP: cookies kept, redirects not followed (asserted on)."""

    base: str
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )

    def request(
        self, method: str, path: str, data: bytes | None = None, headers: dict | None = None
    ) -> Answer:
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only
            self.base + path, data=data, method=method, headers={**self.headers, **(headers or {})}
        )
        try:
            with self.opener.open(request, timeout=60) as answer:
                return Answer(answer.status, dict(answer.headers), answer.read())
        except urllib.error.HTTPError as err:
            return Answer(err.code, dict(err.headers), err.read())

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, headers=headers)

    def post_form(self, path: str, form: dict, **headers: str) -> Answer:
        data = urllib.parse.urlencode(form).encode()
        kind = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        return self.request("POST", path, data, kind)

    def post_json(self, path: str, payload: dict, **headers: str) -> Answer:
        kind = {"Content-Type": "application/json", **headers}
        return self.request("POST", path, json.dumps(payload).encode(), kind)

    def post_file(self, path: str, name: str, content: bytes, **headers: str) -> Answer:
        boundary = "warmflowtestboundary7d2f"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        kind = {"Content-Type": f"multipart/form-data; boundary={boundary}", **headers}
        return self.request("POST", path, body, kind)

    def csrf(self, path: str) -> str:
        match = CSRF.search(self.get(path).text)
        assert match, f"no csrf_token on {path}"
        return match.group(1)

    def sign_in(self, username: str, password: str) -> Answer:
        token = self.csrf("/login")
        return self.post_form(
            "/login", {"username": username, "password": password, "csrf_token": token}
        )


def api_token(base: str, username: str, password: str) -> dict[str, str]:
    answer = Client(base).post_json("/api/v1/token", {"username": username, "password": password})
    assert answer.status == 200, answer.text
    return {"Authorization": "Bearer " + answer.json()["token"]}
