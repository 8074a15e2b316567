"""Notebook 03's exercises: right answers pass (float32, float64, other spellings), known wrong
methods fail with a message that names the mistake and holds no number, and nbgrader grades the
notebook as a course would."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
from vae_helpers.checks import nb03


def negative_elbo(x, logits, loc, log_var):
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
    kl = 0.5 * (loc.pow(2) + log_var.exp() - log_var - 1.0).sum(1)
    return (reconstruction + kl).mean()


def elbo_gap(w, s, x, m, v):
    posterior_variance = 1.0 / (1.0 + w ** 2 / s ** 2)
    posterior_mean = posterior_variance * w * x / s ** 2
    return 0.5 * (v / posterior_variance + (m - posterior_mean) ** 2 / posterior_variance - 1.0
                  + torch.log(posterior_variance / v))


# ------------------------------------------------------------------ right answers

def test_right_answers_pass():
    expect_pass(nb03.check_negative_elbo, negative_elbo)
    expect_pass(nb03.check_elbo_gap, elbo_gap)
    expect_pass(nb03.check_bits_per_dim, 86.76 / (784 * math.log(2)))
    expect_pass(nb03.check_nats_per_image, 3.0 * 32 * 32 * 3 * math.log(2))
    expect_pass(nb03.check_mse_variance, 784 / 2)


def test_other_right_spellings_pass():
    def with_distributions(x, logits, loc, log_var):
        decoder = torch.distributions.Bernoulli(logits=logits.double())
        q = torch.distributions.Normal(loc.double(), (0.5 * log_var.double()).exp())
        prior = torch.distributions.Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale))
        per_image = -decoder.log_prob(x.double()).flatten(1).sum(1) + torch.distributions.kl_divergence(q, prior).sum(1)
        return per_image.mean()

    def gap_from_distributions(w, s, x, m, v):
        precision = 1.0 + w ** 2 / s ** 2
        posterior = torch.distributions.Normal(w * x / s ** 2 / precision, precision.rsqrt())
        return torch.distributions.kl_divergence(torch.distributions.Normal(m, v.sqrt()), posterior)

    expect_pass(nb03.check_negative_elbo, with_distributions)
    expect_pass(nb03.check_elbo_gap, gap_from_distributions)
    expect_pass(nb03.check_bits_per_dim, np.float64(86.76 / (784 * math.log(2))))
    expect_pass(nb03.check_nats_per_image, torch.tensor([3.0 * 3072 * math.log(2)], dtype=torch.float32))
    expect_pass(nb03.check_mse_variance, torch.tensor(392.0, dtype=torch.float64))


def test_unfinished_answers_say_so():
    expect_failure(nb03.check_negative_elbo, None, says="no answer yet")

    def not_written(*arguments):
        raise NotImplementedError()

    expect_failure(nb03.check_elbo_gap, not_written, says="not written yet")
    expect_failure(nb03.check_bits_per_dim, None, says="no answer yet")
    expect_failure(nb03.check_mse_variance, ..., says="no answer yet")


# ------------------------------------------------------------------ exercise 1: wrong reductions and losses

def _bce(x, logits):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def _kl(loc, log_var):
    return 0.5 * (loc.pow(2) + log_var.exp() - log_var - 1.0).sum(1)


@pytest.mark.parametrize("wrong, says", [
    (lambda x, l, m, v: F.binary_cross_entropy_with_logits(l, x) + _kl(m, v).mean(), "averaged over the pixels"),
    (lambda x, l, m, v: (_bce(x, l) / 784 + _kl(m, v)).mean(), "averaged over the pixels"),
    (lambda x, l, m, v: F.mse_loss(torch.sigmoid(l), x) + _kl(m, v).mean(), "mean squared error"),
    (lambda x, l, m, v: ((torch.sigmoid(l) - x) ** 2).flatten(1).sum(1).mean() + _kl(m, v).mean(), "squared error"),
    (lambda x, l, m, v: -(_bce(x, l) + _kl(m, v)).mean(), "sign is wrong"),
    (lambda x, l, m, v: _bce(x, l).mean(), "KL term is missing"),
    (lambda x, l, m, v: (_bce(x, l) - _kl(m, v)).mean(), "KL term has the wrong sign"),
    (lambda x, l, m, v: (_bce(x, l) + _kl(m, v)).sum(), "summed over the batch"),
    (lambda x, l, m, v: (_bce(x, l) + _kl(m, v) / m.shape[1]).mean(), "averaged over the latent dimensions"),
    (lambda x, l, m, v: (_bce(x, l) + 0.5 * (m ** 2 + (2 * v).exp() - 2 * v - 1).sum(1)).mean(), "log of the variance"),
    (lambda x, l, m, v: (_bce(x, l) + 0.5 * (m ** 2 + v.exp() - v).sum(1)).mean(), "- 1"),
    (lambda x, l, m, v: (F.binary_cross_entropy_with_logits(torch.sigmoid(l), x, reduction="none").flatten(1).sum(1)
                         + _kl(m, v)).mean(), "sigmoid is applied twice"),
])
def test_wrong_losses_are_named(wrong, says):
    expect_failure(nb03.check_negative_elbo, wrong, says=says)


def test_a_constant_a_copied_number_and_per_image_losses_fail():
    expect_failure(nb03.check_negative_elbo, lambda x, l, m, v: torch.tensor(784 * math.log(2)), says="Exercise 1")
    expect_failure(nb03.check_negative_elbo, lambda x, l, m, v: _bce(x, l) + _kl(m, v), says="shape")
    expect_failure(nb03.check_negative_elbo, lambda x, l, m, v: (_bce(x, l) + _kl(m, v)).mean().item(),
                   says="torch.Tensor")


def test_a_detached_loss_fails():
    expect_failure(nb03.check_negative_elbo, lambda x, l, m, v: negative_elbo(x, l, m, v).detach(),
                   says="not differentiable")


def test_a_numpy_loss_is_refused_clearly():
    def with_numpy(x, logits, loc, log_var):
        return np.asarray(negative_elbo(x, logits, loc, log_var).detach())

    expect_failure(nb03.check_negative_elbo, with_numpy, says="torch.Tensor")


# ------------------------------------------------------------------ exercise 2: wrong gaps

def _posterior(w, s, x):
    variance = 1.0 / (1.0 + w ** 2 / s ** 2)
    return variance * w * x / s ** 2, variance


def _kl_normal(m1, v1, m2, v2):
    return 0.5 * (v1 / v2 + (m1 - m2) ** 2 / v2 - 1.0 + torch.log(v2 / v1))


@pytest.mark.parametrize("wrong, says", [
    (lambda w, s, x, m, v: _kl_normal(*_posterior(w, s, x), m, v), "reverse direction"),
    (lambda w, s, x, m, v: _kl_normal(m, v, torch.zeros_like(m), torch.ones_like(v)), "to the prior"),
    (lambda w, s, x, m, v: _kl_normal(m, v ** 2, *_posterior(w, s, x)), "not its standard deviation"),
    (lambda w, s, x, m, v: _kl_normal(m, v, _posterior(w, s, x)[0], s ** 2 / w ** 2), "ignores the prior"),
    (lambda w, s, x, m, v: -elbo_gap(w, s, x, m, v), "sign is wrong"),
    (lambda w, s, x, m, v: torch.zeros_like(m), "Exercise 2"),
    (lambda w, s, x, m, v: elbo_gap(w, s, x, m, v).detach(), "not differentiable"),
])
def test_wrong_gaps_are_named(wrong, says):
    expect_failure(nb03.check_elbo_gap, wrong, says=says)


# ------------------------------------------------------------------ exercises 3 and 4: numbers

def test_wrong_units_are_named():
    expect_failure(nb03.check_bits_per_dim, 86.76 / 784, says="nats per dimension")
    expect_failure(nb03.check_bits_per_dim, 86.76 / math.log(2), says="bits per image")
    expect_failure(nb03.check_bits_per_dim, 86.76, says="Exercise 3")
    expect_failure(nb03.check_nats_per_image, 3.0 * 1024 * math.log(2), says="3 channels")
    expect_failure(nb03.check_nats_per_image, 3.0 * 3072, says="bits per image")
    expect_failure(nb03.check_nats_per_image, "6388", says="number")


LEAKS_EXERCISE_4 = ["392", "784", "1/(2", "2 s^2", "2s^2", "1/784", "half"]


def test_wrong_variances_are_named_without_the_equation_that_solves_them():
    expect_failure(nb03.check_mse_variance, 784, says="constant factor", forbid=LEAKS_EXERCISE_4)
    expect_failure(nb03.check_mse_variance, 1568, says="wrong side", forbid=LEAKS_EXERCISE_4)
    expect_failure(nb03.check_mse_variance, 0.5, says="summed", forbid=LEAKS_EXERCISE_4)
    expect_failure(nb03.check_mse_variance, 1 / 1568, says="solve for s^2", forbid=LEAKS_EXERCISE_4)
    expect_failure(nb03.check_mse_variance, 1 / 784, says="solve for s^2", forbid=LEAKS_EXERCISE_4)
    expect_failure(nb03.check_mse_variance, 100.0, says="Exercise 4", forbid=LEAKS_EXERCISE_4)
    expect_failure(nb03.check_mse_variance, True, says="True/False", forbid=["392"])


def test_a_float32_gap_passes():
    def in_float32(w, s, x, m, v):
        return elbo_gap(w.float(), s.float(), x.float(), m.float(), v.float())

    expect_pass(nb03.check_elbo_gap, in_float32)


def test_rounded_unit_answers_are_told_to_keep_more_digits():
    bits = 86.76 / (784 * math.log(2))
    nats = 3.0 * 32 * 32 * 3 * math.log(2)
    expect_failure(nb03.check_bits_per_dim, float(f"{bits:.4g}"), says="rounded too much", forbid=[f"{bits:.4g}"])
    expect_failure(nb03.check_nats_per_image, float(f"{nats:.3g}"), says="rounded too much")
    expect_pass(nb03.check_bits_per_dim, float(f"{bits:.7g}"))
    expect_pass(nb03.check_nats_per_image, float(f"{nats:.7g}"))


# ------------------------------------------------------------------ the course

def test_nbgrader_grades_the_notebook(tmp_path):
    wrong = ("# Exercise 1: write negative_elbo(x, logits, loc, log_var)\n"
             "def negative_elbo(x, logits, loc, log_var):\n"
             "    return F.binary_cross_entropy_with_logits(logits, x) + (0.5 * (loc ** 2 + log_var.exp() - log_var - 1)"
             ".sum(1)).mean()\n")
    nbgrader_round_trip("03_elbo.ipynb", 1, wrong, tmp_path)
