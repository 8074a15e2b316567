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
    expect_pass(nb01.check_second_moment, (1 + 2 * torch.randn(100_000, dtype=torch.float64)).pow(2).mean())
    expect_pass(nb01.check_second_moment, float((1 + 2 * np.random.default_rng(1).standard_normal(100_000)) .__pow__(2).mean()))
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


def test_wrong_second_moments_are_named():
    expect_failure(nb01.check_second_moment, 5.0, says="exact value")
    expect_failure(nb01.check_second_moment, 5, says="exact value")
    draws = 1 + 2 * torch.randn(100_000, dtype=torch.float64)
    expect_failure(nb01.check_second_moment, draws.var(), says="variance of X")
    expect_failure(nb01.check_second_moment, draws.mean(), says="E[X]")
    expect_failure(nb01.check_second_moment, (1 + math.sqrt(2) * torch.randn(100_000)).pow(2).mean(), says="variance 2")
    expect_failure(nb01.check_second_moment, draws.pow(2)[:100], says="single number")
    expect_failure(nb01.check_second_moment, 7.0, says="further")


def _bayes(log_prior, log_likelihood, z_grid):
    return posterior_on_grid(log_prior, log_likelihood, z_grid)


@pytest.mark.parametrize("wrong, says", [
    (lambda lp, ll, z: torch.exp(lp + ll) / torch.trapezoid(torch.exp(lp + ll), z), "all zeros"),
    (lambda lp, ll, z: torch.exp(lp + ll - (lp + ll).max()) / torch.exp(lp + ll - (lp + ll).max()).sum(), "integrate"),
    (lambda lp, ll, z: _bayes(torch.zeros_like(lp), ll, z), "prior is missing"),
    (lambda lp, ll, z: _bayes(lp, torch.zeros_like(ll), z), "likelihood is missing"),
    (lambda lp, ll, z: torch.exp(lp + ll - (lp + ll).max()), "Exercise 3"),
    (lambda lp, ll, z: torch.ones_like(z) / (z[-1] - z[0]), "Exercise 3"),
    (lambda lp, ll, z: _bayes(lp, ll, z)[:-1], "shape"),
    (lambda lp, ll, z: _bayes(lp, ll, z).numpy(), "torch.Tensor"),
])
def test_wrong_posteriors_are_named(wrong, says):
    expect_failure(nb01.check_posterior_on_grid, wrong, says=says)


def test_nbgrader_grades_the_notebook(tmp_path):
    wrong = ("# Exercise 3: write posterior_on_grid(log_prior, log_likelihood, z_grid)\n"
             "def posterior_on_grid(log_prior, log_likelihood, z_grid):\n"
             "    density = torch.exp(log_prior + log_likelihood)\n"
             "    return density / torch.trapezoid(density, z_grid)\n")
    nbgrader_round_trip("01_probability_basics.ipynb", 3, wrong, tmp_path)
