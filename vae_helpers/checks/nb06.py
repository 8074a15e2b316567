"""Checks for notebook 06's exercises (β-VAE, KL warm-up).

Exercise 1: the β-weighted training loss, checked on fresh random inputs against the package's
likelihood and KL (``bernoulli_log_likelihood``, ``gaussian_kl``), with its gradients, a
closed-form case and the usual wrong placements of β. Exercise 2: the linear KL warm-up
schedule, checked against ``vae_helpers.diagnostics.linear_kl_warmup`` on fresh steps and on
the corner cases (step 0, step T, after T). Failures name the mistake, never a value.
"""

import contextlib
import io
import math

import torch
import torch.nn.functional as F

from ..diagnostics import linear_kl_warmup
from ..losses import bernoulli_log_likelihood, gaussian_kl
from . import ExerciseNotDone, check_function

__all__ = ["reference_beta_vae_loss", "check_beta_vae_loss", "check_warmup_beta"]

PIXELS = 784


# ----------------------------------------------------------------------------- exercise 1: the beta loss


def reference_beta_vae_loss(x: torch.Tensor, logits: torch.Tensor, loc: torch.Tensor, log_var: torch.Tensor,
                            beta: float) -> torch.Tensor:
    """The β-VAE training loss D + β R for one drawn z: per image, the Bernoulli negative
    log-likelihood summed over the 784 pixels plus β times the closed-form KL summed over the
    latent dimensions, averaged over the batch.

    x, logits: (B, 1, 28, 28); loc, log_var: (B, D); beta: a number >= 0. Returns shape (),
    nats per image."""
    return (-bernoulli_log_likelihood(logits, x) + beta * gaussian_kl(loc, log_var)).mean()


def _beta_inputs(generator: torch.Generator) -> tuple:
    batch = int(torch.randint(3, 9, (1,), generator=generator))
    latent = int(torch.randint(2, 7, (1,), generator=generator))
    x = torch.bernoulli(torch.rand(batch, 1, 28, 28, generator=generator), generator=generator)
    logits = 2.0 * torch.randn(batch, 1, 28, 28, generator=generator)
    loc = torch.randn(batch, latent, generator=generator)
    log_var = 0.7 * torch.randn(batch, latent, generator=generator)
    beta = float(0.2 + 7.8 * torch.rand((), generator=generator))
    if abs(beta - 1.0) < 0.3:
        beta += 1.0
    return x, logits, loc, log_var, beta


def _bce(x, logits):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


_BETA_MISTAKES = (
    (lambda x, l, m, v, b: (_bce(x, l) + gaussian_kl(m, v)).mean(),
     "β is missing: the β-VAE loss multiplies the KL term by β"),
    (lambda x, l, m, v, b: (b * _bce(x, l) + gaussian_kl(m, v)).mean(),
     "β multiplies the reconstruction term; in the β-VAE it weights the KL term (the rate)"),
    (lambda x, l, m, v, b: (b * (_bce(x, l) + gaussian_kl(m, v))).mean(),
     "β multiplies the whole loss; it weights only the KL term"),
    (lambda x, l, m, v, b: (_bce(x, l) + gaussian_kl(m, v) / b).mean(),
     "the KL term is divided by β; it is multiplied by β"),
    (lambda x, l, m, v, b: (_bce(x, l) - b * gaussian_kl(m, v)).mean(),
     "the KL term has the wrong sign: the loss adds β KL(q(z|x) || p(z))"),
    (lambda x, l, m, v, b: (_bce(x, l) / PIXELS + b * gaussian_kl(m, v)).mean(),
     "the reconstruction term is averaged over the pixels; the log-likelihood of an image is a sum over "
     "its 784 pixels"),
    (lambda x, l, m, v, b: (_bce(x, l) + b * gaussian_kl(m, v)).sum(),
     "it is summed over the batch; report the mean over the images of the batch (nats per image)"),
    (lambda x, l, m, v, b: (_bce(x, l) + b * gaussian_kl(m, v) / m.shape[1]).mean(),
     "the KL is averaged over the latent dimensions; it is a sum over them"),
    (lambda x, l, m, v, b: (_bce(x, l) + b * 0.5 * (m ** 2 + (2 * v).exp() - 2 * v - 1).sum(1)).mean(),
     "the KL treats log_var as the log of the standard deviation; it is the log of the variance"),
    (lambda x, l, m, v, b: (_bce(x, l) + b * 0.5 * (m ** 2 + v.exp() - v).sum(1)).mean(),
     "the KL misses its '- 1' per latent dimension (KL(N(0, 1) || N(0, 1)) must be 0)"),
    (lambda x, l, m, v, b: (((x - torch.sigmoid(l)) ** 2).flatten(1).sum(1) + b * gaussian_kl(m, v)).mean(),
     "this is a squared error, not the Bernoulli log-likelihood of the pixels; use the binary cross-entropy "
     "on the logits"),
)


def check_beta_vae_loss(function) -> None:
    """Exercise 1: ``beta_vae_loss(x, logits, loc, log_var, beta)`` -> shape (), nats per image."""
    exercise = "Exercise 1"
    with contextlib.redirect_stdout(io.StringIO()):
        check_function(exercise, function, reference_beta_vae_loss, _beta_inputs, trials=4, rtol=1e-4, atol=1e-3,
                       gradient_of=(1, 2, 3), mistakes=_BETA_MISTAKES, name="beta_vae_loss",
                       hint="per image: the Bernoulli negative log-likelihood summed over pixels plus beta times "
                            "the closed-form KL summed over latent dimensions; then the mean over the batch")
    pattern = (torch.arange(4 * PIXELS).reshape(4, 1, 28, 28) % 3 == 0).float()
    zeros = torch.zeros(4, 1, 28, 28)
    at_prior = torch.zeros(4, 3)
    away = torch.ones(4, 3)                      # loc 1, log_var 0: KL = 1/2 per dimension, 3/2 per image
    cases = [
        ((pattern, zeros, at_prior, at_prior, 5.0), PIXELS * math.log(2),
         "with logits 0 everywhere and q(z|x) equal to the prior, the loss must be exactly 784 ln 2 nats per "
         "image, whatever β: check the reduction over pixels and the KL"),
        ((pattern, zeros, away, at_prior, 0.0), PIXELS * math.log(2),
         "with β = 0 the KL must not count at all: β multiplies the KL term"),
        ((pattern, zeros, away, at_prior, 2.0), PIXELS * math.log(2) + 2.0 * 1.5,
         "with logits 0 and q(z|x) = N(1, 1) in 3 dimensions the loss must be 784 ln 2 + β * 3/2 nats: "
         "β multiplies the KL summed over latent dimensions"),
    ]
    check_function(exercise, function, reference_beta_vae_loss, _beta_inputs, trials=0, cases=cases, rtol=1e-4,
                   atol=1e-3, name="beta_vae_loss")


# ----------------------------------------------------------------------------- exercise 2: the warm-up


def _reference_warmup(step: int, n_steps: int) -> float:
    return linear_kl_warmup(n_steps)(step)


def _warmup_inputs(generator: torch.Generator) -> tuple:
    n_steps = int(torch.randint(5, 500, (1,), generator=generator))
    step = int(torch.randint(0, 3 * n_steps, (1,), generator=generator))
    return step, n_steps


_WARMUP_MISTAKES = (
    (lambda t, n: t / n, "β keeps growing after step T; it stays at 1 once the warm-up is over"),
    (lambda t, n: min(1.0, (t + 1) / n), "it is one step early: at step 0 the KL weight is 0"),
    (lambda t, n: min(1.0, t / (n - 1)), "it reaches 1 one step early: β = t / T reaches 1 at step T"),
    (lambda t, n: max(0.0, 1.0 - t / n), "β falls from 1 to 0; a warm-up rises from 0 to 1"),
)


def check_warmup_beta(function) -> None:
    """Exercise 2: ``warmup_beta(step, n_steps)`` -> the KL weight min(1, step / n_steps), a number."""
    exercise = "Exercise 2"
    if function is None or function is Ellipsis:
        raise ExerciseNotDone(f"{exercise}: no answer yet; assign your function")
    cases = [((0, 100), 0.0, "at step 0 the KL weight must be 0: training starts without the KL term"),
             ((50, 100), 0.5, "half-way through the warm-up the KL weight must be 1/2: it rises linearly"),
             ((100, 100), 1.0, "at step T the KL weight must be 1"),
             ((1000, 100), 1.0, "after step T the KL weight must stay 1")]
    with contextlib.redirect_stdout(io.StringIO()):
        check_function(exercise, function, _reference_warmup, _warmup_inputs, trials=0, cases=cases, rtol=1e-6,
                       atol=1e-9, name="warmup_beta")
    check_function(exercise, function, _reference_warmup, _warmup_inputs, trials=12, rtol=1e-6, atol=1e-9,
                   mistakes=_WARMUP_MISTAKES, name="warmup_beta",
                   hint="beta_t = min(1, t / T), with t counted in optimisation steps from 0")
