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
                    device=None, coordinates: Optional[torch.Tensor] = None):
    """Decode an n x n grid of 2-D latent points and tile the images (z_1 across, z_2 up).

    decode: function z (M, 2) -> logits (M, 1, 28, 28), e.g. ``model.decode``.
    By default the grid is n evenly spaced values spanning [-extent, extent] on each axis.
    coordinates: (n,) increasing values to use on both axes instead, e.g. standard-normal
    quantiles ``Normal(0, 1).icdf(torch.linspace(0.05, 0.95, 15))`` (seed 004's grid, where
    every row and column holds equal prior mass); the ticks then name those values.
    """
    if coordinates is None:
        values = torch.linspace(-extent, extent, n)
    else:
        values = torch.as_tensor(coordinates, dtype=torch.float32).flatten().cpu()
        if values.numel() < 2 or not bool((values[1:] > values[:-1]).all()):
            raise ValueError(f"coordinates must be at least 2 increasing values, got {values.tolist()}")
        n = values.numel()
    z1, z2 = torch.meshgrid(values, values.flip(0), indexing="xy")
    grid = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1).to(device)
    with torch.no_grad():
        images = torch.sigmoid(decode(grid)).cpu().numpy()[:, 0]
    fig, ax = plt.subplots(figsize=(6.5, 6.5))
    if coordinates is None:
        ax.imshow(_tile(images, n), cmap="gray_r", vmin=0, vmax=1, extent=(-extent, extent, -extent, extent))
    else:
        ax.imshow(_tile(images, n), cmap="gray_r", vmin=0, vmax=1, extent=(0, n, 0, n))
        centres = np.arange(n) + 0.5
        labels = [f"{value:.2f}" for value in values.tolist()]
        ax.set_xticks(centres, labels, rotation=90, fontsize=7)
        ax.set_yticks(centres, labels, fontsize=7)
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


def latent_traversal(decode, z_base: torch.Tensor, dims: Optional[Sequence[int]] = None, values=None,
                     title: str = "Latent traversal"):
    """Decode z_base with one dimension at a time swept over ``values``, the others held fixed.

    decode: function z (M, D) -> logits (M, 1, 28, 28), e.g. ``model.decode``.
    z_base: (D,) code, e.g. the posterior mean of a test image. dims: the (0-based) dimensions
    to sweep, one row each (default all D). values: (V,) values of the swept coordinate, one
    column each (default 9 values from -3 to 3, i.e. +-3 prior standard deviations).
    """
    z_base = z_base.detach().reshape(-1)
    latent_dim = z_base.shape[0]
    dims = list(range(latent_dim)) if dims is None else [int(d) for d in dims]
    for d in dims:
        if not 0 <= d < latent_dim:
            raise ValueError(f"cannot traverse dimension {d} of a {latent_dim}-dimensional code")
    values = torch.linspace(-3, 3, 9) if values is None else torch.as_tensor(values, dtype=z_base.dtype)
    codes = z_base.repeat(len(dims), len(values), 1)  # (rows, columns, D)
    for row, d in enumerate(dims):
        codes[row, :, d] = values.to(z_base.device)
    with torch.no_grad():
        images = torch.sigmoid(decode(codes.reshape(-1, latent_dim))).cpu().numpy()[:, 0]
    fig, ax = plt.subplots(figsize=(max(4.0, len(values) * 0.62), max(1.8, len(dims) * 0.62 + 0.9)))
    ax.imshow(_tile(images, len(values)), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_xticks([2 + 14 + i * 30 for i in range(len(values))])
    ax.set_xticklabels([f"{v:g}" for v in values.tolist()], fontsize=8)
    ax.set_xlabel("value of the swept coordinate $z_d$ (prior standard deviations)")
    ax.set_yticks([2 + 14 + i * 30 for i in range(len(dims))])
    ax.set_yticklabels([f"$z_{{{d + 1}}}$" for d in dims], fontsize=8)
    ax.set_ylabel("swept dimension")
    fig.tight_layout()
    return fig


def rate_distortion(rates, distortions, labels: Optional[Sequence[str]] = None, highlight: Optional[int] = None,
                    title: str = "Rate-distortion plane"):
    """Plot models as points (rate, distortion), both in nats per image, joined in the given order.

    rates: KL(q(z|x) || p(z)) per model; distortions: -E_q[log p(x|z)] per model (same length).
    labels: a text per point (e.g. its beta). highlight: index of a point to mark with a star
    and the line rate + distortion = its negative ELBO (slope -1: models on it have equal ELBO).
    """
    rates, distortions = [float(r) for r in rates], [float(d) for d in distortions]
    if len(rates) != len(distortions) or (labels is not None and len(labels) != len(rates)):
        raise ValueError(f"rates, distortions and labels must have the same length, got {len(rates)}, "
                         f"{len(distortions)} and {None if labels is None else len(labels)}")
    fig, ax = plt.subplots(figsize=(6.2, 4.4))
    ax.plot(rates, distortions, marker="o", color="tab:blue", label="trained models")
    for i, text in enumerate(labels or []):
        ax.annotate(text, (rates[i], distortions[i]), xytext=(6, 6), textcoords="offset points", fontsize=9)
    if highlight is not None:
        neg_elbo = rates[highlight] + distortions[highlight]
        span = np.array([min(rates), max(rates)])
        ax.plot(span, neg_elbo - span, "--", color="grey",
                label=f"rate + distortion = {neg_elbo:.1f} nats (equal ELBO)")
        ax.scatter([rates[highlight]], [distortions[highlight]], marker="*", s=220, color="tab:red", zorder=3,
                   label="the ELBO's own point")
    ax.set_title(title)
    ax.set_xlabel("rate: KL$(q(z|x)\\,\\|\\,p(z))$ (nats per image)")
    ax.set_ylabel("distortion: $-E_q \\log p(x|z)$ (nats per image)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def kl_per_dimension_bars(kl, title: str = "KL per latent dimension", ax=None, threshold: Optional[float] = None):
    """Bars of the mean KL per latent dimension (D,) in nats, sorted from largest to smallest.

    Each bar's tick names its dimension. ax: draw into an existing Axes (default: a new figure).
    threshold: draw a horizontal line at this KL (e.g. to mark what counts as unused).
    """
    kl = kl.detach().cpu().numpy() if isinstance(kl, torch.Tensor) else np.asarray(kl, dtype=float)
    order = np.argsort(-kl, kind="stable")
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(4.0, len(kl) * 0.25 + 1.5), 3.2))
    else:
        fig = ax.figure
    ax.bar(np.arange(len(kl)), kl[order], color="tab:blue")
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"{threshold:g} nats")
        ax.legend(fontsize=8)
    ax.set_xticks(np.arange(len(kl)))
    ax.set_xticklabels([str(d + 1) for d in order], fontsize=6 if len(kl) > 20 else 8)
    ax.set_title(title)
    ax.set_xlabel("latent dimension (sorted by KL)")
    ax.set_ylabel("KL (nats per image)")
    fig.tight_layout()
    return fig
