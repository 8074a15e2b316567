"""Notebook 06's exercises: right answers pass (float32, float64, torch.distributions, a tensor
or a number from the schedule), known wrong methods fail with a message that names the mistake
and holds no number, and nbgrader grades the notebook as a course would."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
from vae_helpers.checks import nb06


def beta_vae_loss(x, logits, loc, log_var, beta):
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
    kl = 0.5 * (loc.pow(2) + log_var.exp() - log_var - 1.0).sum(1)
    return (reconstruction + beta * kl).mean()


def cyclical_beta(step, cycle_steps, ramp_fraction):
    return min(1.0, (step % cycle_steps) / cycle_steps / ramp_fraction)


def _bce(x, logits):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def _kl(loc, log_var):
    return 0.5 * (loc.pow(2) + log_var.exp() - log_var - 1.0).sum(1)


# ------------------------------------------------------------------ right answers

def test_right_answers_pass():
    expect_pass(nb06.check_beta_vae_loss, beta_vae_loss)
    expect_pass(nb06.check_cyclical_beta, cyclical_beta)


def test_other_right_spellings_pass():
    def with_distributions(x, logits, loc, log_var, beta):
        decoder = torch.distributions.Bernoulli(logits=logits.double())
        q = torch.distributions.Normal(loc.double(), (0.5 * log_var.double()).exp())
        prior = torch.distributions.Normal(torch.zeros_like(q.loc), torch.ones_like(q.scale))
        rate = torch.distributions.kl_divergence(q, prior).sum(1)
        return (-decoder.log_prob(x.double()).flatten(1).sum(1) + beta * rate).mean()

    expect_pass(nb06.check_beta_vae_loss, with_distributions)
    expect_pass(nb06.check_cyclical_beta,
                lambda t, c, r: torch.tensor((t - (t // c) * c) / (r * c)).clamp(max=1.0))
    expect_pass(nb06.check_cyclical_beta, lambda t, c, r: np.minimum(1.0, np.float64(t % c) / c / r))


def test_unfinished_answers_say_so():
    expect_failure(nb06.check_beta_vae_loss, None, says="no answer yet")
    expect_failure(nb06.check_cyclical_beta, None, says="no answer yet")

    def not_written(*arguments):
        raise NotImplementedError()

    expect_failure(nb06.check_beta_vae_loss, not_written, says="not written yet")
    expect_failure(nb06.check_cyclical_beta, not_written, says="not written yet")


# ------------------------------------------------------------------ exercise 1: where beta goes

@pytest.mark.parametrize("wrong, says", [
    (lambda x, l, m, v, b: (_bce(x, l) + _kl(m, v)).mean(), "β is missing"),
    (lambda x, l, m, v, b: (b * _bce(x, l) + _kl(m, v)).mean(), "β multiplies the reconstruction"),
    (lambda x, l, m, v, b: (b * (_bce(x, l) + _kl(m, v))).mean(), "β multiplies the whole loss"),
    (lambda x, l, m, v, b: (_bce(x, l) + _kl(m, v) / b).mean(), "divided by β"),
    (lambda x, l, m, v, b: (_bce(x, l) - b * _kl(m, v)).mean(), "wrong sign"),
    (lambda x, l, m, v, b: (_bce(x, l) / 784 + b * _kl(m, v)).mean(), "averaged over the pixels"),
    (lambda x, l, m, v, b: (_bce(x, l) + b * _kl(m, v)).sum(), "summed over the batch"),
    (lambda x, l, m, v, b: (_bce(x, l) + b * _kl(m, v) / m.shape[1]).mean(), "averaged over the latent"),
    (lambda x, l, m, v, b: (_bce(x, l) + b * 0.5 * (m ** 2 + v.exp() - v).sum(1)).mean(), "'- 1'"),
    (lambda x, l, m, v, b: (((x - torch.sigmoid(l)) ** 2).flatten(1).sum(1) + b * _kl(m, v)).mean(),
     "squared error"),
])
def test_wrong_beta_losses_are_named(wrong, says):
    expect_failure(nb06.check_beta_vae_loss, wrong, says=says)


def test_copied_constants_and_detached_losses_fail():
    expect_failure(nb06.check_beta_vae_loss, lambda x, l, m, v, b: torch.tensor(543.4), says="Exercise 1")
    expect_failure(nb06.check_beta_vae_loss,
                   lambda x, l, m, v, b: beta_vae_loss(x, l.detach(), m.detach(), v.detach(), b),
                   says="not differentiable")
    expect_failure(nb06.check_beta_vae_loss, lambda x, l, m, v, b: beta_vae_loss(x, l, m, v, b).item(),
                   says="torch.Tensor")
    expect_failure(nb06.check_beta_vae_loss,
                   lambda x, l, m, v, b: (_bce(x, l) + b * _kl(m, v)), says="shape")


# ------------------------------------------------------------------ exercise 2: the cyclical schedule

@pytest.mark.parametrize("wrong, says", [
    (lambda t, c, r: min(1.0, t / (r * c)), "never starts again"),
    (lambda t, c, r: (t % c) / c, "whole cycle"),
    (lambda t, c, r: (t % c) / (r * c), "keeps growing"),
    (lambda t, c, r: min(1.0, (t % c) / c * r), "divide by it"),
    (lambda t, c, r: max(0.0, 1.0 - (t % c) / (r * c)), "falls"),
    (lambda t, c, r: min(1.0, ((t + 1) % c) / (r * c)), "one step early"),
    (lambda t, c, r: min(1.0, t / c), "Exercise 2"),       # the plain warm-up of section 3
    (lambda t, c, r: 1.0, "Exercise 2"),
    (lambda t, c, r: 0.24, "Exercise 2"),
])
def test_wrong_schedules_are_named(wrong, says):
    expect_failure(nb06.check_cyclical_beta, wrong, says=says)


def test_a_schedule_returning_text_is_refused_clearly():
    expect_failure(nb06.check_cyclical_beta, lambda t, c, r: "half", says="number or a tensor")


# ------------------------------------------------------------------ nbgrader

def test_nbgrader_round_trip(tmp_path):
    wrong = ("def beta_vae_loss(x, logits, loc, log_var, beta):\n"
             "    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction='none').sum((1, 2, 3))\n"
             "    kl = 0.5 * (loc.pow(2) + log_var.exp() - log_var - 1.0).sum(1)\n"
             "    return (beta * reconstruction + kl).mean()\n")
    nbgrader_round_trip("06_conv_vae_and_beta.ipynb", 1, wrong, tmp_path)
