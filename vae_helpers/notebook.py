"""The first code cell of every notebook: seed everything, pick the device, style the plots,
and say which mode the notebook runs in."""

import random
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch

from .device import describe_device, pick_device
from .settings import SMOKE_ENV_VAR, mode_name


def setup_notebook(seed: int = 0, device: str = "auto") -> torch.device:
    """Seed Python, NumPy and torch with ``seed``, set readable plot defaults, print the mode
    (smoke or full) and the device, and return that device."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "axes.grid": False,
                         "axes.titlesize": 11, "axes.labelsize": 10, "figure.max_open_warning": 0})
    warnings.filterwarnings("ignore", message=".*IProgress not found.*")
    chosen = pick_device(device)
    print(f"mode: {mode_name()} (set {SMOKE_ENV_VAR}=1 for the quick smoke run); "
          f"device: {describe_device(chosen)}; torch {torch.__version__}; seed {seed}")
    return chosen
