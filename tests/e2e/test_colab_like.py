"""A Colab-like environment: ipywidgets 7.7.1, the machine's own torch, and vae_helpers
installed by the notebooks' own Colab setup cell, through its fallback: from a wheel.

One virtual environment per test session (under pytest's tmp dir) that sees the packages of
the interpreter running the tests, as Colab's kernel sees Colab's torch
(``e2e_support.make_layered_venv``: from a system Python and from inside a venv alike). Into
it: ipywidgets 7.7.1 with the extensions of its generation (widgetsnbextension 3.6,
jupyterlab_widgets 1.x). Then the wheel: ``python -m build --wheel`` of a snapshot of the
working tree (``e2e_support.snapshot_repository``: what git would ship, so a package file that
git would not ship, a bundled data file say, is missing here too), put in a working folder as
a learner uploads it to Colab. There the Colab setup cell (``Home.setup_cell()``, which
tests/test_publish.py holds every notebook to) runs with ``google.colab`` present and its
repository pointed at a git URL that does not exist: its install fails, it says so, and it
installs the wheel with ``--no-deps``.

Then: the kernel that nbval starts from that environment imports ipywidgets 7.7.1 and the
installed (not the working tree's) vae_helpers; sliders (vae_helpers.widgets) and progress bars
(tqdm.auto, through vh.fit) work there; and every notebook runs under nbval in smoke mode. The
setup cell's first path, the install from a git repository, is checked on its own: pip builds
a wheel from ``git+file://localhost<snapshot>@main`` that carries the bundled data.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from e2e_support import (ROOT, build_wheel, clean_environment, env_seconds, make_layered_venv, notebooks, require, run_logged,
                         snapshot_repository, venv_environment)
from vae_helpers.publish import read_home

pytestmark = pytest.mark.e2e

NOTEBOOKS = notebooks()
COLAB_PINS = ["ipywidgets==7.7.1", "widgetsnbextension>=3.6,<3.7", "jupyterlab_widgets>=1,<2"]
TEST_TOOLS = ["pytest", "nbval", "ipykernel"]        # already satisfied through the inherited site
BUNDLED = ["vae_helpers/bundled/mnist5k-images-idx3-ubyte.gz", "vae_helpers/bundled/mnist5k-labels-idx1-ubyte.gz"]
INSTALL_TIMEOUT = env_seconds("E2E_INSTALL_TIMEOUT", 600)
NOTEBOOK_TIMEOUT = env_seconds("E2E_NOTEBOOK_TIMEOUT", 600)
UNREACHABLE = "git+file://localhost/nonexistent/vae-notebooks@main"   # a repository the install cannot reach

RUN_SETUP_CELL = textwrap.dedent('''
    """Run the Colab setup cell given as argv[1] as Colab would: with google.colab imported."""
    import sys, types
    sys.modules["google.colab"] = types.ModuleType("google.colab")
    exec(compile(open(sys.argv[1]).read(), "setup cell", "exec"), {})
''')


class ColabVenv:
    def __init__(self, path: Path, log: Path):
        self.path, self.log = path, log
        self.python = str(path / "bin" / "python")
        self.env = venv_environment(path)
        self.env.update(VAE_SMOKE=os.environ.get("VAE_SMOKE", "1"))

    def run(self, *args, timeout: float = INSTALL_TIMEOUT, cwd: Path = ROOT) -> subprocess.CompletedProcess:
        return run_logged([*args], self.log, timeout, cwd=cwd, env=self.env)


@pytest.fixture(scope="session")
def snapshot(tmp_path_factory) -> Path:
    require(shutil.which("git") is not None, "git is needed to snapshot the repository")
    return snapshot_repository(tmp_path_factory.mktemp("snapshot") / "vae-notebooks")


@pytest.fixture(scope="session")
def setup_cell_output(tmp_path_factory, snapshot) -> dict:
    """The Colab-like venv, after the Colab setup cell fell back to an uploaded wheel."""
    base = tmp_path_factory.mktemp("colab_like")
    venv = ColabVenv(base / "venv", base / "install.log")
    make_layered_venv(venv.path, venv.log, INSTALL_TIMEOUT)
    # Colab ships a recent pip; the one ensurepip bundles can be older than the machine's.
    result = venv.run(venv.python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    assert result.returncode == 0, result.stdout[-3000:]
    result = venv.run(venv.python, "-m", "pip", "install", "--quiet", *COLAB_PINS, *TEST_TOOLS)
    assert result.returncode == 0, f"installing {COLAB_PINS} failed:\n{result.stdout[-3000:]}"

    content = base / "content"                      # Colab's working folder, the wheel uploaded into it
    content.mkdir()
    wheel = build_wheel(snapshot, base / "dist", venv.log, INSTALL_TIMEOUT)
    shutil.copy2(wheel, content / wheel.name)
    home = read_home(ROOT)
    cell = home.setup_cell()
    configured = f'REPOSITORY = "git+{home.url}@{home.branch}"'
    assert cell.count(configured) == 1, cell
    (base / "setup_cell.py").write_text(cell.replace(configured, f'REPOSITORY = "{UNREACHABLE}"'))
    (base / "run_setup_cell.py").write_text(RUN_SETUP_CELL)
    result = venv.run(venv.python, str(base / "run_setup_cell.py"), str(base / "setup_cell.py"), cwd=content)
    return {"venv": venv, "wheel": wheel, "returncode": result.returncode, "output": result.stdout}


@pytest.fixture(scope="session")
def colab_venv(setup_cell_output) -> ColabVenv:
    assert setup_cell_output["returncode"] == 0, \
        f"the Colab setup cell did not install the wheel:\n{setup_cell_output['output'][-3000:]}"
    return setup_cell_output["venv"]


def test_setup_cell_says_the_repository_failed_and_installs_the_uploaded_wheel(setup_cell_output):
    output, wheel, venv = setup_cell_output["output"], setup_cell_output["wheel"], setup_cell_output["venv"]
    assert setup_cell_output["returncode"] == 0, output[-3000:]
    assert f"Could not install vae_helpers from {UNREACHABLE}" in output, output[-3000:]
    assert f"Installing {wheel.name} from the working folder instead." in output, output[-3000:]
    shown = venv.run(venv.python, "-m", "pip", "show", "-f", "vae_helpers", cwd=venv.path)
    assert shown.returncode == 0 and "Version: " in shown.stdout, shown.stdout[-2000:]
    location = Path(re.search(r"^Location: (.*)$", shown.stdout, re.M).group(1))
    assert location.is_relative_to(venv.path), f"vae_helpers is installed in {location}, not the Colab-like venv"
    assert all(name in shown.stdout for name in BUNDLED), "the installed package lacks the bundled data"
    assert "Editable project location" not in shown.stdout


def test_the_wheel_carries_the_bundled_data(setup_cell_output):
    names = zipfile.ZipFile(setup_cell_output["wheel"]).namelist()
    assert all(name in names for name in BUNDLED), [name for name in names if "bundled" in name]


def test_pip_builds_the_package_with_its_data_from_a_git_url_with_a_branch(snapshot, tmp_path):
    """The setup cell's first path: ``vae_helpers @ git+<repository>@<branch>``, here a local
    git repository (the "localhost" host keeps the URL valid PEP 508 for pip < 24 as well)."""
    result = run_logged([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path),
                         f"vae_helpers @ git+file://localhost{snapshot}@main"], tmp_path / "pip.log", INSTALL_TIMEOUT,
                        cwd=tmp_path, env=clean_environment())
    assert result.returncode == 0, f"pip could not build vae_helpers from the git URL:\n{result.stdout[-3000:]}"
    wheel = next(tmp_path.glob("vae_helpers-*.whl"))
    assert all(name in zipfile.ZipFile(wheel).namelist() for name in BUNDLED)


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
