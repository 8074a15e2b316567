"""Checks of notebook 04's exercises (the reparameterization trick).

Each check runs the learner's function on fresh random inputs and compares it with the
package (``vh.gaussian_kl``) or with properties that any correct answer has (a reparameterized
draw is ``loc + sigma * eps`` with standard normal ``eps`` and the gradients of that formula),
so a copied number or a constant cannot pass. Failures name the mistake, never a number.
"""

import math

import torch

from ..losses import gaussian_kl
from . import _call, function_name, answer_tensor, check_function, fresh_generator

__all__ = ["check_reparameterized_sample", "check_gaussian_kl", "check_baseline_score_estimates"]

# Draws checked per call of the sampler: (rows, latent dimensions). With 20,000 standardized
# draws, the mean of a correct sampler is within 6 standard errors of 0 except once in 10^8 runs.
_ROWS, _DIMS = 4000, 5


def _standard_normal_like(values: torch.Tensor) -> bool:
    """Do ``values`` (float64, any shape) look like i.i.d. N(0, 1) draws? Mean and variance
    within 6 standard errors, and no more than a few in 10,000 beyond 4 (a normal has 6e-5)."""
    n = values.numel()
    mean_ok = abs(float(values.mean())) < 6 / math.sqrt(n)
    variance_ok = abs(float(values.var()) - 1) < 6 * math.sqrt(2 / n)
    return mean_ok and variance_ok


def check_reparameterized_sample(function) -> None:
    """Exercise 1: ``reparameterized_sample(loc, log_var) -> z``, shape (B, D), one draw of
    N(loc, diag(exp(log_var))) that autograd can differentiate with respect to loc and log_var.

    Checked on fresh inputs: the shape; that (z - loc) / sigma is standard normal (so seed 001's
    uniform noise, seed 003's noise that ignores loc and sigma, and the variance used as the
    standard deviation are each recognised and named); and the exact gradients dz/dloc = 1 and
    dz/dlog_var = (z - loc) / 2.
    """
    exercise = "Exercise 1"
    name = function_name(exercise, function)
    generator = fresh_generator()
    loc = 2 * torch.randn(_ROWS, _DIMS, generator=generator)
    log_var = 3 * torch.rand(_ROWS, _DIMS, generator=generator) - 2  # sigma between e^-1 and e^0.5
    loc_leaf, log_var_leaf = loc.clone().requires_grad_(True), log_var.clone().requires_grad_(True)
    z = _call(exercise, function, (loc_leaf, log_var_leaf), name)
    if not isinstance(z, torch.Tensor):
        raise AssertionError(f"{exercise}: {name} should return a torch.Tensor, got {type(z).__name__}")
    values = answer_tensor(exercise, z, shape=(_ROWS, _DIMS), what=f"{name}'s output")
    loc, log_var = loc.double(), log_var.double()
    if _standard_normal_like(values):
        raise AssertionError(f"{exercise}: z ignores loc and sigma: it is pure standard normal noise (seed 003's "
                             "z = torch.randn_like(mu)); the encoder would get no gradient from the "
                             "reconstruction. Return loc + sigma * eps")
    if not z.requires_grad:
        raise AssertionError(f"{exercise}: {name}'s output is not differentiable with respect to loc and log_var "
                             "(sample() instead of rsample(), a .detach() or numpy in the way?)")
    standardized = (values - loc) / torch.exp(log_var / 2)
    if not _standard_normal_like(standardized):
        if float(standardized.std()) < 1e-6:
            reason = "z has no noise in it (it equals loc); add sigma * eps with eps ~ N(0, 1)"
        elif float(standardized.min()) >= 0 and float(standardized.max()) < 1:
            reason = ("the noise is uniform on [0, 1), as with seed 001's torch.rand_like; a standard normal "
                      "eps comes from torch.randn_like")
        elif _standard_normal_like((values - loc) / torch.exp(log_var)):
            reason = ("the noise is scaled by the variance exp(log_var); the standard deviation is "
                      "sigma = exp(log_var / 2)")
        elif _standard_normal_like((values - loc) / log_var.abs().clamp_min(1e-12)):
            reason = "the noise is scaled by log_var itself; sigma = exp(log_var / 2)"
        else:
            reason = "(z - loc) / sigma is not standard normal; z should be loc + exp(log_var / 2) * eps"
        raise AssertionError(f"{exercise}: {reason}")
    gradient_loc, gradient_log_var = torch.autograd.grad(z.sum(), [loc_leaf, log_var_leaf], allow_unused=True)
    if gradient_loc is None or not torch.allclose(gradient_loc.double(), torch.ones_like(loc), atol=1e-4):
        raise AssertionError(f"{exercise}: the gradient of z with respect to loc should be 1 everywhere; "
                             "z must be loc plus noise")
    expected = 0.5 * (values - loc)
    if gradient_log_var is None:
        raise AssertionError(f"{exercise}: no gradient reaches log_var: is sigma computed from a detached copy?")
    gradient_log_var = gradient_log_var.double()
    if not torch.allclose(gradient_log_var, expected, rtol=1e-3, atol=1e-4):
        if torch.allclose(gradient_log_var, 2 * expected, rtol=1e-3, atol=1e-4):
            reason = "the gradient with respect to log_var is off by a factor 2: sigma = exp(log_var / 2)"
        else:
            reason = ("the gradient with respect to log_var is wrong: z must depend on log_var only through "
                      "sigma = exp(log_var / 2), with the noise held fixed")
        raise AssertionError(f"{exercise}: {reason}")
    print(f"{exercise}: correct.")


def _kl_inputs(generator: torch.Generator) -> tuple:
    rows = int(torch.randint(2, 9, (1,), generator=generator))
    dims = int(torch.randint(3, 12, (1,), generator=generator))
    return 1.5 * torch.randn(rows, dims, generator=generator), torch.randn(rows, dims, generator=generator)


def check_gaussian_kl(function) -> None:
    """Exercise 2: ``gaussian_kl_to_prior(loc, log_var) -> (B,)``, KL(N(loc, diag(exp(log_var)))
    || N(0, I)) in nats per datapoint, summed over the D latent dimensions; differentiable."""
    exercise = "Exercise 2"
    zeros = torch.zeros(3, 4)
    if callable(function):
        output = _call(exercise, function, (zeros, zeros), getattr(function, "__name__", "your function"))
        if isinstance(output, torch.Tensor) and output.ndim == 0:
            raise AssertionError(f"{exercise}: the output is one number for the whole batch; return one KL per "
                                 "row (shape (B,)), summed over the latent dimensions only")
    check_function(
        exercise, function, gaussian_kl, _kl_inputs, gradient_of=(0, 1),
        cases=[((zeros, zeros), torch.zeros(3), "KL(N(0, I) || N(0, I)) must be 0 (check the '- 1' and the "
                "'- log_var' terms)")],
        mistakes=[(lambda loc, log_var: 0.5 * (loc**2 + log_var.exp() - log_var - 1).mean(1),
                   "it averages over the latent dimensions; the KL of independent dimensions is their sum"),
                  (lambda loc, log_var: 0.5 * (loc**2 + (0.5 * log_var).exp() - log_var - 1).sum(1),
                   "it uses sigma where the formula has the variance sigma^2 = exp(log_var)"),
                  (lambda loc, log_var: 0.5 * (loc**2 + log_var.exp() - log_var).sum(1),
                   "the '- 1' per dimension is missing"),
                  (lambda loc, log_var: 0.5 * (loc**2 + log_var.exp() + log_var - 1).sum(1),
                   "the sign of the log_var term is wrong")],
        hint="KL = 1/2 * sum over dimensions of (loc^2 + exp(log_var) - log_var - 1), one value per row",
        name="gaussian_kl_to_prior")


def _toy_objective(z: torch.Tensor) -> torch.Tensor:
    return (z - 2.0) ** 2


def _baseline_reference(z, mu, sigma, baseline):
    return (_toy_objective(z) - baseline) * (z - mu) / sigma**2


def _baseline_inputs(generator: torch.Generator) -> tuple:
    mu = float(torch.randn((), generator=generator) * 2)
    sigma = float(torch.rand((), generator=generator) * 1.5 + 0.5)
    z = mu + sigma * torch.randn(int(torch.randint(5, 50, (1,), generator=generator)), generator=generator)
    baseline = float(torch.rand((), generator=generator) * 10)
    return z, mu, sigma, baseline


def check_baseline_score_estimates(function) -> None:
    """Exercise 3: ``baseline_score_estimates(z, mu, sigma, baseline) -> (n,)``, the one-draw
    score-function estimates (f(z) - b) (z - mu) / sigma^2 of dJ/dmu for f(z) = (z - 2)^2."""
    check_function(
        "Exercise 3", function, _baseline_reference, _baseline_inputs,
        mistakes=[(lambda z, mu, sigma, b: _toy_objective(z) * (z - mu) / sigma**2,
                   "the baseline is not subtracted from f(z)"),
                  (lambda z, mu, sigma, b: (_toy_objective(z) + b) * (z - mu) / sigma**2,
                   "the baseline is added to f(z) instead of subtracted"),
                  (lambda z, mu, sigma, b: (_toy_objective(z) - b) * (z - mu) / sigma,
                   "the score of N(mu, sigma^2) is (z - mu) / sigma^2, not (z - mu) / sigma"),
                  (lambda z, mu, sigma, b: _toy_objective(z) * (z - mu) / sigma**2 - b,
                   "the baseline multiplies the score too: (f(z) - b) * (z - mu) / sigma^2")],
        hint="each estimate is (f(z) - b) times the score d/dmu log N(z; mu, sigma^2)",
        name="baseline_score_estimates")
