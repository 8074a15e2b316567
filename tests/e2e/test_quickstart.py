"""A newcomer's path: clone the repository and follow the README's quick start as written.

The clone is ``git clone`` of this repository's HEAD (what a newcomer gets; uncommitted edits
are not in it). Its commands run in a virtual environment that sees what the interpreter
running these tests sees (``e2e_support.make_layered_venv``, from a system Python or a venv)
and whose bin/ comes first on PATH, so ``python3`` in the README is the venv's: ``pip install
-e .`` there points the venv, not this machine's environment, at the clone, and what is already
installed here (torch, JupyterLab, the test tools) counts as installed, as after a first run.

Before the blocks: the one line that makes and enters a virtual environment (Debian's and
Ubuntu's Python refuse system-wide installs); it runs as written in the clone and must give a
``python3`` inside ``.venv``.

First block: ``python3 -m pip install -r requirements.txt && jupyter lab --notebook-dir=. notebooks/00_start_here.ipynb``.
The install runs as written; ``jupyter lab`` runs as written plus ``--no-browser``, a port on
127.0.0.1 and a token, and must answer /api/status, serve the repository's root (a file alone
would make JupyterLab serve the file's folder, notebooks/) and open 00_start_here.ipynb (the
page it writes for the browser leads to /lab/tree/notebooks/00_start_here.ipynb).

Second block: the test command. It is not run here (it would run this suite inside itself):
its pytest part must be the command .ci/run runs, .ci/run must install requirements-ci.txt,
and the install part runs as written in the clone's venv.
"""

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from e2e_support import ROOT, LabServer, env_seconds, make_layered_venv, require, run_logged

pytestmark = pytest.mark.e2e

INSTALL_TIMEOUT = env_seconds("E2E_INSTALL_TIMEOUT", 600)


def quick_start_blocks(readme: str) -> list:
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def venv_line(readme: str) -> str:
    """The inline command before the first block that makes and enters a virtual environment."""
    before = readme.split("## Quick start", 1)[1].split("```bash", 1)[0]
    commands = [code for code in re.findall(r"`([^`]+)`", before) if "-m venv" in code]
    assert len(commands) == 1, f"the quick start must say, before its first command, how to make a venv: {before}"
    return commands[0]


class Newcomer:
    def __init__(self, clone: Path, venv: Path, log: Path):
        self.clone, self.venv, self.log = clone, venv, log
        self.env = {key: value for key, value in os.environ.items()
                    if key not in {"PYTHONPATH", "PYTHONHOME", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST"}
                    and not key.startswith("PYTEST_XDIST")}
        self.env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
                        PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_PROGRESS_BAR="off", PYTHONNOUSERSITE="1")

    def shell(self, command: str, timeout: float = INSTALL_TIMEOUT) -> subprocess.CompletedProcess:
        """Run one README command with bash in the clone, the venv first on PATH."""
        return run_logged(["bash", "-c", command], self.log, timeout, cwd=self.clone, env=self.env)


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory) -> Newcomer:
    require(shutil.which("git") is not None, "git is needed to clone the repository")
    base = tmp_path_factory.mktemp("quickstart")
    log = base / "commands.log"
    clone = base / "vae-notebooks"
    result = run_logged(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], log, 300, cwd=base)
    assert result.returncode == 0, result.stdout
    make_layered_venv(base / "venv", log, 300)
    return Newcomer(clone, base / "venv", log)


def test_the_quick_start_has_the_two_documented_blocks():
    blocks = quick_start_blocks((ROOT / "README.md").read_text())
    assert len(blocks) == 2, blocks
    assert blocks[0].endswith("jupyter lab --notebook-dir=. notebooks/00_start_here.ipynb"), blocks[0]
    assert " && " in blocks[1] and "pytest" in blocks[1], blocks[1]
    assert venv_line((ROOT / "README.md").read_text()) == "python3 -m venv .venv && . .venv/bin/activate"


def test_the_venv_line_makes_and_enters_a_virtual_environment_in_the_clone(newcomer):
    line = venv_line((newcomer.clone / "README.md").read_text())
    result = newcomer.shell(f'{line} && python3 -c "import sys; print(sys.prefix)"', timeout=300)
    assert result.returncode == 0, f"`{line}` failed in a fresh clone:\n{result.stdout[-3000:]}"
    prefix = Path(result.stdout.strip().splitlines()[-1])
    assert prefix == newcomer.clone / ".venv", f"after `{line}`, python3 runs in {prefix}"
    status = subprocess.run(["git", "status", "--porcelain"], cwd=newcomer.clone, capture_output=True, text=True)
    assert ".venv" not in status.stdout, "the README's .venv must be ignored by git"


def test_first_block_installs_the_package_and_jupyterlab_serves_the_notebooks(newcomer, tmp_path):
    blocks = quick_start_blocks((newcomer.clone / "README.md").read_text())
    install, launch = [part.strip() for part in blocks[0].split("&&")]
    assert install == "python3 -m pip install -r requirements.txt", install

    result = newcomer.shell(install)
    assert result.returncode == 0, f"`{install}` failed in a fresh clone:\n{result.stdout[-4000:]}"
    where = newcomer.shell('python3 -c "import vae_helpers, sys; print(sys.executable); print(vae_helpers.__file__)"',
                           timeout=120)
    assert where.returncode == 0, where.stdout
    executable, package = where.stdout.strip().splitlines()[-2:]
    assert Path(executable).parent == newcomer.venv / "bin", "README's python3 must be the venv's here"
    assert Path(package).resolve().is_relative_to(newcomer.clone.resolve()), \
        f"after `{install}` vae_helpers comes from {package}, not from the clone"

    argv = shlex.split(launch)
    assert argv[:2] == ["jupyter", "lab"], launch
    jupyter = shutil.which("jupyter", path=newcomer.env["PATH"])
    require(jupyter is not None, "no `jupyter` on PATH after installing requirements.txt")
    print(f"`{launch}` runs {jupyter}")
    server = LabServer(newcomer.clone, tmp_path / "lab", env=newcomer.env, launcher=argv, isolate=False)
    try:
        status, body = server.api("/api/status")
        assert status == 200 and "started" in body, body
        # The repository's root is served (README, data/, docs/ in reach), not notebooks/ alone.
        status, listing = server.api("/api/contents")
        assert status == 200 and listing["type"] == "directory", listing
        top = {item["name"] for item in listing["content"]}
        assert {"notebooks", "README.md", "docs"} <= top, f"JupyterLab serves a folder holding {sorted(top)}"
        status, listing = server.api("/api/contents/notebooks")
        assert status == 200 and listing["type"] == "directory", listing
        served = sorted(item["name"] for item in listing["content"] if item["type"] == "notebook")
        expected = sorted(path.name for path in (newcomer.clone / "notebooks").glob("*.ipynb"))
        assert served == expected and "00_start_here.ipynb" in served, (served, expected)
        status, notebook = server.api("/api/contents/notebooks/00_start_here.ipynb")
        assert status == 200 and notebook["type"] == "notebook" and notebook["content"]["cells"], status
        # What the browser is sent to: jupyter_server writes it for the file given on the command line.
        pages = list((server.state_dir / "runtime").glob("jpserver-file-to-run-*-open.html"))
        assert len(pages) == 1, f"jupyter lab wrote no page that opens the notebook: {pages}"
        assert re.search(r"/lab/tree/notebooks/00_start_here\.ipynb\?", pages[0].read_text()), pages[0].read_text()
    finally:
        server.stop()
    print(f"served {served}")


def test_second_block_is_what_ci_runs_and_its_install_works(newcomer):
    blocks = quick_start_blocks((newcomer.clone / "README.md").read_text())
    install, test_command = [part.strip() for part in blocks[1].split("&&")]
    assert install == "python3 -m pip install -r requirements-ci.txt", install
    ci = [line.strip() for line in (newcomer.clone / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci, f"CI must run the README's test command `{test_command}` exactly; .ci/run has {ci}"
    assert any(re.fullmatch(r"python3 -m pip install( -\S+)* -r requirements-ci\.txt", line) for line in ci), \
        ".ci/run must install requirements-ci.txt before it runs the tests"

    # The install part, as written, in the clone's venv (fast: all of it is installed already).
    result = newcomer.shell(install)
    assert result.returncode == 0, f"`{install}` failed in a fresh clone:\n{result.stdout[-4000:]}"
    installed = re.findall(r"Successfully installed (.*)", result.stdout)
    print(f"`{install}` installed: {installed or 'nothing new'}")
    # The test command's collection (not the run: that would be this suite inside itself).
    argv = shlex.split(test_command)
    assert argv[:3] == ["python3", "-m", "pytest"], argv
    collect = newcomer.shell("python3 -m pytest --collect-only -q -p no:xdist", timeout=600)
    assert collect.returncode == 0, f"the test command cannot even collect in a fresh clone:\n{collect.stdout[-4000:]}"
    assert re.search(r"notebooks/00_start_here\.ipynb::", collect.stdout), "nbval does not collect the notebooks"
    print(collect.stdout.strip().splitlines()[-1])
