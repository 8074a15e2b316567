"""Checks for notebook 06's exercises (β-VAE, KL warm-up).

Exercise 1: the β-weighted training loss, checked on fresh random inputs against the package's
likelihood and KL (``bernoulli_log_likelihood``, ``gaussian_kl``), with its gradients, a
closed-form case and the usual wrong placements of β. Exercise 2: a cyclical KL schedule (Fu et
al. 2019), which the package does not provide, checked on fresh cycle lengths, ramp fractions
and steps. Failures name the mistake, never a value.
"""

import contextlib
import io
import math

import torch
import torch.nn.functional as F

from ..losses import bernoulli_log_likelihood, gaussian_kl
from . import ExerciseNotDone, check_function, random_vae_batch

__all__ = ["reference_beta_vae_loss", "check_beta_vae_loss", "check_cyclical_beta"]

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
    x, logits, loc, log_var = random_vae_batch(generator)
    beta = float(0.2 + 7.8 * torch.rand((), generator=generator))
    if abs(beta - 1.0) < 0.3:
        beta += 1.0
    if abs(beta ** 2 - loc.shape[1]) < 0.5 * loc.shape[1]:  # beta * KL / D would equal KL / beta: mistakes alike
        beta += 3.0
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


# ----------------------------------------------------------------------------- exercise 2: a cyclical schedule


def _reference_cyclical(step: int, cycle_steps: int, ramp_fraction: float) -> float:
    position = (step % cycle_steps) / cycle_steps          # where in its cycle the step falls, in [0, 1)
    return min(1.0, position / ramp_fraction)


def _cyclical_inputs(generator: torch.Generator) -> tuple:
    cycle_steps = int(torch.randint(10, 300, (1,), generator=generator))
    ramp_fraction = round(float(0.2 + 0.7 * torch.rand((), generator=generator)), 3)
    step = int(torch.randint(0, 5 * cycle_steps, (1,), generator=generator))
    return step, cycle_steps, ramp_fraction


_CYCLICAL_MISTAKES = (
    (lambda t, c, r: min(1.0, t / (r * c)),
     "it never starts again: a cyclical schedule restarts from zero at the start of every cycle (use the step's "
     "position within its cycle)"),
    (lambda t, c, r: (t % c) / c,
     "it ramps over the whole cycle; the rise takes only the ramp fraction of each cycle, then β stays at 1"),
    (lambda t, c, r: (t % c) / (r * c),
     "β keeps growing after the ramp; it stays at 1 for the rest of the cycle"),
    (lambda t, c, r: min(1.0, (t % c) / c * r),
     "the ramp fraction multiplies the position; the rise ends when the position within the cycle reaches the "
     "ramp fraction, so divide by it"),
    (lambda t, c, r: min(1.0, ((t + 1) % c) / (r * c)),
     "it is one step early: steps are counted from 0, and the first step of each cycle has the smallest weight"),
    (lambda t, c, r: max(0.0, 1.0 - (t % c) / (r * c)),
     "β falls within each cycle; it rises from zero to one"),
)


def check_cyclical_beta(function) -> None:
    """Exercise 2: ``cyclical_beta(step, cycle_steps, ramp_fraction)`` -> the KL weight, a number:
    within each cycle of ``cycle_steps`` steps it rises linearly from 0 over the first
    ``ramp_fraction`` of the cycle, then stays 1 until the cycle ends (Fu et al. 2019)."""
    exercise = "Exercise 2"
    if function is None or function is Ellipsis:
        raise ExerciseNotDone(f"{exercise}: no answer yet; assign your function")
    check_function(exercise, function, _reference_cyclical, _cyclical_inputs, trials=20, rtol=1e-6, atol=1e-9,
                   mistakes=_CYCLICAL_MISTAKES, name="cyclical_beta",
                   hint="find the step's position within its cycle (a fraction from 0 up to 1), divide it by the ramp "
                        "fraction, and cap the result at 1")
