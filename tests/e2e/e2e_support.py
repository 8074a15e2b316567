"""Shared helpers of the end-to-end tests (imported by tests/e2e/conftest.py and the tests).
"""

import json
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

ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = Path(__file__).resolve().parent
OUTPUT_DIR = E2E_DIR / "output"          # screenshots and timings (ignored by git)
CHROMIUM = Path(os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium"))   # Debian's, from .ci/install_browser
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def notebooks() -> list:
    """Every notebook of the series, whatever exists when the tests are collected."""
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def require(ok: bool, reason: str) -> None:
    """Fail in CI, skip elsewhere, when something the e2e tests need is missing."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"{reason} (CI is set: the end-to-end tests must run)", pytrace=False)
    pytest.skip(reason)


def env_seconds(name: str, default: float) -> float:
    """A timeout that can be raised from the environment on a slow machine."""
    return float(os.environ.get(name, default))


# ---------------------------------------------------------------------------- processes, servers

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get_json(url: str, timeout: float = 10.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, json.loads(response.read().decode())


def http_delete(url: str, timeout: float = 10.0) -> int:
    request = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status


def stop_process_group(process: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM then SIGKILL the process group this test started (its kernels included)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=grace)


class LabServer:
    """A JupyterLab server on 127.0.0.1 with a random token, started in its own process group.

    Settings, workspaces and checkpoints live in ``state_dir``, autosave is off, and a
    pre-save hook refuses every save, so driving the notebooks never writes to the repository.
    The server (and so every kernel) inherits ``env``, with VAE_SMOKE=1 unless already set.
    """

    def __init__(self, root_dir: Path, state_dir: Path, python: str = sys.executable, env: dict = None,
                 extra_args: tuple = (), launcher: list = None, isolate: bool = True,
                 start_timeout: float = 180.0):
        """launcher: the command before the options (default ``python -m jupyter lab``); with
        isolate=False only the options that make it headless and reachable are added."""
        self.root_dir, self.state_dir = Path(root_dir), Path(state_dir)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.state_dir / "server.log"
        settings = self.state_dir / "settings"
        for plugin, values in {
            "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
            # every cell in the DOM, so that the whole notebook can be checked and photographed
            "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "scrollPastEnd": False},
            "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        }.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        config = self.state_dir / "e2e_server_config.py"
        config.write_text(
            "def _refuse_to_save(model, path, contents_manager, **kwargs):\n"
            "    raise RuntimeError(f'the end-to-end tests never save files: {path}')\n"
            "c.FileContentsManager.pre_save_hook = _refuse_to_save\n")
        command = list(launcher or [python, "-m", "jupyter", "lab"])
        command += ["--no-browser", f"--port={self.port}", "--ServerApp.ip=127.0.0.1",
                    f"--ServerApp.token={self.token}", "--ServerApp.port_retries=0"]
        if isolate:
            command += [f"--ServerApp.root_dir={self.root_dir}", f"--config={config}",
                        f"--LabApp.user_settings_dir={settings}",
                        f"--LabApp.workspaces_dir={self.state_dir / 'workspaces'}",
                        f"--FileCheckpoints.checkpoint_dir={self.state_dir / 'checkpoints'}"]
        command += list(extra_args)
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        environment = dict(os.environ if env is None else env)
        environment.setdefault("VAE_SMOKE", "1")
        environment["JUPYTER_RUNTIME_DIR"] = str(self.state_dir / "runtime")
        environment.pop("JUPYTER_TOKEN", None)
        self.command = command
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, cwd=self.root_dir, env=environment, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_until_up(start_timeout)

    def url(self, path: str) -> str:
        separator = "&" if "?" in path else "?"
        return f"{self.base}{path}{separator}token={self.token}"

    def api(self, path: str):
        return http_get_json(self.url(path))

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                status, _ = self.api("/api/status")
                if status == 200:
                    return
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass
            time.sleep(1.0)
        self.stop()
        raise RuntimeError(f"jupyter did not answer /api/status within {timeout:.0f} s:\n{self.log_tail()}")

    def shutdown_sessions(self) -> None:
        """Shut down every kernel this server runs (between notebooks)."""
        try:
            _, sessions = self.api("/api/sessions")
            for session in sessions:
                http_delete(self.url(f"/api/sessions/{session['id']}"))
            _, kernels = self.api("/api/kernels")
            for kernel in kernels:
                http_delete(self.url(f"/api/kernels/{kernel['id']}"))
        except (urllib.error.URLError, OSError, ValueError):
            pass

    def stop(self) -> None:
        self.shutdown_sessions()
        stop_process_group(self.process)
        self._log.close()


def copy_to_tmp_screens(path: Path) -> None:
    target = Path(os.environ.get("E2E_SCREENS_COPY", "/tmp/e2e_screens"))
    try:
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / path.name)
    except OSError:
        pass


def run_logged(command, log_path: Path, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Run a command, keep its output in log_path, and kill its whole group on timeout."""
    with open(log_path, "ab") as log:
        log.write(f"\n$ {' '.join(map(str, command))}\n".encode())
        log.flush()
        start = log.tell()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_process_group(process, grace=5.0)
            pytest.fail(f"timed out after {timeout:.0f} s: {' '.join(map(str, command))}\n"
                        f"{log_path.read_text(errors='replace')[-4000:]}", pytrace=False)
    with open(log_path, "rb") as log:
        log.seek(start)
        output = log.read().decode(errors="replace")
    return subprocess.CompletedProcess(command, process.returncode, output, "")
