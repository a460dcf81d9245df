"""`make serve` previews VAULT_SITE_DIR on 127.0.0.1:8000, or says to run `make run` first."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SERVE_PORT = 8000  # fixed in the Makefile


def make_serve(site_dir: Path, **popen_args: object) -> subprocess.Popen:
    return subprocess.Popen(["make", "--no-print-directory", "serve"], cwd=PROJECT_ROOT,
                            env=os.environ | {"VAULT_SITE_DIR": str(site_dir)}, text=True, **popen_args)


def test_without_a_site_it_says_to_run_make_run_first(tmp_path: Path) -> None:
    process = make_serve(tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode != 0
    assert f"no site at {tmp_path}/index.html: run 'make run' first" in stderr


def test_it_serves_the_site_dir_on_loopback(tmp_path: Path) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", SERVE_PORT)) == 0:
            pytest.skip(f"port {SERVE_PORT} is already in use on this machine")
    (tmp_path / "index.html").write_text("<!doctype html><title>preview</title>")
    # its own session, so that stopping it stops make and the http.server it started
    process = make_serve(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with opener.open(f"http://127.0.0.1:{SERVE_PORT}/index.html", timeout=2) as response:
                    body = response.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    assert "<title>preview</title>" in body
