"""GPU tests: every test under tests/gpu carries the ``gpu`` marker and is left out of the
default run (``-m 'not e2e and not gpu'`` in pyproject.toml), since CI has no GPU. Run them on
a CUDA machine with ``python3 -m pytest -m gpu tests/gpu``; there, a missing GPU is an error."""

from pathlib import Path

import pytest
import torch

GPU_DIR = Path(__file__).resolve().parent


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA GPU (run with -m gpu tests/gpu)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if GPU_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.gpu)


@pytest.fixture(scope="session")
def cuda():
    if not torch.cuda.is_available():
        pytest.fail("tests/gpu need a CUDA GPU, and torch sees none on this machine")
    return torch.device("cuda")
