"""`make lab` starts a JupyterLab server that answers, also when run as root.

The test runs the Makefile's own `lab` target (not a copy of its command line), with
--no-browser, a free localhost port and a token passed through LAB_ARGS, polls the server's
/api/status until it answers 200, then stops the server. As root, the target must add
--allow-root by itself: without it JupyterLab exits ("Running as root is not recommended").
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (requirements.txt has it)")

ROOT = Path(__file__).resolve().parents[1]
STARTUP_LIMIT_S = 60  # a cold start (extension discovery, first import) takes a few seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(port: int, token: str) -> int | None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_lab_serves_api_status(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    lab_args = (f"--no-browser --ip=127.0.0.1 --port={port} --ServerApp.port_retries=0 "
                f"--IdentityProvider.token={token}")
    env = dict(os.environ)
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR"):
        env[name] = str(tmp_path / name.lower())  # nothing of the user's, nothing left behind
    log = (tmp_path / "lab.log").open("w+")
    # -o .venv/.installed: never (re)build the virtual environment from inside a test;
    # JUPYTER: the jupyter of the interpreter running the tests.
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "lab",
               f"JUPYTER={sys.executable} -m jupyter", f"LAB_ARGS={lab_args}"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)  # its own process group: make, sh, jupyter
    try:
        status, deadline = None, time.monotonic() + STARTUP_LIMIT_S
        while status != 200 and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            status = _status(port, token)
        log.seek(0)
        output = log.read()
        assert status == 200, (
            f"no 200 from /api/status within {STARTUP_LIMIT_S} s (last: {status}; "
            f"exit code {server.poll()}); output:\n{output[-3000:]}")
        assert _status(port, "wrong-" + token) != 200  # the token is enforced
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()
