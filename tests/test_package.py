"""The package as a learner installs it: public names, dependencies, bundled data, settings."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import vae_helpers as vh
from vae_helpers.settings import by_mode, is_smoke

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ["load_dataset", "Autoencoder", "GaussianVAE", "CategoricalVAE", "fit", "elbo", "iwae_bound",
          "gaussian_kl", "gumbel_softmax", "pick_device"]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names_are_importable_and_documented_with_shapes_or_units(name):
    thing = getattr(vh, name)
    doc = thing.__doc__ or ""
    assert len(doc) > 60
    assert any(word in doc for word in ("(B", "(N", "shape", "nats", "CUDA", "(..., K)", "(B,"))


def test_dependencies_are_ranges_colab_satisfies():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dependencies = project["dependencies"]
    torch_lines = [d for d in dependencies if d.startswith("torch")]
    assert torch_lines and all("==" not in d and "<" not in d for d in torch_lines)
    assert not any(d.startswith("torchvision") for d in dependencies)
    widgets = next(d for d in dependencies if d.startswith("ipywidgets"))
    assert ">=7.7" in widgets and ">=8" not in widgets
    assert "torch==" not in (ROOT / "requirements.txt").read_text()


def test_the_wheel_carries_the_bundled_subset(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, timeout=300)
    wheel = next(tmp_path.glob("vae_helpers-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "vae_helpers/bundled/mnist5k-images-idx3-ubyte.gz" in names
    assert "vae_helpers/bundled/mnist5k-labels-idx1-ubyte.gz" in names
    size = sum(info.file_size for info in zipfile.ZipFile(wheel).infolist() if "bundled" in info.filename)
    assert size < 2_000_000


def test_smoke_switch_is_read_from_the_environment(monkeypatch):
    for value, expected in (("1", True), ("true", True), ("0", False), ("", False)):
        monkeypatch.setenv("VAE_SMOKE", value)
        assert is_smoke() is expected
        assert by_mode(full="full", smoke="smoke") == ("smoke" if expected else "full")


def test_pick_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(vh.device, "_mps_available", lambda: False)
    assert vh.pick_device() == torch.device("cpu")
    monkeypatch.setattr(vh.device, "_mps_available", lambda: True)
    assert vh.pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert vh.pick_device("auto") == torch.device("cuda")
    assert vh.pick_device("cpu") == torch.device("cpu")


def test_pick_device_explains_what_is_missing(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(vh.device, "_mps_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        vh.pick_device("cuda")
    with pytest.raises(RuntimeError, match="MPS is not available"):
        vh.pick_device("mps")
    with pytest.raises(ValueError, match="device must be one of"):
        vh.pick_device("gpu")
