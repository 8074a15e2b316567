"""Shared helpers of the end-to-end tests (imported by tests/e2e/conftest.py and the tests).
"""

import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
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


# ---------------------------------------------------------------------------- environments, the wheel

def snapshot_repository(target: Path) -> Path:
    """A one-commit git repository (branch main) of the files git would ship from the working tree:
    tracked files plus untracked, not ignored ones (``git ls-files -co --exclude-standard``). In
    CI, a clean checkout, that is exactly HEAD; on a developer's machine it also holds the
    uncommitted edits, so notebooks and package match. A file git would not ship is missing here."""
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if name.startswith("tests/e2e/output/"):       # this suite's screenshots, if not yet ignored
            continue
        source = ROOT / name
        if source.is_file():                          # a deleted, not yet committed file is skipped
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    git = ["git", "-c", "user.name=e2e", "-c", "user.email=e2e@localhost", "-c", "commit.gpgsign=false",
           "-c", "init.defaultBranch=main"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot of the working tree"]):
        subprocess.run([*git, *command], cwd=target, check=True, capture_output=True)
    return target


def build_wheel(source: Path, out_dir: Path, log: Path, timeout: float = 600) -> Path:
    """``python -m build --wheel`` of ``source`` (a snapshot, never the working tree, whose stale
    build/ folder could leak into the wheel) into ``out_dir``; returns the one vae_helpers wheel."""
    require(importlib.util.find_spec("build") is not None,
            "the `build` package is needed to build the wheel (pip install -r requirements-ci.txt)")
    result = run_logged([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out_dir),
                         str(source)], log, timeout, cwd=source)
    assert result.returncode == 0, f"python -m build --wheel failed:\n{result.stdout[-4000:]}"
    wheels = sorted(Path(out_dir).glob("vae_helpers-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def clean_environment() -> dict:
    """os.environ without pytest's variables and PYTHONPATH/PYTHONHOME, for child processes."""
    return {key: value for key, value in os.environ.items()
            if key not in {"PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST"}
            and not key.startswith("PYTEST_XDIST")}


def venv_environment(venv: Path) -> dict:
    """clean_environment() with ``venv`` activated, for commands run in that venv."""
    env = clean_environment()
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_PROGRESS_BAR="off", PYTHONNOUSERSITE="1")
    return env


def make_layered_venv(path: Path, log: Path, timeout: float = 600) -> Path:
    """A venv that sees what this interpreter sees, as Colab's kernel sees Colab's packages.

    ``python -m venv --system-site-packages`` links a new venv to the *base* interpreter: run
    from inside a venv, it would not see that venv's packages (torch, matplotlib, the test
    tools). So when this interpreter runs in a venv, a .pth file in the new venv's site-packages
    adds this venv's site-packages (with their own .pth files) after the new venv's own, before
    the base interpreter's. Packages installed into the new venv come first either way.
    Returns the new venv's python.
    """
    result = run_logged([sys.executable, "-m", "venv", "--system-site-packages", str(path)], log, timeout,
                        cwd=path.parent)
    assert result.returncode == 0, result.stdout[-3000:]
    python = path / "bin" / "python"
    if sys.prefix != sys.base_prefix:
        inherited = []
        for key in ("purelib", "platlib"):
            directory = sysconfig.get_paths()[key]
            if directory not in inherited and Path(directory).is_dir():
                inherited.append(directory)
        own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, env=venv_environment(path)).stdout.strip()
        Path(own, "_e2e_outer_venv.pth").write_text(
            "".join(f"import site; site.addsitedir({directory!r})\n" for directory in inherited))
    return python
