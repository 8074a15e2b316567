"""The two parts of a Gaussian VAE's inference gap: approximation and amortization.

For one image x, the ELBO of the encoder's q(z|x) falls short of log p(x) by
KL(q(z|x) || p(z|x)). Cremer, Li and Duvenaud (2018) split that shortfall in two by finding, for
this one image, the best Gaussian q*(z) of the encoder's family (diagonal covariance), by
gradient ascent on the ELBO with the decoder held fixed:

    log p(x) - ELBO(q_encoder) = [log p(x) - ELBO(q*)]          the approximation gap
                               + [ELBO(q*) - ELBO(q_encoder)]   the amortization gap

The approximation gap is the price of a diagonal Gaussian family; the amortization gap is the
price of one network predicting q for every image instead of optimizing q per image.
log p(x) is unknown: :func:`inference_gaps` uses the importance-weighted bound L_k with the
encoder's q as its estimate, and a finite number of Adam steps for q*. The two errors push the
printed gaps in known directions:

- the amortization gap does not involve log p(x); a q* short of the best Gaussian makes it too
  small, so (in expectation) it is a lower bound on the true amortization gap;
- the approximation gap L_k - ELBO(q*) is pulled down by L_k < log p(x) (in expectation) and
  pushed up by a q* that has not converged. It is a lower bound only once q* has converged:
  ``check_steps`` continues the optimization to measure how much ELBO(q*) still rises.

Images go in as float (N, 1, 28, 28) pixels (binarized, {0, 1}, for a likelihood); every figure
is in nats per image.
"""

from typing import Dict, Optional, Tuple

import torch
from torch.distributions import Independent, Normal

from .losses import elbo, iwae_bound


class FixedGaussianPosterior:
    """A Gaussian VAE whose q(z|x) is given per image instead of predicted by its encoder.

    model: a :class:`~vae_helpers.models.GaussianVAE` (its prior, decoder and likelihood are
    used). loc, log_var: (N, D), the parameters of q for the N images that will be scored, in
    the same order. Quacks like a model for :func:`vae_helpers.elbo` and
    :func:`vae_helpers.iwae_bound`, whose ``x`` must then be those N images.
    """

    def __init__(self, model, loc: torch.Tensor, log_var: torch.Tensor):
        if loc.shape != log_var.shape or loc.ndim != 2:
            raise ValueError(f"loc and log_var must both have shape (N, D), got {tuple(loc.shape)} and "
                             f"{tuple(log_var.shape)}")
        self.model, self.loc, self.log_var = model, loc, log_var

    def posterior(self, x: torch.Tensor) -> Independent:
        """q(z) for the N images: batch shape (N,), event shape (D,)."""
        if x.shape[0] != self.loc.shape[0]:
            raise ValueError(f"this posterior holds {self.loc.shape[0]} images' q, got a batch of {x.shape[0]}")
        return Independent(Normal(self.loc, torch.exp(0.5 * self.log_var), validate_args=False), 1,
                           validate_args=False)

    def prior(self, batch_size: int, device=None):
        return self.model.prior(batch_size, device)

    def draw_latent(self, posterior: Independent) -> torch.Tensor:
        return posterior.rsample()

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.model.log_likelihood(x, z)

    def kl_to_prior(self, posterior: Independent) -> torch.Tensor:
        return self.model.kl_to_prior(posterior)


def mean_elbo(model, pixels: torch.Tensor, draws: int = 20) -> torch.Tensor:
    """ELBO per image averaged over ``draws`` reparameterised draws (analytic KL): (N,) float64
    on the CPU, nats. model: a Gaussian VAE or a :class:`FixedGaussianPosterior`."""
    with torch.no_grad():
        return torch.stack([elbo(model, pixels, reduction="none").elbo for _ in range(draws)]).mean(0).double().cpu()


def optimize_posteriors(model, pixels: torch.Tensor, steps: int = 300, draws: int = 8,
                        learning_rate: float = 1e-2,
                        start: Optional[Tuple[torch.Tensor, torch.Tensor]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """The best diagonal Gaussian q*(z) for each image, with the decoder held fixed.

    Starts from the encoder's (loc, log_var), or from ``start`` = (loc, log_var), each (N, D),
    and takes ``steps`` Adam steps on the ELBO of every image at once (each image's q has its
    own parameters, so the images do not interact), with ``draws`` reparameterised draws per
    image and step and the analytic KL.
    pixels: float (N, 1, 28, 28). Returns (loc, log_var), each (N, D), detached.
    Draws come from torch's global generator: seed it first for a repeatable result.
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
    if not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws must be a whole number >= 1, got {draws!r}")
    was_training = model.training
    model.eval()
    parameters = list(model.parameters())
    requires = [p.requires_grad for p in parameters]
    try:
        for p in parameters:
            p.requires_grad_(False)
        if start is None:
            with torch.no_grad():
                loc, log_var = model.encode(pixels)
        else:
            loc, log_var = start
            if loc.shape != log_var.shape or loc.ndim != 2 or loc.shape[0] != pixels.shape[0]:
                raise ValueError(f"start must be (loc, log_var), each of shape (N, D) with N = {pixels.shape[0]} "
                                 f"images, got {tuple(loc.shape)} and {tuple(log_var.shape)}")
        loc, log_var = loc.detach().clone().requires_grad_(True), log_var.detach().clone().requires_grad_(True)
        optimizer = torch.optim.Adam([loc, log_var], lr=learning_rate)
        repeated = pixels.repeat(draws, 1, 1, 1)
        for _ in range(steps):
            fixed = FixedGaussianPosterior(model, loc.repeat(draws, 1), log_var.repeat(draws, 1))
            # summed over images (each image's parameters get only their own gradient), mean over draws
            loss = -elbo(fixed, repeated, reduction="none").elbo.sum() / draws
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    finally:
        for p, flag in zip(parameters, requires):
            p.requires_grad_(flag)
        model.train(was_training)
    return loc.detach(), log_var.detach()


def inference_gaps(model, pixels: torch.Tensor, k: int = 1000, steps: int = 300, draws: int = 8,
                   learning_rate: float = 1e-2, elbo_draws: int = 50, check_steps: int = 0) -> Dict[str, torch.Tensor]:
    """Per-image figures of the split log p(x) - ELBO = approximation gap + amortization gap.

    pixels: float (N, 1, 28, 28) (the same N images are optimized and scored together).
    Returns a dict of (N,) float64 CPU tensors in nats: ``elbo_encoder`` (ELBO of the encoder's
    q), ``elbo_optimized`` (ELBO of the per-image q* after ``steps`` Adam steps),
    ``log_likelihood`` (L_k with the encoder's q, the estimate of log p(x)),
    ``amortization_gap`` = elbo_optimized - elbo_encoder, ``approximation_gap`` =
    log_likelihood - elbo_optimized, and ``total_gap`` = log_likelihood - elbo_encoder (their
    sum). ELBOs average ``elbo_draws`` draws. check_steps: if > 0, q* takes that many more
    steps and ``elbo_optimized_longer`` (its ELBO then) is returned too, so that
    elbo_optimized_longer - elbo_optimized says whether q* had converged.
    """
    if not isinstance(check_steps, int) or check_steps < 0:
        raise ValueError(f"check_steps must be a whole number >= 0, got {check_steps!r}")
    was_training = model.training
    model.eval()
    try:
        loc, log_var = optimize_posteriors(model, pixels, steps, draws, learning_rate)
        elbo_encoder = mean_elbo(model, pixels, elbo_draws)
        elbo_optimized = mean_elbo(FixedGaussianPosterior(model, loc, log_var), pixels, elbo_draws)
        log_likelihood = iwae_bound(model, pixels, k).double().cpu()
        longer = {}
        if check_steps:
            loc, log_var = optimize_posteriors(model, pixels, check_steps, draws, learning_rate, start=(loc, log_var))
            longer["elbo_optimized_longer"] = mean_elbo(FixedGaussianPosterior(model, loc, log_var), pixels,
                                                        elbo_draws)
    finally:
        model.train(was_training)
    return dict(elbo_encoder=elbo_encoder, elbo_optimized=elbo_optimized, log_likelihood=log_likelihood,
                amortization_gap=elbo_optimized - elbo_encoder, approximation_gap=log_likelihood - elbo_optimized,
                total_gap=log_likelihood - elbo_encoder, **longer)
