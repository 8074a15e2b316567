"""Notebook 01's exercises: right answers pass (float32, float64, numpy, Python numbers), known wrong
answers fail with a message that names the mistake and holds no number, and nbgrader grades the
notebook as a course would."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
from vae_helpers.checks import nb01

KL_ANSWER = math.log(1.5 / 0.5) + (0.5 ** 2 + 2 ** 2) / (2 * 1.5 ** 2) - 0.5


def posterior_on_grid(log_prior, log_likelihood, z_grid):
    log_joint = log_prior + log_likelihood
    unnormalised = torch.exp(log_joint - log_joint.max())
    return unnormalised / torch.trapezoid(unnormalised, z_grid)


def test_right_answers_pass():
    expect_pass(nb01.check_kl_answer, KL_ANSWER)
    expect_pass(nb01.check_kl_answer, np.float32(KL_ANSWER))
    expect_pass(nb01.check_kl_answer, torch.tensor([KL_ANSWER]))
    expect_pass(nb01.check_second_moment, second_moment_estimate)
    expect_pass(nb01.check_second_moment,
                lambda n, g: float(torch.normal(1.0, 2.0, (n,), generator=g, dtype=torch.float64).pow(2).mean()))
    expect_pass(nb01.check_second_moment,   # numpy, seeded from the generator given
                lambda n, g: (1 + 2 * np.random.default_rng(int(torch.randint(0, 2 ** 31, (1,), generator=g)))
                              .standard_normal(n)).__pow__(2).mean())
    expect_pass(nb01.check_posterior_on_grid, posterior_on_grid)

    def with_logsumexp_in_float32(log_prior, log_likelihood, z_grid):
        log_joint = (log_prior + log_likelihood).float()
        density = torch.exp(log_joint - torch.logsumexp(log_joint, 0))
        return density / torch.trapezoid(density, z_grid.float())

    expect_pass(nb01.check_posterior_on_grid, with_logsumexp_in_float32)


def test_unfinished_answers_say_so():
    expect_failure(nb01.check_kl_answer, None, says="no answer yet")
    expect_failure(nb01.check_second_moment, None, says="no answer yet")
    expect_failure(nb01.check_posterior_on_grid, None, says="no answer yet")


def test_wrong_kls_are_named():
    reverse = kl_divergence(Normal(-1.0, 1.5), Normal(1.0, 0.5)).item()
    variances = math.log(2.25 / 0.25) + (0.25 ** 2 + 4) / (2 * 2.25 ** 2) - 0.5
    expect_failure(nb01.check_kl_answer, reverse, says="other direction", forbid=[f"{KL_ANSWER:.4f}"])
    expect_failure(nb01.check_kl_answer, variances, says="standard deviations")
    expect_failure(nb01.check_kl_answer, KL_ANSWER + 0.5, says="- 1/2")
    expect_failure(nb01.check_kl_answer, 1.0, says="Exercise 1")
    expect_failure(nb01.check_kl_answer, "1.54", says="number")


def second_moment_estimate(n, generator):
    return (1 + 2 * torch.randn(n, generator=generator, dtype=torch.float64)).pow(2).mean()


@pytest.mark.parametrize("wrong, says", [
    (5.0, "single number"),
    (5.01, "single number"),
    (lambda n, g: 5.0, "same estimate for every seed"),
    (lambda n, g: 5.0 + 1e-3 * torch.rand((), generator=g), "scatter less"),
    (lambda n, g: (1 + 2 * torch.randn(n)).pow(2).mean(), "generators seeded alike"),
    (lambda n, g: (1 + 2 * torch.randn(100_000, generator=g)).pow(2).mean(), "scatter less"),
    (lambda n, g: (1 + 2 * torch.randn(n, generator=g)).var(), "variance of X"),
    (lambda n, g: (1 + 2 * torch.randn(n, generator=g)).mean(), "E[X]"),
    (lambda n, g: (1 + math.sqrt(2) * torch.randn(n, generator=g)).pow(2).mean(), "square root"),
    (lambda n, g: (1 + 4 * torch.randn(n, generator=g)).pow(2).mean(), "scale the standard normal"),
    (lambda n, g: (1 + 2 * torch.randn(n // 4, generator=g)).pow(2).mean(), "scatter more"),
    (lambda n, g: (1 + 2 * torch.randn(n, generator=g)).pow(2).mean() + 1, "do not centre"),
    (lambda n, g: "five", "number"),
])
def test_wrong_second_moments_are_named(wrong, says):
    expect_failure(nb01.check_second_moment, wrong, says=says, forbid=["5", "4", "48"])


def _log_posterior(log_prior, log_likelihood, z_grid):
    log_joint = log_prior + log_likelihood
    return log_joint - log_joint.max() - torch.trapezoid(torch.exp(log_joint - log_joint.max()), z_grid).log()


@pytest.mark.parametrize("wrong, says", [
    (lambda lp, ll, z: torch.exp(lp + ll) / torch.trapezoid(torch.exp(lp + ll), z), "subtract the largest log value"),
    (lambda lp, ll, z: torch.softmax(lp + ll, 0), "*integrate* to 1"),
    (lambda lp, ll, z: posterior_on_grid(torch.zeros_like(lp), ll, z), "prior is missing"),
    (lambda lp, ll, z: posterior_on_grid(lp, torch.zeros_like(ll), z), "likelihood is missing"),
    (_log_posterior, "log of the posterior density"),
    (lambda lp, ll, z: (lp + ll) - torch.logsumexp(lp + ll, 0), "log of the posterior density"),
    (lambda lp, ll, z: posterior_on_grid(lp, ll, z) - 1.0, "negative values"),
])
def test_wrong_posteriors_are_named(wrong, says):
    expect_failure(nb01.check_posterior_on_grid, wrong, says=says)


def test_nbgrader_grades_the_notebook(tmp_path):
    wrong = ("# Exercise 3: write posterior_on_grid(log_prior, log_likelihood, z_grid)\n"
             "def posterior_on_grid(log_prior, log_likelihood, z_grid):\n"
             "    density = torch.exp(log_prior + log_likelihood)\n"
             "    return density / torch.trapezoid(density, z_grid)\n")
    nbgrader_round_trip("01_probability_basics.ipynb", 3, wrong, tmp_path)
