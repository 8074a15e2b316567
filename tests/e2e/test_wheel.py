"""The wheel as a learner or Colab gets it: built from what git ships, installed into a fresh
virtual environment outside the repository, and used there.

``python -m build --wheel`` of a snapshot of the working tree (``e2e_support.snapshot_repository``)
makes the wheel. It is installed with pip, dependencies resolved, into a new venv that sees
this interpreter's packages (``e2e_support.make_layered_venv``, for torch). Then, from a folder
outside the repository, that venv's python imports vae_helpers, loads the bundled MNIST subset
(never a download, in smoke mode) and trains one epoch: this proves that the package data
ships in the wheel and that the installed package, not the working tree, is what runs.
"""

import json
import shutil
import textwrap
import zipfile
from pathlib import Path

import pytest

from e2e_support import (ROOT, build_wheel, env_seconds, make_layered_venv, require, run_logged,
                         snapshot_repository, venv_environment)

pytestmark = pytest.mark.e2e

INSTALL_TIMEOUT = env_seconds("E2E_INSTALL_TIMEOUT", 600)

SMOKE_EPOCH = textwrap.dedent('''
    import json, sys
    import vae_helpers as vh

    train = vh.load_dataset("mnist", "train")
    test = vh.load_dataset("mnist", "test")
    history = vh.fit(vh.GaussianVAE(), train.images, test.images, epochs=1, device="cpu", progress=False)
    print("WHEEL-REPORT " + json.dumps({
        "executable": sys.executable, "package": vh.__file__, "source": train.source,
        "train_images": list(train.images.shape), "test_images": list(test.images.shape),
        "epochs": len(history),
        "test_loss": float(history.last["test_loss"])}))
''')


def test_the_wheel_installs_in_a_fresh_venv_and_trains_on_its_bundled_data(tmp_path):
    require(shutil.which("git") is not None, "git is needed to snapshot the repository")
    log = tmp_path / "wheel.log"
    snapshot = snapshot_repository(tmp_path / "vae-notebooks")
    wheel = build_wheel(snapshot, tmp_path / "dist", log, INSTALL_TIMEOUT)
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {path.relative_to(snapshot).as_posix() for pattern in ("vae_helpers/**/*.py", "vae_helpers/bundled/*.gz")
               for path in snapshot.glob(pattern)}
    assert {"vae_helpers/bundled/mnist5k-images-idx3-ubyte.gz", "vae_helpers/bundled/mnist5k-labels-idx1-ubyte.gz",
            "vae_helpers/__init__.py"} <= shipped
    assert shipped <= names, f"the wheel lacks {sorted(shipped - names)}"

    venv = tmp_path / "venv"
    python = make_layered_venv(venv, log, INSTALL_TIMEOUT)
    env = dict(venv_environment(venv), VAE_SMOKE="1")
    result = run_logged([str(python), "-m", "pip", "install", "--quiet", str(wheel)], log, INSTALL_TIMEOUT,
                        cwd=tmp_path, env=env)
    assert result.returncode == 0, f"pip install {wheel.name} failed:\n{result.stdout[-3000:]}"

    elsewhere = tmp_path / "elsewhere"              # outside the repository: no ./vae_helpers to import
    elsewhere.mkdir()
    (elsewhere / "smoke_epoch.py").write_text(SMOKE_EPOCH)
    result = run_logged([str(python), "smoke_epoch.py"], log, INSTALL_TIMEOUT, cwd=elsewhere, env=env)
    assert result.returncode == 0, f"the installed wheel failed to train:\n{result.stdout[-4000:]}"
    report = json.loads(result.stdout.split("WHEEL-REPORT ", 1)[1].splitlines()[0])
    print(json.dumps(report, indent=1))
    assert Path(report["executable"]).parent == venv / "bin", report
    package = Path(report["package"]).resolve()
    assert package.is_relative_to(venv.resolve()) and not package.is_relative_to(ROOT), \
        f"vae_helpers was imported from {package}, not from the wheel installed in the venv"
    assert "bundled" in report["source"].lower(), report["source"]
    assert report["train_images"][1:] == [1, 28, 28] and report["train_images"][0] > 0, report
    assert report["epochs"] == 1, report
    assert 0 < report["test_loss"] < 800, f"one smoke epoch gave a test loss of {report['test_loss']} nats"
