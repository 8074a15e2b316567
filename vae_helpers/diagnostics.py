"""Diagnostics of a trained VAE's latent code: which units it uses, how the KL splits over
latent dimensions, and the linear KL warm-up schedule that fights posterior collapse.

Conventions: images go in as float (N, 1, 28, 28) in [0, 1] (uint8 0-255 is converted), KL
figures are in nats, means are over the images.
"""

from typing import Callable, NamedTuple

import torch
from torch.distributions import kl_divergence

from .data import to_unit_interval

DEFAULT_THRESHOLD = 0.01


class ActiveUnits(NamedTuple):
    """What :func:`active_units` returns.

    count: int, the number of latent units whose activity exceeds the threshold.
    variances: float tensor (D,), Var_x(E_q(z|x)[z_u]) per unit u, on the CPU.
    """

    count: int
    variances: torch.Tensor


def _as_batches(model, x: torch.Tensor, batch_size: int):
    """Yield float slices of x on the model's device, in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor of images, got {type(x).__name__}")
    if x.dtype == torch.uint8:
        x = to_unit_interval(x)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive whole number, got {batch_size!r}")
    device = next(model.parameters()).device
    for start in range(0, x.shape[0], batch_size):
        yield x[start:start + batch_size].to(device)


@torch.no_grad()
def posterior_means(model, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """E_q(z|x)[z] for every image, flattened per image: (N, D) float on the CPU.

    model: a VAE with ``posterior(x)`` returning a torch distribution (GaussianVAE: the mean is
    the encoder's ``loc``; CategoricalVAE: the class probabilities, flattened to N*K units).
    x: (N, 1, 28, 28) float in [0, 1] or uint8. The model is evaluated in eval mode.
    """
    was_training = model.training
    model.eval()
    try:
        means = [model.posterior(batch).mean.flatten(1).cpu() for batch in _as_batches(model, x, batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(means)


def active_units(model, x: torch.Tensor, threshold: float = DEFAULT_THRESHOLD,
                 batch_size: int = 1000) -> ActiveUnits:
    """Count the active latent units of ``model`` on the images ``x`` (Burda et al. 2016).

    Unit u is active when A_u = Var_x( E_q(z|x)[z_u] ) > threshold: its posterior mean moves
    with the input. A collapsed unit has q(z_u|x) = p(z_u) for every x, so its mean is constant
    (A_u = 0). The variance is the population variance over the N images (divide by N).

    model: a VAE with ``posterior(x)`` (for GaussianVAE, E_q[z_u] is the posterior ``loc``).
    x: (N, 1, 28, 28) float in [0, 1] or uint8, N >= 2.
    threshold: 0.01 in Burda et al.; the prior's variance is 1, so this is 1% of it.
    Returns ``ActiveUnits(count: int, variances: (D,) float tensor)``.
    """
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 images to measure a variance, got {x.shape[0]}")
    means = posterior_means(model, x, batch_size)
    variances = means.var(dim=0, unbiased=False)
    return ActiveUnits(int((variances > threshold).sum()), variances)


@torch.no_grad()
def kl_per_dimension(model, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Mean KL(q(z_d|x) || p(z_d)) over the images, per latent dimension d: (D,) nats, on the CPU.

    Computed with ``torch.distributions.kl_divergence`` between the factors of the posterior
    and of the prior (independent of the closed form in :func:`vae_helpers.gaussian_kl`); it
    sums to the model's total KL term of the ELBO. For a CategoricalVAE, D is the number of
    categorical variables N. x: (N, 1, 28, 28) float in [0, 1] or uint8.
    """
    was_training = model.training
    model.eval()
    total, count = None, 0
    try:
        for batch in _as_batches(model, x, batch_size):
            posterior = model.posterior(batch)
            prior = model.prior(batch.shape[0], batch.device)
            kl = kl_divergence(posterior.base_dist, prior.base_dist).flatten(1)  # (B, D)
            total = kl.sum(0) if total is None else total + kl.sum(0)
            count += batch.shape[0]
    finally:
        model.train(was_training)
    return (total / count).cpu()


def linear_kl_warmup(n_steps: int) -> Callable[[int], float]:
    """A KL warm-up schedule for ``fit(..., beta=linear_kl_warmup(n_steps))``.

    Returns step -> beta = min(1, step / n_steps): 0 at step 0, rising linearly to 1 at
    step ``n_steps`` and staying 1 after (Bowman et al. 2016; Sonderby et al. 2016). Only the
    training loss is weighted; ``fit`` records the plain negative ELBO.
    """
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive whole number of optimisation steps, got {n_steps!r}")

    def beta(step: int) -> float:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        return min(1.0, step / n_steps)

    return beta
