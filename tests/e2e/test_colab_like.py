"""A Colab-like environment: ipywidgets 7.7.1, the machine's own torch, and vae_helpers
installed the way the notebooks' Colab setup cell installs it.

One virtual environment per test session (under pytest's tmp dir), made with
``--system-site-packages`` so that it sees the torch installed here, as Colab's kernel sees
Colab's torch. Into it: ipywidgets 7.7.1 with the extensions of its generation
(widgetsnbextension 3.6, jupyterlab_widgets 1.x), then

    pip install --quiet --no-deps "vae_helpers @ git+file://localhost<snapshot>"

which is the Colab setup cell's command with the GitHub URL replaced by a local git
repository (the "localhost" host keeps the URL valid PEP 508 for pip < 24 as well, whose
parser rejects a git+file:/// URL without a host). The snapshot is a fresh git repository holding the files git would ship from this
working tree (tracked files plus untracked, not ignored ones: ``git ls-files -co
--exclude-standard``). In CI, a clean checkout, that is exactly HEAD; on a developer's machine
it also holds the uncommitted edits the notebooks under test may already use, so notebooks and
package always match. pip clones it and builds a wheel from the clone, as on Colab, so a
package file that git would not ship (a bundled data file, say) is missing here too.

Then: the kernel that nbval starts from that environment imports ipywidgets 7.7.1 and the
installed (not the working tree's) vae_helpers; sliders (vae_helpers.widgets) and progress bars
(tqdm.auto, through vh.fit) work there; and every notebook runs under nbval in smoke mode.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from e2e_support import ROOT, env_seconds, notebooks, require, run_logged

pytestmark = pytest.mark.e2e

NOTEBOOKS = notebooks()
COLAB_PINS = ["ipywidgets==7.7.1", "widgetsnbextension>=3.6,<3.7", "jupyterlab_widgets>=1,<2"]
TEST_TOOLS = ["pytest", "nbval", "ipykernel"]        # already satisfied through the system site
INSTALL_TIMEOUT = env_seconds("E2E_INSTALL_TIMEOUT", 600)
NOTEBOOK_TIMEOUT = env_seconds("E2E_NOTEBOOK_TIMEOUT", 600)


class ColabVenv:
    def __init__(self, path: Path, log: Path):
        self.path, self.log = path, log
        self.python = str(path / "bin" / "python")
        self.env = {key: value for key, value in os.environ.items()
                    if key not in {"PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER",
                                   "PYTEST_XDIST_TESTRUNUID", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST"}}
        self.env.update(VIRTUAL_ENV=str(path), PATH=f"{path / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                        VAE_SMOKE=os.environ.get("VAE_SMOKE", "1"), PIP_DISABLE_PIP_VERSION_CHECK="1",
                        PIP_PROGRESS_BAR="off", PYTHONNOUSERSITE="1")

    def run(self, *args, timeout: float = INSTALL_TIMEOUT, cwd: Path = ROOT) -> subprocess.CompletedProcess:
        return run_logged([*args], self.log, timeout, cwd=cwd, env=self.env)


def snapshot_repository(target: Path) -> Path:
    """A one-commit git repository of the files git would ship from the working tree."""
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


@pytest.fixture(scope="session")
def colab_venv(tmp_path_factory) -> ColabVenv:
    require(shutil.which("git") is not None, "git is needed to install vae_helpers from a git URL")
    base = tmp_path_factory.mktemp("colab_like")
    venv = ColabVenv(base / "venv", base / "install.log")
    result = run_logged([sys.executable, "-m", "venv", "--system-site-packages", str(venv.path)], venv.log,
                        INSTALL_TIMEOUT, cwd=base)
    assert result.returncode == 0, result.stdout[-3000:]
    # Colab ships a recent pip; the one ensurepip bundles can be older than the machine's.
    result = venv.run(venv.python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    assert result.returncode == 0, result.stdout[-3000:]
    result = venv.run(venv.python, "-m", "pip", "install", "--quiet", *COLAB_PINS, *TEST_TOOLS)
    assert result.returncode == 0, f"installing {COLAB_PINS} failed:\n{result.stdout[-3000:]}"
    snapshot = snapshot_repository(base / "vae-notebooks")
    # The notebooks' Colab setup cell, with its GitHub URL pointed at the local snapshot.
    result = venv.run(venv.python, "-m", "pip", "install", "--quiet", "--no-deps",
                      f"vae_helpers @ git+file://localhost{snapshot}", cwd=base)
    assert result.returncode == 0, f"the Colab setup cell's install failed:\n{result.stdout[-3000:]}"
    return venv


KERNEL_CHECK = textwrap.dedent('''
    """Start the notebooks' kernel (kernelspec python3) the way nbval does and look inside it."""
    import json, sys
    from jupyter_client.manager import start_new_kernel

    CODE = r"""
    import json, os, sys
    import ipywidgets, matplotlib, torch, tqdm, tqdm.notebook
    import vae_helpers as vh
    from vae_helpers.widgets import interactive_figure
    from tqdm.auto import tqdm as auto_tqdm
    import matplotlib.pyplot as plt

    def draw(mu, kind):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [0, mu], "o-" if kind == "a" else "s--")
        ax.set_title(f"mu = {mu:.2f}, kind {kind}")
        return fig

    panel = interactive_figure(draw, mu=ipywidgets.FloatSlider(value=0.0, min=-1.0, max=1.0, description="mu"),
                               kind=ipywidgets.Dropdown(options=["a", "b"], value="a"))
    panel.controls["mu"].value = 0.5
    panel.controls["kind"].value = "b"
    bar = auto_tqdm(range(3), desc="auto")
    for _ in bar:
        pass
    train = vh.load_dataset("mnist", "train")
    history = vh.fit(vh.GaussianVAE(), train.images[:256], train.images[:128], epochs=1, device="cpu",
                     progress=True)
    print("E2E-REPORT " + json.dumps({
        "executable": sys.executable, "ipywidgets": ipywidgets.__version__, "ipywidgets_file": ipywidgets.__file__,
        "vae_helpers_file": vh.__file__, "torch_file": torch.__file__, "smoke": os.environ.get("VAE_SMOKE"),
        "draws": panel.draws, "tqdm_auto_is_notebook": isinstance(bar, tqdm.notebook.tqdm),
        "tqdm_widget": type(getattr(bar, "container", None)).__name__,
        "fit_loss": history.last["test_loss"]}))
    """

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=180)
    messages = []
    try:
        reply = kc.execute_interactive(CODE, timeout=600, output_hook=lambda msg: messages.append(msg))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    out = {"status": reply["content"]["status"], "kernel_cmd": km.kernel_spec.argv[:1] if km.kernel_spec else None,
           "streams": [], "errors": [], "mimes": [], "msg_types": []}
    for msg in messages:
        kind, content = msg["header"]["msg_type"], msg["content"]
        out["msg_types"].append(kind)
        if kind == "stream":
            out["streams"].append([content["name"], content["text"]])
        elif kind == "error":
            out["errors"].append("\\n".join(content["traceback"]))
        elif kind in ("display_data", "update_display_data"):
            out["mimes"].append([kind, sorted(content["data"]),
                                 content["data"].get("application/vnd.jupyter.widget-view+json")])
    print("E2E-KERNEL " + json.dumps(out))
''')


def test_kernel_imports_ipywidgets_7_and_widgets_and_progress_bars_work(colab_venv, tmp_path):
    script = tmp_path / "kernel_check.py"
    script.write_text(KERNEL_CHECK)
    result = colab_venv.run(colab_venv.python, str(script), cwd=ROOT / "notebooks", timeout=900)
    assert result.returncode == 0, result.stdout[-4000:]
    kernel = json.loads(result.stdout.split("E2E-KERNEL ", 1)[1].splitlines()[0])
    stdout = "".join(text for name, text in kernel["streams"] if name == "stdout")
    stderr = "".join(text for name, text in kernel["streams"] if name == "stderr")
    assert kernel["status"] == "ok" and not kernel["errors"], \
        re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(kernel["errors"])) + stderr
    report = json.loads(stdout.split("E2E-REPORT ", 1)[1].splitlines()[0])
    print(json.dumps(report, indent=1))
    assert report["ipywidgets"] == "7.7.1", report
    assert Path(report["ipywidgets_file"]).is_relative_to(colab_venv.path), report
    assert Path(report["executable"]).parent == colab_venv.path / "bin", report
    assert Path(report["vae_helpers_file"]).is_relative_to(colab_venv.path), \
        f"the kernel imports vae_helpers from {report['vae_helpers_file']}, not the one installed like on Colab"
    assert report["smoke"] == "1"
    assert report["draws"] == 3, "each control change must redraw the figure once"
    assert report["tqdm_auto_is_notebook"] and report["tqdm_widget"] in {"TqdmHBox", "HBox"}, \
        f"tqdm.auto does not show a widget progress bar with ipywidgets 7.7: {report}"
    assert "IProgress not found" not in stderr and "Warning" not in stderr, stderr
    views = [view for kind, mimes, view in kernel["mimes"] if view]
    assert views and all(view.get("version_major") == 2 for view in views), kernel["mimes"]
    assert sum(kind == "update_display_data" for kind, _, _ in kernel["mimes"]) >= 2, \
        "the figure must be redrawn in place (update_display_data) on each control change"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_under_nbval_with_ipywidgets_7(colab_venv, path):
    """nbval, run by the venv's python, starts the kernel of that environment (ipywidgets 7.7.1)."""
    result = colab_venv.run(colab_venv.python, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:randomly",
                            f"notebooks/{path.name}", timeout=NOTEBOOK_TIMEOUT)
    summary = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"{path.name}: {summary[0]}")
    assert result.returncode == 0, f"{path.name} under nbval with ipywidgets 7.7.1:\n{result.stdout[-6000:]}"
