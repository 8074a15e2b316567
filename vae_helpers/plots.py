"""The figures of the series. Each function returns the matplotlib Figure it drew, with a
title and labelled axes, so notebooks can show it and tests can save it."""

from typing import Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

DIGIT_COLOURS = "tab10"


def _as_numpy_images(images) -> np.ndarray:
    """(N, 1, 28, 28) or (N, 28, 28) tensor/array, float in [0, 1] or uint8 -> (N, 28, 28) float."""
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim == 4:
        array = array[:, 0]
    if array.ndim != 3:
        raise ValueError(f"expected images of shape (N, 1, 28, 28) or (N, 28, 28), got {array.shape}")
    return array / 255.0 if array.dtype == np.uint8 else array


def _tile(images: np.ndarray, n_columns: int) -> np.ndarray:
    n, height, width = images.shape
    n_rows = -(-n // n_columns)
    canvas = np.ones((n_rows * (height + 2) + 2, n_columns * (width + 2) + 2))
    for i, image in enumerate(images):
        row, column = divmod(i, n_columns)
        canvas[2 + row * (height + 2): 2 + row * (height + 2) + height,
               2 + column * (width + 2): 2 + column * (width + 2) + width] = image
    return canvas


def image_grid(images, n_columns: int = 8, title: str = "Images", size: float = 0.6):
    """Show images tiled in a grid. images: (N, 1, 28, 28) in [0, 1] or uint8."""
    array = _as_numpy_images(images)
    n_rows = -(-len(array) // n_columns)
    fig, ax = plt.subplots(figsize=(max(3.0, n_columns * size), max(2.0, n_rows * size + 0.6)))
    ax.imshow(_tile(array, n_columns), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel(f"{len(array)} images, 28 x 28 pixels each")
    ax.set_ylabel("")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def reconstruction_rows(originals, reconstructions, title: str = "Inputs (top) and reconstructions (bottom)"):
    """Inputs in the top row, their reconstructions through the posterior underneath."""
    originals, reconstructions = _as_numpy_images(originals), _as_numpy_images(reconstructions)
    if originals.shape != reconstructions.shape:
        raise ValueError(f"got {len(originals)} inputs but {len(reconstructions)} reconstructions")
    n = len(originals)
    fig, ax = plt.subplots(figsize=(max(4.0, n * 0.7), 2.2))
    ax.imshow(_tile(np.concatenate([originals, reconstructions]), n), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(title)
    ax.set_yticks([15, 45])
    ax.set_yticklabels(["input x", "reconstruction"])
    ax.set_xticks([])
    ax.set_xlabel(f"{n} test images")
    fig.tight_layout()
    return fig


def latent_scatter(codes, labels, title: str = "Latent codes coloured by digit",
                   axis_names: Sequence[str] = ("$z_1$", "$z_2$"), class_names: Optional[Sequence[str]] = None):
    """Scatter 2-D codes (N, 2) coloured by label (N,), with a legend of the classes."""
    codes = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
    labels = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"expected 2-D codes of shape (N, 2), got {codes.shape}")
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap(DIGIT_COLOURS)
    for label in np.unique(labels):
        chosen = labels == label
        name = class_names[label] if class_names is not None else str(label)
        ax.scatter(codes[chosen, 0], codes[chosen, 1], s=6, alpha=0.7, color=cmap(int(label) % 10), label=name)
    ax.legend(title="class", markerscale=3, fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title(title)
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    fig.tight_layout()
    return fig


def latent_manifold(decode, extent: float = 3.0, n: int = 15, title: str = "Decoded 2-D latent grid",
                    device=None):
    """Decode an n x n grid of 2-D latent points spanning [-extent, extent]^2.

    decode: function z (M, 2) -> logits (M, 1, 28, 28), e.g. ``model.decode``.
    """
    values = torch.linspace(-extent, extent, n)
    z1, z2 = torch.meshgrid(values, values.flip(0), indexing="xy")
    grid = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1).to(device)
    with torch.no_grad():
        images = torch.sigmoid(decode(grid)).cpu().numpy()[:, 0]
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    ax.imshow(_tile(images, n), cmap="gray_r", vmin=0, vmax=1,
              extent=(-extent, extent, -extent, extent))
    ax.set_title(title)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    fig.tight_layout()
    return fig


def interpolation(decode, z_start: torch.Tensor, z_end: torch.Tensor, steps: int = 10,
                  title: str = "Linear interpolation in latent space"):
    """Decode z(t) = (1 - t) z_start + t z_end for t in [0, 1]. z_start, z_end: (D,)."""
    t = torch.linspace(0, 1, steps, device=z_start.device).unsqueeze(1)
    path = (1 - t) * z_start.unsqueeze(0) + t * z_end.unsqueeze(0)
    with torch.no_grad():
        images = torch.sigmoid(decode(path)).cpu().numpy()[:, 0]
    fig, ax = plt.subplots(figsize=(max(4.0, steps * 0.7), 1.8))
    ax.imshow(_tile(images, steps), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(title)
    ax.set_xticks([2 + 14 + i * 30 for i in range(steps)])
    ax.set_xticklabels([f"{value:.2f}" for value in t[:, 0].tolist()], fontsize=7)
    ax.set_xlabel("interpolation weight t")
    ax.set_yticks([])
    fig.tight_layout()
    return fig


def training_curves(history, title: str = "Training curves", figures=("loss", "reconstruction", "kl")):
    """Train and test curves per epoch for each figure of a ``History`` (nats per image)."""
    fig, axes = plt.subplots(1, len(figures), figsize=(4.2 * len(figures), 3.3))
    axes = np.atleast_1d(axes)
    epochs = history.column("epoch")
    labels = {"loss": "negative ELBO", "reconstruction": "reconstruction  $-E_q\\log p(x|z)$",
              "kl": "KL$(q(z|x)\\,\\|\\,p(z))$"}
    for ax, name in zip(axes, figures):
        for split, style in (("train", "-"), ("test", "--")):
            key = f"{split}_{name}"
            if key in history.last:
                ax.plot(epochs, history.column(key), style, marker="o", markersize=3, label=split)
        ax.set_title(labels.get(name, name))
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per image")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
