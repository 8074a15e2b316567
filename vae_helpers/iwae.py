"""The importance-weighted autoencoder (IWAE) and log-likelihood estimates for trained models.

With z_1, ..., z_k drawn i.i.d. from q(z|x), the log importance weights are

    log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x)

and the k-sample bound (Burda et al. 2016) is

    L_k(x) = log (1/k) sum_i w_i   <=   log p(x).

L_1 is the ELBO in expectation, E[L_k] never decreases with k, and L_k -> log p(x) as
k -> infinity (the bias shrinks like O(1/k)). :func:`vae_helpers.iwae_bound` computes L_k
without gradients for evaluation; :func:`iwae_parts` computes it with reparameterised
samples so that it can be trained on, which is what :class:`IWAE` does.

Everything is in nats per image; images go in as float (B, 1, 28, 28) in [0, 1].
"""

import math
from typing import Dict, Iterable, Optional

import torch

from .data import to_unit_interval
from .losses import ELBOParts, draw_log_weights, iwae_bound, sample_count
from .models import GaussianVAE, register_model


def _check_k(k) -> int:
    """``k`` as a Python int >= 1 (any integer type), or a ``ValueError`` naming it."""
    return sample_count(k, "k")


def log_importance_weights(model, x: torch.Tensor, k: int, reparameterize: bool = True) -> torch.Tensor:
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) for k draws z_i ~ q(z|x): shape (k, B), nats.

    model: a GaussianVAE, IWAE or CategoricalVAE (anything with ``posterior``, ``prior`` and
    ``log_likelihood``). x: float (B, 1, 28, 28) in [0, 1]. reparameterize: draw with
    ``rsample`` so that gradients reach the encoder through z (only where q has ``rsample``,
    i.e. the Gaussian models; a categorical q is sampled exactly, one-hot). All k draws go
    through the decoder in one batch of k * B images.
    """
    k = _check_k(k)
    return draw_log_weights(model, x, model.posterior(x), k, reparameterize=reparameterize)


def iwae_parts(model, x: torch.Tensor, k: int, reduction: str = "mean") -> ELBOParts:
    """The differentiable k-sample bound L_k, packed as ELBOParts so that ``fit`` can train on it.

    elbo = L_k = logsumexp_i(log w_i) - log k (reparameterised draws, gradients flow to encoder
    and decoder); kl = the analytic KL(q(z|x) || p(z)); log_likelihood = L_k + kl, so that
    log_likelihood - kl is exactly L_k. With k = 1 this is a one-sample ELBO estimate with the
    same expectation as :func:`vae_helpers.elbo`. reduction: ``"mean"`` (shape (), nats per
    image) or ``"none"`` (shape (B,)).
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    k = _check_k(k)
    posterior = model.posterior(x)
    log_weights = draw_log_weights(model, x, posterior, k, reparameterize=True)
    bound = torch.logsumexp(log_weights, dim=0) - math.log(k)
    kl = model.kl_to_prior(posterior)
    parts = ELBOParts(bound, bound + kl, kl)
    return parts.mean() if reduction == "mean" else parts


@register_model
class IWAE(GaussianVAE):
    """A Gaussian VAE trained on the k-sample importance-weighted bound L_k instead of the ELBO.

    Same networks and options as :class:`~vae_helpers.models.GaussianVAE` (784-400-20 by
    default), plus ``k``: the number of importance samples per image in the training objective
    (stored in ``config`` so that checkpoints rebuild it). ``IWAE(k=1)`` trains on the ELBO.

    Careful when reading a :class:`~vae_helpers.training.History` of an IWAE: ``fit`` records
    ``-parts.elbo``, and here ``parts.elbo`` is L_k, so ``train_loss`` and ``test_loss`` are
    **-L_k, not the negative ELBO** (they are lower, i.e. look better, than a VAE's negative
    ELBO for the same model). ``*_kl`` is the analytic KL and ``*_reconstruction`` is
    -(L_k + KL), which is not a reconstruction error. Compare models with
    :func:`log_likelihood_estimates` at the same k instead.
    """

    def __init__(self, k: int = 5, latent_dim: int = 20, hidden_dims=(400,), architecture: str = "mlp",
                 likelihood: str = "bernoulli", gaussian_variance: float = 0.5, seed: Optional[int] = None):
        k = _check_k(k)
        super().__init__(latent_dim, hidden_dims, architecture, likelihood, gaussian_variance, seed)
        self.k = k
        self.config["k"] = k

    def loss_parts(self, x: torch.Tensor) -> ELBOParts:
        """L_k with ``self.k`` reparameterised samples, batch means in nats per image (see :func:`iwae_parts`)."""
        return iwae_parts(self, x, self.k)


def _as_unit_floats(images: torch.Tensor) -> torch.Tensor:
    if images.dtype == torch.uint8:
        return to_unit_interval(images)
    if not images.is_floating_point():
        raise TypeError(f"expected uint8 images or floats in [0, 1], got dtype {images.dtype}")
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError("float images must lie in [0, 1]")
    return images


def importance_weighted_bounds(model, images: torch.Tensor, k: int, batch_size: int = 100,
                               max_samples_per_chunk: int = 50_000, device=None,
                               seed: Optional[int] = None) -> torch.Tensor:
    """L_k(x) for every image, shape (N,) float64 on the CPU, in nats.

    images: uint8 (N, 1, 28, 28) (scaled to [0, 1]) or float (N, 1, 28, 28) in [0, 1] (e.g.
    binarized). The images go through the model ``batch_size`` at a time and
    :func:`vae_helpers.iwae_bound` draws at most ``max_samples_per_chunk`` (images x samples)
    latent codes at once, so memory stays bounded for any k. Runs in eval mode, without
    gradients; seed: if given, seeds torch first so that the estimate is reproducible.
    """
    k = _check_k(k)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive whole number, got {batch_size!r}")
    device = device or next(model.parameters()).device
    pixels = _as_unit_floats(images)
    if seed is not None:
        torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        bounds = [iwae_bound(model, pixels[start:start + batch_size].to(device), k, max_samples_per_chunk).cpu()
                  for start in range(0, len(pixels), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(bounds).double()


def log_likelihood_estimates(model, images: torch.Tensor, ks: Iterable[int], batch_size: int = 100,
                             max_samples_per_chunk: int = 50_000, device=None,
                             seed: Optional[int] = 0) -> Dict[int, float]:
    """Mean L_k over ``images`` for each k in ``ks``: {k: nats per image}.

    The value at the largest k is the usual estimate of log p(x) (a lower bound in
    expectation; -value is the "test negative log-likelihood" of papers). Works for
    GaussianVAE, IWAE and CategoricalVAE (whose q is sampled exactly, one-hot). Arguments as
    in :func:`importance_weighted_bounds`; each k is seeded with ``seed + k`` when seed is given.
    """
    ks = list(ks)
    if not ks:
        raise ValueError("ks must hold at least one number of samples")
    return {k: importance_weighted_bounds(model, images, k, batch_size, max_samples_per_chunk, device,
                                          None if seed is None else seed + k).mean().item()
            for k in ks}
