"""Checks of notebook 04's exercises (the reparameterization trick).

Each check runs the learner's function on fresh random inputs and compares it with the
package (``vh.gaussian_kl``) or with properties that any correct answer has (a reparameterized
draw is ``loc + sigma * eps`` with standard normal ``eps`` and the gradients of that formula),
so a copied number or a constant cannot pass. Failures name the mistake, never a number.
"""

import math
from typing import Optional

import torch

from ..losses import gaussian_kl
from . import _call, function_name, answer_tensor, check_function, fresh_generator

__all__ = ["check_reparameterized_sample", "check_gaussian_kl", "check_optimal_baseline"]

# Draws checked per call of the sampler: (rows, latent dimensions). Every test below is set at
# about 6 standard errors (or a Kolmogorov-Smirnov distance with a tail probability near 1e-8),
# so a correct sampler fails about once in 10^7 runs, while a 2 % error in the noise's scale
# (a variance 4 % off) lies more than 12 standard errors out.
_ROWS, _DIMS = 40_000, 5
_KS_LIMIT = 3.1  # sqrt(rows) * KS distance; P(exceeded by a true N(0, 1) column) ~ 2 exp(-2 * 3.1^2) ~ 1e-8


def _normal_cdf(values: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(values / math.sqrt(2)))


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-300))


def _noise_problem(noise: torch.Tensor) -> Optional[str]:
    """None when ``noise`` (rows, dims), float64, looks like i.i.d. N(0, 1) draws; otherwise a
    phrase (without numbers) naming the first property that fails: independence between columns
    (largest correlation), independence between rows (the first half against the second, and each
    row against the next), the mean, the variance, and the shape of the distribution of each
    column (Kolmogorov-Smirnov against N(0, 1))."""
    rows, dims = noise.shape
    n = noise.numel()
    standardized = (noise - noise.mean(0)) / noise.std(0)
    correlations = (standardized.T @ standardized) / (rows - 1) - torch.eye(dims, dtype=noise.dtype)
    if float(correlations.abs().max()) > 6 / math.sqrt(rows):
        return ("its latent dimensions are correlated (do they share one eps?); every entry of z needs its own "
                "independent eps, as torch.randn_like(loc) gives")
    half = rows // 2
    if (abs(_correlation(noise[:half].flatten(), noise[half:2 * half].flatten())) > 6 / math.sqrt(half * dims)
            or abs(_correlation(noise[:-1].flatten(), noise[1:].flatten())) > 6 / math.sqrt((rows - 1) * dims)):
        return ("the rows are not independent (antithetic or repeated noise?); every image needs its own "
                "independent eps")
    if abs(float(noise.mean())) > 6 / math.sqrt(n):
        return "its mean is not 0"
    if abs(float(noise.var()) - 1) > 6 * math.sqrt(2 / n):
        return "its variance is not 1 (a scale error in the noise)"
    ordered = noise.sort(dim=0).values
    cdf = _normal_cdf(ordered)
    steps = torch.arange(rows + 1, dtype=noise.dtype).unsqueeze(1) / rows
    distance = torch.maximum(steps[1:] - cdf, cdf - steps[:-1]).max()
    if float(distance) * math.sqrt(rows) > _KS_LIMIT:
        return ("its distribution is not normal (a Kolmogorov-Smirnov test per latent dimension rejects it: "
                "uniform, Laplace or two-valued noise has the right mean and variance but the wrong shape)")
    return None


def _standard_normal_like(values: torch.Tensor) -> bool:
    """Do ``values`` (float64, shape (rows, dims)) look like i.i.d. N(0, 1) draws? See :func:`_noise_problem`."""
    return _noise_problem(values) is None


def check_reparameterized_sample(function) -> None:
    """Exercise 1: ``reparameterized_sample(loc, log_var) -> z``, shape (B, D), one draw of
    N(loc, diag(exp(log_var))) that autograd can differentiate with respect to loc and log_var.

    Refuses a call of ``rsample()`` (the method the exercise rebuilds). Checked on fresh inputs:
    the shape; fresh noise on every call; that (z - loc) / sigma is
    i.i.d. standard normal (mean, variance, a Kolmogorov-Smirnov test per dimension, no correlation
    between dimensions or between rows), so seed 001's uniform noise (raw or rescaled), seed 003's
    noise that ignores loc and sigma, the variance used as the standard deviation, two-valued or
    Laplace noise, one eps shared by all dimensions, antithetic rows and a scale error are each
    recognised; and the exact gradients dz/dloc = 1 and dz/dlog_var = (z - loc) / 2.
    """
    exercise = "Exercise 1"
    name = function_name(exercise, function)
    if "rsample" in getattr(getattr(function, "__code__", None), "co_names", ()):
        raise AssertionError(f"{exercise}: {name} calls rsample(), the method this exercise rebuilds; write the "
                             "draw yourself from loc, log_var and torch.randn_like")
    generator = fresh_generator()
    loc = 2 * torch.randn(_ROWS, _DIMS, generator=generator)
    log_var = 3 * torch.rand(_ROWS, _DIMS, generator=generator) - 2  # sigma between e^-1 and e^0.5
    loc_leaf, log_var_leaf = loc.clone().requires_grad_(True), log_var.clone().requires_grad_(True)
    z = _call(exercise, function, (loc_leaf, log_var_leaf), name)
    if not isinstance(z, torch.Tensor):
        raise AssertionError(f"{exercise}: {name} should return a torch.Tensor, got {type(z).__name__}")
    values = answer_tensor(exercise, z, shape=(_ROWS, _DIMS), what=f"{name}'s output")
    again = _call(exercise, function, (loc.clone(), log_var.clone()), name)
    if isinstance(again, torch.Tensor) and again.shape == z.shape and torch.equal(again.detach().cpu(), z.detach().cpu()) \
            and float(values.sub(loc.double()).abs().max()) > 0:
        raise AssertionError(f"{exercise}: {name} returns the same draw on every call (a torch.manual_seed inside "
                             "it?); each call must draw fresh noise")
    loc, log_var = loc.double(), log_var.double()
    if _standard_normal_like(values):
        raise AssertionError(f"{exercise}: z ignores loc and sigma: it is pure standard normal noise (seed 003's "
                             "z = torch.randn_like(mu)); the encoder would get no gradient from the "
                             "reconstruction. Return loc + sigma * eps")
    if not z.requires_grad:
        raise AssertionError(f"{exercise}: {name}'s output is not differentiable with respect to loc and log_var "
                             "(sample() instead of rsample(), a .detach() or numpy in the way?)")
    standardized = (values - loc) / torch.exp(log_var / 2)
    problem = _noise_problem(standardized)
    if problem is not None:
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
        elif torch.unique(standardized.float()).numel() < 100:
            reason = ("the noise takes only a few distinct values (a sign or a coin flip?); eps must be "
                      "standard normal, from torch.randn_like")
        else:
            reason = f"(z - loc) / sigma is not i.i.d. standard normal: {problem}"
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


# Names whose appearance in the learner's code means a package function does the work.
_PACKAGE_NAMES = {"vh", "vae_helpers", "gaussian_kl", "losses"}


def check_gaussian_kl(function) -> None:
    """Exercise 2: ``gaussian_kl_to_prior(loc, log_var) -> (B,)``, KL(N(loc, diag(exp(log_var)))
    || N(0, I)) in nats per datapoint, summed over the D latent dimensions; differentiable.

    Refuses an answer whose code calls the package (``vh.gaussian_kl``, the reference it is
    compared with); checks the output's shape first (a sum over the batch or a kept dimension is
    named as such), then compares with the package on fresh inputs, gradients included."""
    exercise = "Exercise 2"
    name = function_name(exercise, function)
    code = getattr(function, "__code__", None)
    used = set(getattr(code, "co_names", ())) | set(getattr(code, "co_freevars", ()))
    if used & _PACKAGE_NAMES:
        raise AssertionError(f"{exercise}: {name} calls the package ({', '.join(sorted(used & _PACKAGE_NAMES))}); "
                             "call no package function: write the formula yourself")
    zeros = torch.zeros(3, 4)
    output = _call(exercise, function, (zeros, zeros), name)
    if isinstance(output, torch.Tensor) and output.ndim == 0:
        raise AssertionError(f"{exercise}: the output is one number for the whole batch; return one KL per "
                             "row (shape (B,)), summed over the latent dimensions only")
    if isinstance(output, torch.Tensor) and tuple(output.shape) != (3,):
        if tuple(output.shape) == (4,):
            reason = "it sums over the batch (dim 0); sum over the latent dimensions (dim 1) instead"
        elif tuple(output.shape) == (3, 1):
            reason = "it keeps the summed dimension (keepdim=True); return a flat vector"
        else:
            reason = "sum over the latent dimensions only"
        raise AssertionError(f"{exercise}: the output should have one KL per row, shape (B,), got shape "
                             f"{tuple(output.shape)}: {reason}")
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
        hint=("per dimension, KL = E_q[log q(z) - log p(z)]: minus the entropy of N(loc, sigma^2) plus the "
              "expected -log N(z; 0, 1), with E_q[z^2] = loc^2 + sigma^2; sum over dimensions, one value per row"),
        name=name)


def _toy_objective(z: torch.Tensor) -> torch.Tensor:
    return (z - 2.0) ** 2


def _optimal_baseline_reference(z, mu, sigma):
    score = (z - mu) / sigma**2
    return (_toy_objective(z) * score**2).mean() / (score**2).mean()


def _baseline_inputs(generator: torch.Generator) -> tuple:
    mu = float(torch.randn((), generator=generator) * 2)
    sigma = float(torch.rand((), generator=generator) * 1.5 + 0.5)
    z = mu + sigma * torch.randn(int(torch.randint(5, 50, (1,), generator=generator)), generator=generator)
    return z, mu, sigma


def check_optimal_baseline(function) -> None:
    """Exercise 3: ``optimal_baseline(z, mu, sigma) -> b``, a single number: the estimate, from the
    draws ``z`` (n,) of N(mu, sigma^2), of the constant b that minimises the variance of the
    score-function estimate (f(z) - b) s(z) of dJ/dmu, with f(z) = (z - 2)^2 and s(z) = (z - mu) /
    sigma^2: b* = E[f s^2] / E[s^2], each expectation replaced by an average over the draws.

    Compared with that estimate on fresh draws; the usual baseline (the mean of f), an unsquared
    score, a missing denominator and the closed form for this f (which does not use the draws) are
    each named."""
    check_function(
        "Exercise 3", function, _optimal_baseline_reference, _baseline_inputs,
        mistakes=[(lambda z, mu, sigma: _toy_objective(z).mean(),
                   "it is the mean of f(z), an estimate of J(mu) (the usual baseline); the variance-minimising "
                   "one weights each f(z) by its squared score"),
                  (lambda z, mu, sigma: (_toy_objective(z) * (z - mu) / sigma**2).mean() / ((z - mu) / sigma**2).mean(),
                   "the score enters squared: the variance is E[(f - b)^2 s^2] - (dJ/dmu)^2"),
                  (lambda z, mu, sigma: (_toy_objective(z) * ((z - mu) / sigma**2) ** 2).mean(),
                   "the denominator is missing: b* is a ratio of two expectations"),
                  (lambda z, mu, sigma: torch.tensor((mu - 2.0) ** 2 + 3 * sigma**2),
                   "it does not use the draws: treat f as a black box and replace each expectation by an average "
                   "of f(z) and s(z) over the draws"),
                  (lambda z, mu, sigma: torch.tensor((mu - 2.0) ** 2 + sigma**2),
                   "it is J(mu) in closed form, the usual baseline, not the variance-minimising one")],
        hint=("write the variance of (f(z) - b) s(z) as a function of b, set its derivative with respect to b to "
              "0, then estimate each expectation by an average over the draws"),
        name="optimal_baseline")
