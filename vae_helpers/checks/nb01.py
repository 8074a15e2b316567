"""Checks for notebook 01's exercises (probability basics).

References are computed here (``torch.distributions`` and closed forms), never in a notebook cell;
failures name the mistake and never print a value.
"""

import contextlib
import io
import math

import torch
from torch.distributions import Normal, kl_divergence

from . import _call, answer_number, check_function, check_number, fresh_generator

__all__ = ["check_kl_answer", "check_second_moment", "check_posterior_on_grid", "reference_posterior_on_grid"]


def _kl(mu_q, sigma_q, mu_p, sigma_p) -> float:
    return float(kl_divergence(Normal(torch.tensor(mu_q, dtype=torch.float64), torch.tensor(sigma_q, dtype=torch.float64)),
                               Normal(torch.tensor(mu_p, dtype=torch.float64), torch.tensor(sigma_p, dtype=torch.float64))))


def check_kl_answer(answer) -> None:
    """Exercise 1: KL(N(1, 0.5^2) || N(-1, 1.5^2)) in nats."""
    expected = _kl(1.0, 0.5, -1.0, 1.5)
    mistakes = (
        (_kl(-1.0, 1.5, 1.0, 0.5), "that is KL(p || q), the other direction; the first distribution (the one with mean 1) is q"),
        (_kl(1.0, 0.25, -1.0, 2.25), "you used the variances where the formula takes the standard deviations (N(mu, sigma^2) names the variance)"),
        (expected + 0.5, "the '- 1/2' of the closed form is missing"),
        (expected - 2 * math.log(3.0), "the log term has the wrong sign: it is log(sigma_p / sigma_q)"),
    )
    check_number("Exercise 1", answer, expected, rtol=1e-6, mistakes=mistakes)


def check_second_moment(answer) -> None:
    """Exercise 2: a Monte Carlo estimate of E[X^2], X ~ N(1, 2^2), from 100,000 samples."""
    value = answer_number("Exercise 2", answer)
    exact = 5.0
    standard_error = math.sqrt(48 / 100_000)             # Var[X^2] = 2 sigma^4 + 4 mu^2 sigma^2
    if abs(value - exact) < 1e-9:
        raise AssertionError("Exercise 2: that is the exact value; the exercise asks for the Monte Carlo estimate "
                             "from 100,000 samples (an average of squared draws)")
    if abs(value - exact) <= 5 * standard_error:
        print("Exercise 2: correct.")
        return
    for wrong, message in ((4.0, "that estimates the variance of X; E[X^2] = Var[X] + E[X]^2"),
                           (1.0, "that estimates E[X] (or E[X]^2), not E[X^2]"),
                           (3.0, "the samples have variance 2, not 4: the standard deviation of N(1, 2^2) is 2"),
                           (17.0, "the samples have standard deviation 4: N(1, 2^2) has variance 4, standard deviation 2")):
        if abs(value - wrong) <= 5 * standard_error * max(1.0, wrong / exact):
            raise AssertionError(f"Exercise 2: {message}")
    raise AssertionError("Exercise 2: the estimate is further from E[X^2] than 100,000 samples allow; check the "
                         "distribution you sample and that you average the squares")


# ----------------------------------------------------------------------------- exercise 3: Bayes on a grid


def reference_posterior_on_grid(log_prior: torch.Tensor, log_likelihood: torch.Tensor, z_grid: torch.Tensor
                                ) -> torch.Tensor:
    """p(z | x) on an increasing grid: (G,) log p(z), (G,) log p(x | z), (G,) z -> (G,) density
    (per unit of z) whose trapezoidal integral over the grid is 1. Computed in log space."""
    log_joint = log_prior + log_likelihood
    log_area = torch.logsumexp(log_joint, 0)
    unnormalised = torch.exp(log_joint - log_area)          # largest value <= 1, no overflow
    return unnormalised / torch.trapezoid(unnormalised, z_grid)


def _grid_inputs(generator: torch.Generator) -> tuple:
    size = int(torch.randint(300, 800, (1,), generator=generator))
    low = -6.0 - 4.0 * float(torch.rand(1, generator=generator))
    z_grid = torch.linspace(low, -low, size, dtype=torch.float64)
    prior_mean = float(torch.randn(1, generator=generator))
    log_prior = Normal(prior_mean, 1.5).log_prob(z_grid)
    n_points = int(torch.randint(200, 400, (1,), generator=generator))   # many observations: log-likelihoods far below 0
    slope = 0.5 + float(torch.rand(1, generator=generator))
    z_true = float(torch.randn(1, generator=generator))
    x = slope * z_true + 2.0 * torch.randn(n_points, generator=generator, dtype=torch.float64)
    log_likelihood = Normal(slope * z_grid.unsqueeze(1), 2.0).log_prob(x).sum(1)
    log_likelihood = log_likelihood - 800.0 - 400.0 * float(torch.rand(1, generator=generator))  # e.g. more data
    return log_prior, log_likelihood, z_grid


def _normalised_sum(log_prior, log_likelihood, z_grid):
    log_joint = log_prior + log_likelihood
    return torch.exp(log_joint - torch.logsumexp(log_joint, 0))


def check_posterior_on_grid(function) -> None:
    """Exercise 3: ``posterior_on_grid(log_prior, log_likelihood, z_grid)`` -> (G,) density of p(z | x)."""
    grid = torch.linspace(-8, 8, 1601, dtype=torch.float64)
    a, s, x = 1.5, 0.8, 2.0
    posterior_variance = 1.0 / (1.0 + a ** 2 / s ** 2)
    exact = Normal(posterior_variance * a * x / s ** 2, math.sqrt(posterior_variance)).log_prob(grid).exp()
    cases = [((Normal(0.0, 1.0).log_prob(grid), Normal(a * grid, s).log_prob(torch.tensor(x, dtype=torch.float64)), grid),
              exact, "on the model z ~ N(0, 1), x | z ~ N(a z, s^2) the result is not the exact Gaussian posterior")]
    mistakes = (
        (_normalised_sum, "the values sum to 1, but a density must *integrate* to 1: divide by the area "
                          "(torch.trapezoid over z_grid), not by the sum"),
        (lambda lp, ll, z: reference_posterior_on_grid(torch.zeros_like(lp), ll, z),
         "the prior is missing: the posterior is proportional to prior times likelihood"),
        (lambda lp, ll, z: reference_posterior_on_grid(lp, torch.zeros_like(ll), z),
         "the likelihood is missing: the posterior is proportional to prior times likelihood"),
    )
    underflow = ("the log-likelihoods of many observations are hundreds of nats below 0, so exp() of them is 0 "
                 "in floating point: subtract the largest log value (or use torch.logsumexp) before exponentiating")
    if callable(function):
        output = _call("Exercise 3", function, _grid_inputs(fresh_generator()), "posterior_on_grid")
        if isinstance(output, torch.Tensor) and output.is_floating_point() and (
                not torch.isfinite(output).all() or not output.detach().abs().sum() > 0):
            raise AssertionError(f"Exercise 3: posterior_on_grid's output is NaN, infinite or all zeros: {underflow}")
    with contextlib.redirect_stdout(io.StringIO()):
        check_function("Exercise 3", function, reference_posterior_on_grid, _grid_inputs, trials=3, rtol=1e-3,
                       atol=1e-5, mistakes=mistakes, name="posterior_on_grid")
    check_function("Exercise 3", function, reference_posterior_on_grid, _grid_inputs, trials=0, cases=cases,
                   rtol=1e-4, atol=1e-6, name="posterior_on_grid")
