"""Notebook 05's exercises: right answers pass in float32 and float64, known wrong methods fail
with a message that names the mistake and holds no number."""

import math

import pytest
import torch
import torch.nn.functional as F

from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
from vae_helpers.checks import nb05


def gumbel_softmax(logits, tau, u):
    return F.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)


def gumbel_softmax_hard(logits, tau, u):
    y = gumbel_softmax(logits, tau, u)
    y_hard = F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)
    return y_hard - y.detach() + y


def kl_to_uniform(logits):
    log_q = F.log_softmax(logits, dim=-1)
    return (log_q.exp() * (log_q + math.log(logits.shape[-1]))).sum(dim=(1, 2))


# ------------------------------------------------------------------ right answers

def test_right_answers_pass():
    expect_pass(nb05.check_gumbel_softmax, gumbel_softmax)
    expect_pass(nb05.check_gumbel_softmax_gradient, gumbel_softmax)
    expect_pass(nb05.check_straight_through_forward, gumbel_softmax_hard)
    expect_pass(nb05.check_straight_through_gradient, gumbel_softmax_hard)
    expect_pass(nb05.check_kl_to_uniform, kl_to_uniform)


def test_other_right_spellings_pass():
    def with_distributions(logits, tau, u):
        g = torch.distributions.Gumbel(torch.zeros_like(logits), torch.ones_like(logits)).icdf(u)
        return torch.exp(torch.log_softmax((logits + g) / tau, -1))

    def hard_with_scatter(logits, tau, u):
        y = with_distributions(logits, tau, u)
        index = y.argmax(-1, keepdim=True)
        return (torch.zeros_like(y).scatter_(-1, index, 1.0) - y).detach() + y

    def kl_entropy_form(logits):
        q = torch.softmax(logits.double(), -1)
        return (math.log(logits.shape[-1]) + (q * torch.log(q)).sum(-1)).sum(-1)

    expect_pass(nb05.check_gumbel_softmax, with_distributions)
    expect_pass(nb05.check_gumbel_softmax_gradient, with_distributions)
    expect_pass(nb05.check_straight_through_forward, hard_with_scatter)
    expect_pass(nb05.check_straight_through_gradient, hard_with_scatter)
    expect_pass(nb05.check_kl_to_uniform, kl_entropy_form)


def test_float64_only_answers_pass_and_numpy_answers_are_refused_clearly():
    expect_pass(nb05.check_gumbel_softmax, lambda logits, tau, u: gumbel_softmax(logits.double(), tau, u.double()))
    expect_failure(nb05.check_gumbel_softmax,
                   lambda logits, tau, u: gumbel_softmax(logits, tau, u).numpy(), says="torch.Tensor")
    expect_failure(nb05.check_kl_to_uniform, lambda logits: kl_to_uniform(logits).detach().numpy(), says="torch.Tensor")


def test_placeholders_and_non_functions_are_not_done():
    for check in (nb05.check_gumbel_softmax, nb05.check_gumbel_softmax_gradient, nb05.check_straight_through_forward,
                  nb05.check_straight_through_gradient, nb05.check_kl_to_uniform):
        expect_failure(check, None, says="no answer yet")
        expect_failure(check, 0.5, says="expected a function")

    def not_written(logits, tau, u):
        raise NotImplementedError()

    expect_failure(nb05.check_gumbel_softmax, not_written, says="not written yet")


# ------------------------------------------------------------------ exercise 1: gumbel_softmax

def g_of(u):
    return -torch.log(-torch.log(u))


SOFT_MISTAKES = [
    (lambda logits, tau, u: F.softmax(logits / tau, -1), "noise is missing"),
    (lambda logits, tau, u: F.softmax((logits + 1.0 + 0.0 * g_of(u)) / tau, -1), "scale 0, location 1"),
    (lambda logits, tau, u: F.softmax(logits / tau, -1) + g_of(u), "after the softmax"),
    (lambda logits, tau, u: F.softmax((F.softmax(logits, -1) + g_of(u)) / tau, -1), "after the softmax"),
    (lambda logits, tau, u: F.softmax((logits + u) / tau, -1), "uniform noise"),
    (lambda logits, tau, u: F.softmax((logits - g_of(u)) / tau, -1), "wrong sign"),
    (lambda logits, tau, u: F.softmax((logits - torch.log(u)) / tau, -1), "exponential"),
    (lambda logits, tau, u: F.softmax((logits + g_of(u)) * tau, -1), "multiplies"),
    (lambda logits, tau, u: F.softmax(logits + g_of(u), -1), "temperature is missing"),
    (lambda logits, tau, u: F.softmax((logits + g_of(u)) / tau, 0), "not within the tolerance"),
    (lambda logits, tau, u: torch.full_like(logits, 0.25), "not within the tolerance"),
]


@pytest.mark.parametrize("wrong, says", SOFT_MISTAKES)
def test_known_wrong_relaxations_fail_with_their_name(wrong, says):
    expect_failure(nb05.check_gumbel_softmax, wrong, says=says)


def test_a_detached_relaxation_has_no_gradient():
    expect_failure(nb05.check_gumbel_softmax_gradient,
                   lambda logits, tau, u: gumbel_softmax(logits, tau, u).detach(), says="no gradient")
    expect_failure(nb05.check_gumbel_softmax_gradient,
                   lambda logits, tau, u: torch.tensor(gumbel_softmax(logits, tau, u).tolist()), says="no gradient")
    expect_failure(nb05.check_gumbel_softmax_gradient,
                   lambda logits, tau, u: F.softmax(logits / tau, -1), says="without the Gumbel noise")


# ------------------------------------------------------------------ exercise 2: straight-through

def hard_without_straight_through(logits, tau, u):
    y = gumbel_softmax(logits, tau, u)
    return F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)


def hard_with_wrong_sign(logits, tau, u):
    y = gumbel_softmax(logits, tau, u)
    return F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) + y.detach() - y


def hard_multiplied(logits, tau, u):
    y = gumbel_softmax(logits, tau, u)
    return F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) * y / y.detach()


def test_known_wrong_straight_through_forward_passes_fail():
    expect_failure(nb05.check_straight_through_forward, gumbel_softmax, says="soft sample")
    expect_failure(nb05.check_straight_through_forward,
                   lambda logits, tau, u: F.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype),
                   says="mode")
    expect_failure(nb05.check_straight_through_forward,
                   lambda logits, tau, u: F.one_hot(logits.argmin(-1), logits.shape[-1]).to(logits.dtype),
                   says="not within the tolerance")
    expect_failure(nb05.check_straight_through_forward,
                   lambda logits, tau, u: torch.zeros_like(logits), says="not one-hot")


def test_known_wrong_straight_through_gradients_fail():
    expect_failure(nb05.check_straight_through_gradient, hard_without_straight_through, says="zero")
    expect_failure(nb05.check_straight_through_gradient, hard_with_wrong_sign, says="sign")
    expect_failure(nb05.check_straight_through_gradient, hard_multiplied, says="not within the tolerance")

    def straight_through_without_noise(logits, tau, u):
        y = gumbel_softmax(logits, tau, u)
        plain = F.softmax(logits / tau, -1)
        return F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) - plain.detach() + plain

    expect_failure(nb05.check_straight_through_gradient, straight_through_without_noise,
                   says="without the Gumbel noise")


# ------------------------------------------------------------------ exercise 3: KL to the uniform prior

KL_MISTAKES = [
    (lambda logits: (F.softmax(logits, -1) * F.log_softmax(logits, -1)).sum((1, 2)), "log K term is missing"),
    (lambda logits: ((-F.log_softmax(logits, -1) - math.log(logits.shape[-1])) / logits.shape[-1]).sum((1, 2)),
     "other direction"),
    (lambda logits: kl_to_uniform(logits) / logits.shape[1], "averaged over the N variables"),
    (lambda logits: kl_to_uniform(logits) / math.log(2), "bits"),
    (lambda logits: -kl_to_uniform(logits), "sign"),
    (lambda logits: torch.zeros(logits.shape[0]), "not within the tolerance"),
    (lambda logits: kl_to_uniform(logits).detach(), "not differentiable"),
    (lambda logits: (F.softmax(logits, -1) * (F.log_softmax(logits, -1) + math.log(logits.shape[-1]))).sum(-1),
     "shape"),
    (lambda logits: kl_to_uniform(logits).mean(), "shape"),
]


@pytest.mark.parametrize("wrong, says", KL_MISTAKES)
def test_known_wrong_kls_fail_with_their_name(wrong, says):
    expect_failure(nb05.check_kl_to_uniform, wrong, says=says)


def test_a_copied_constant_cannot_pass_any_check():
    constant = torch.full((4, 5), 0.2)
    expect_failure(nb05.check_gumbel_softmax, lambda logits, tau, u: constant, says="shape")
    expect_failure(nb05.check_kl_to_uniform, lambda logits: torch.tensor(0.296794), says="shape")


# ------------------------------------------------------------------ the course round trip

def test_nbgrader_round_trip(tmp_path):
    wrong = ("def kl_to_uniform(logits):\n"
             "    q = torch.softmax(logits, dim=-1)\n"
             "    return (q * torch.log_softmax(logits, dim=-1)).sum(dim=(1, 2))\n")
    nbgrader_round_trip("05_gumbel_softmax.ipynb", 3, wrong, tmp_path)
