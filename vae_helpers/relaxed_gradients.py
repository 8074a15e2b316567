"""Gradients through a categorical draw, measured, and the Concrete density of the relaxed draw.

The objective of a categorical latent with logits l (K,) and a downstream function f is

    F(l) = E_{z ~ Cat(softmax(l))} [f(z)] = sum_k softmax(l)_k f(e_k),

where e_k is the k-th one-hot vector. For a small K the sum is enumerated, so its gradient
``exact_gradient`` is exact. The Gumbel-Softmax ("soft") estimator differentiates f at the relaxed
sample y = softmax((l + g) / tau); the straight-through estimator evaluates f at the one-hot
argmax and passes back the soft sample's Jacobian. ``estimator_study`` measures the bias and
the variance of both against the exact gradient, one temperature at a time.

The relaxed sample y has a density on the simplex, the Concrete density (Maddison et al. 2017):
``concrete_log_density``. With it, a model whose latent *is* the relaxed y (a Concrete prior, a
decoder that reads y) has an honest evidence lower bound, ``relaxed_log_weights``: it bounds
the log-likelihood of that relaxed model, not of the model with a discrete code.
"""

import math
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from .gumbel import check_temperature, gumbel_softmax, sample_gumbel

__all__ = ["expected_value", "exact_gradient", "sampled_gradients", "estimator_study",
           "exp_concrete_log_density", "concrete_log_density", "relaxed_log_weights"]


def _one_hot_vectors(logits: torch.Tensor) -> torch.Tensor:
    return torch.eye(logits.shape[-1], dtype=logits.dtype, device=logits.device)


def expected_value(logits: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """E_{z ~ Cat(softmax(logits))}[f(z)] by enumerating the K one-hot vectors.

    logits: (K,) float. f: maps one-hot or relaxed vectors (n, K) to values (n,).
    Returns a 0-d tensor, differentiable in ``logits``.
    """
    return (F.softmax(logits, dim=-1) * f(_one_hot_vectors(logits))).sum()


def exact_gradient(logits: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The exact gradient of :func:`expected_value` with respect to ``logits``: (K,)."""
    leaf = logits.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(expected_value(leaf, f), leaf)
    return gradient


def sampled_gradients(logits: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor], tau: float,
                      n_samples: int, hard: bool = False,
                      generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """One single-sample gradient estimate per row: (n_samples, K).

    Row i is d f(y_i) / d logits with y_i = gumbel_softmax(logits, tau, hard) drawn with fresh
    noise: the soft estimator (``hard=False``) or the straight-through one (``hard=True``).
    """
    check_temperature(tau)
    rows = logits.detach().expand(n_samples, logits.shape[-1]).clone().requires_grad_(True)
    y = gumbel_softmax(rows, tau=tau, hard=hard, generator=generator)
    (gradients,) = torch.autograd.grad(f(y).sum(), rows)
    return gradients


def estimator_study(logits: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor], taus: Sequence[float],
                    n_samples: int, hard: bool, seed: int = 0, chunk_size: int = 250_000) -> dict:
    """Bias and variance of a single-sample estimator of ``exact_gradient(logits, f)``, per tau.

    Returns a dict of float64 tensors of shape (len(taus),):
    ``bias``: |E[estimate] - exact| (Euclidean norm over the K logits), with E estimated by the
    mean of ``n_samples`` draws; ``bias_standard_error``: the Monte Carlo standard error of that
    norm (the norm of the per-coordinate standard errors), which is also the noise floor: the size
    the estimated bias has on average when the true bias is 0; ``variance``: the total variance
    sum_k Var[estimate_k] of one draw. The exact gradient is also returned, as ``exact`` (K,).
    The draws are made ``chunk_size`` at a time (memory grows with the chunk, not with
    ``n_samples``); temperature number i uses the generator seed ``seed + i``.
    """
    if not isinstance(n_samples, int) or n_samples < 2:
        raise ValueError(f"n_samples must be a whole number >= 2, got {n_samples!r}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive whole number, got {chunk_size!r}")
    exact = exact_gradient(logits.double(), f)
    bias, bias_error, variance = [], [], []
    for index, tau in enumerate(taus):
        generator = torch.Generator().manual_seed(seed + index)
        total = torch.zeros_like(exact)
        total_of_squares = torch.zeros_like(exact)
        for start in range(0, n_samples, chunk_size):
            estimates = sampled_gradients(logits.double(), f, tau, min(chunk_size, n_samples - start), hard,
                                          generator)
            centred = estimates - exact  # centred on the exact gradient: no cancellation in the sums
            total += centred.sum(0)
            total_of_squares += (centred ** 2).sum(0)
        mean_error = total / n_samples
        per_coordinate_variance = (total_of_squares - n_samples * mean_error ** 2) / (n_samples - 1)
        bias.append(mean_error.norm())
        bias_error.append((per_coordinate_variance / n_samples).sum().sqrt())
        variance.append(per_coordinate_variance.sum())
    return {"bias": torch.stack(bias), "bias_standard_error": torch.stack(bias_error),
            "variance": torch.stack(variance), "exact": exact}


def exp_concrete_log_density(log_y: torch.Tensor, logits: torch.Tensor, tau) -> torch.Tensor:
    """Log density of x = log y, y ~ Concrete(softmax(logits), tau) (Maddison et al. 2017):

        log p(x) = log (K-1)! + (K-1) log tau + sum_k (a_k - tau x_k) - K logsumexp_k(a_k - tau x_k),

    with a = log_softmax(logits). log_y, logits: (..., K). Returns (...,) nats. Working with
    log y keeps it finite where coordinates of y underflow.
    """
    n_classes = logits.shape[-1]
    tau = torch.as_tensor(tau, dtype=log_y.dtype, device=log_y.device)
    scores = F.log_softmax(logits, dim=-1) - tau * log_y
    return (math.lgamma(n_classes) + (n_classes - 1) * torch.log(tau)
            + scores.sum(-1) - n_classes * torch.logsumexp(scores, dim=-1))


def concrete_log_density(y: torch.Tensor, logits: torch.Tensor, tau) -> torch.Tensor:
    """Log density of the Concrete (Gumbel-Softmax) distribution at points y of the simplex:

        p(y) = (K-1)! tau^(K-1) prod_k [ pi_k y_k^(-tau-1) / sum_j pi_j y_j^(-tau) ],

    pi = softmax(logits) (Maddison et al. 2017, eq. 3; Jang et al. 2017). y, logits: (..., K),
    y on the open simplex. Returns (...,) nats; the same as
    ``torch.distributions.RelaxedOneHotCategorical(tau, logits=logits).log_prob(y)``.
    """
    log_y = torch.log(y)
    return exp_concrete_log_density(log_y, logits, tau) - log_y.sum(-1)


def relaxed_log_weights(model, x: torch.Tensor, tau: float, prior_tau: float, k: int = 1,
                        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """log p(x|y) + log p(y) - log q(y|x) for k relaxed draws y ~ q per image: (k, B) nats.

    The *relaxed model* has a continuous latent y on the simplex of each of the model's N
    variables, prior p(y) = prod_n Concrete(uniform, prior_tau), and the decoder of ``model``
    reading y. q(y|x) = prod_n Concrete(softmax(encoder logits), tau). The mean over draws is that
    model's ELBO (Maddison et al. 2017, eq. 21), a lower bound on its log p(x); logsumexp over
    the k draws minus log k is its importance-weighted bound L_k, which rises towards log p(x).
    Densities are computed on log y (the ExpConcrete form), which gives the same density ratio.
    model: a ``CategoricalVAE`` (``encode`` -> (B, N, K) logits, ``log_likelihood(x, y)``).
    generator: draws the Gumbel noise (in the logits' dtype), one (B, N, K) draw per sample, so
    the same generator seed gives the same y.
    """
    check_temperature(tau)
    check_temperature(prior_tau, "prior_tau")
    logits = model.encode(x)
    weights = []
    for _ in range(k):
        noise = sample_gumbel(logits.shape, logits.device, logits.dtype, generator)
        log_y = F.log_softmax((logits + noise) / tau, dim=-1)
        log_q = exp_concrete_log_density(log_y, logits, tau).sum(-1)
        log_prior = exp_concrete_log_density(log_y, torch.zeros_like(logits), prior_tau).sum(-1)
        weights.append(model.log_likelihood(x, log_y.exp()) + log_prior - log_q)
    return torch.stack(weights)
