"""Checks for notebook 01's exercises (probability basics).

References are computed here (``torch.distributions`` and closed forms), never in a notebook cell;
failures name the mistake and never print a value.
"""

import contextlib
import io
import math

import torch
from torch.distributions import Normal, kl_divergence

from . import ExerciseNotDone, _call, answer_number, check_function, check_number, fresh_generator

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
    check_number("Exercise 1", answer, expected, rtol=1e-6, mistakes=mistakes,
                 hint="compute it in code and keep full precision: a number rounded to a few digits fails")


_MEAN, _STD = 1.0, 2.0                                   # X ~ N(1, 2^2)


def _second_moment_of(mean: float, std: float) -> float:
    return std ** 2 + mean ** 2


def _per_draw_std(mean: float, std: float) -> float:
    """Standard deviation of X^2 for X ~ N(mean, std^2): sqrt(2 std^4 + 4 mean^2 std^2)."""
    return math.sqrt(2 * std ** 4 + 4 * mean ** 2 * std ** 2)


def _estimates(function, n: int, seeds) -> list:
    values = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(int(seed))
        values.append(answer_number("Exercise 2", _call("Exercise 2", function, (n, generator),
                                                        "second_moment_estimate"), what="its estimate"))
    return values


def check_second_moment(function) -> None:
    """Exercise 2: ``second_moment_estimate(n, generator)`` -> a Monte Carlo estimate of E[X^2],
    X ~ N(1, 2^2), from ``n`` draws made with the torch.Generator ``generator``.

    Checked on fresh sample sizes and seeds: the same seed gives the same estimate; across
    seeds the estimates scatter around E[X^2] by the Monte Carlo standard error
    std(X^2) / sqrt(n) (their mean within 5 standard errors of that mean, their spread within
    a factor 0.5-1.7 of it); the spread shrinks with n. Messages name mistakes, never values.
    """
    exercise = "Exercise 2"
    if function is None or function is Ellipsis:
        raise ExerciseNotDone(f"{exercise}: no answer yet; assign your function")
    if not callable(function):
        raise AssertionError(f"{exercise}: expected a function second_moment_estimate(n, generator), got "
                             f"{type(function).__name__}; a single number cannot show that it was sampled")
    master = fresh_generator()
    exact = _second_moment_of(_MEAN, _STD)
    repeats = 60
    for n in (int(torch.randint(300, 700, (1,), generator=master)), int(torch.randint(5_000, 12_000, (1,),
                                                                                       generator=master))):
        seeds = torch.randint(0, 2 ** 31, (repeats,), generator=master).tolist()
        first = _estimates(function, n, seeds[:1])[0]
        again = _estimates(function, n, seeds[:1])[0]
        if first != again:
            raise AssertionError(f"{exercise}: two calls with generators seeded alike gave different estimates; draw "
                                 "the samples with the generator passed in (generator=generator), not the global "
                                 "random state")
        values = torch.tensor(_estimates(function, n, seeds), dtype=torch.float64)
        if values.std() == 0:
            raise AssertionError(f"{exercise}: it returns the same estimate for every seed; a Monte Carlo estimate "
                                 "changes with the draws")
        standard_error = _per_draw_std(_MEAN, _STD) / math.sqrt(n)
        centre, spread = values.mean().item(), values.std().item()
        if abs(centre - exact) > 5 * standard_error / math.sqrt(repeats):
            for (mean, std, second_moment), message in (
                    ((_MEAN, _STD, None), None),
                    ((_MEAN, _STD, _STD ** 2), "that estimates the variance of X, not E[X^2]"),
                    ((_MEAN, _STD, _MEAN), "that estimates E[X], not E[X^2]"),
                    ((_MEAN, math.sqrt(_STD), None), "the samples have the wrong spread: in N(mu, sigma^2) the "
                                                     "second number is the variance, so the standard deviation "
                                                     "is its square root"),
                    ((_MEAN, _STD ** 2, None), "the samples have the wrong spread: in N(mu, sigma^2) the second "
                                               "number is the variance; scale the standard normal draws by the "
                                               "standard deviation")):
                if message is None:
                    continue
                target = second_moment if second_moment is not None else _second_moment_of(mean, std)
                if abs(centre - target) <= 5 * max(standard_error, spread) / math.sqrt(repeats) + 1e-9:
                    raise AssertionError(f"{exercise}: {message}")
            raise AssertionError(f"{exercise}: averaged over many seeds the estimates do not centre on E[X^2]; check "
                                 "the distribution you sample and that you average the squares of the draws")
        if not 0.5 * standard_error < spread < 1.7 * standard_error:
            raise AssertionError(f"{exercise}: across seeds the estimates scatter {'less' if spread < standard_error else 'more'} "
                                 "than n draws of X^2 allow; use exactly n draws, all from the generator passed in, "
                                 "and average their squares")
    print(f"{exercise}: correct.")


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
        inputs = _grid_inputs(fresh_generator())
        output = _call("Exercise 3", function, inputs, "posterior_on_grid")
        if isinstance(output, torch.Tensor) and output.is_floating_point() and (output.detach() < 0).any():
            as_density = torch.exp(output.detach().to(torch.float64))
            as_density = as_density / torch.trapezoid(as_density, inputs[2])
            if torch.allclose(as_density, reference_posterior_on_grid(*inputs), rtol=1e-3, atol=1e-5):
                raise AssertionError("Exercise 3: posterior_on_grid returns the log of the posterior density "
                                     "(its values are negative where the density is small); return the density "
                                     "itself: exponentiate the log values, then divide by the area")
            raise AssertionError("Exercise 3: posterior_on_grid's output has negative values, and a density never "
                                 "has")
        if isinstance(output, torch.Tensor) and output.is_floating_point() and (
                not torch.isfinite(output).all() or not output.detach().abs().sum() > 0):
            raise AssertionError(f"Exercise 3: posterior_on_grid's output is NaN, infinite or all zeros: {underflow}")
    with contextlib.redirect_stdout(io.StringIO()):
        check_function("Exercise 3", function, reference_posterior_on_grid, _grid_inputs, trials=3, rtol=1e-3,
                       atol=1e-5, mistakes=mistakes, name="posterior_on_grid")
    check_function("Exercise 3", function, reference_posterior_on_grid, _grid_inputs, trials=0, cases=cases,
                   rtol=1e-4, atol=1e-6, name="posterior_on_grid")
