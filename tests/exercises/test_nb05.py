"""Notebook 05's exercises: right answers pass in float32 and float64 and in every shape the checks
draw ((K,), (B, N, K), (B, K)); known wrong methods fail with a message that names the mistake and
holds no number; calling the package's or torch's reference is refused."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import RelaxedOneHotCategorical

import vae_helpers as vh
from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
from vae_helpers.checks import nb05


def gumbel_softmax(logits, tau, u):
    return F.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)


def gumbel_softmax_hard(logits, tau, u):
    y = gumbel_softmax(logits, tau, u)
    y_hard = F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)
    return y_hard - y.detach() + y


def concrete_log_density(y, logits, tau):
    n_classes = y.shape[-1]
    log_y = torch.log(y)
    scores = F.log_softmax(logits, dim=-1) - tau * log_y
    return (math.lgamma(n_classes) + (n_classes - 1) * math.log(tau)
            + (scores - log_y).sum(-1) - n_classes * torch.logsumexp(scores, dim=-1))


CHECKS = (nb05.check_straight_through_forward, nb05.check_straight_through_gradient,
          nb05.check_concrete_log_density, nb05.check_concrete_log_density_gradient)


# ------------------------------------------------------------------ right answers

def test_right_answers_pass():
    expect_pass(nb05.check_straight_through_forward, gumbel_softmax_hard)
    expect_pass(nb05.check_straight_through_gradient, gumbel_softmax_hard)
    expect_pass(nb05.check_concrete_log_density, concrete_log_density)
    expect_pass(nb05.check_concrete_log_density_gradient, concrete_log_density)


def test_other_right_spellings_pass():
    def with_distributions(logits, tau, u):
        g = torch.distributions.Gumbel(torch.zeros_like(logits), torch.ones_like(logits)).icdf(u)
        return torch.exp(torch.log_softmax((logits + g) / tau, -1))

    def hard_with_scatter(logits, tau, u):
        y = with_distributions(logits, tau, u)
        index = y.argmax(-1, keepdim=True)
        return (torch.zeros_like(y).scatter_(-1, index, 1.0) - y).detach() + y

    def density_as_written(y, logits, tau):  # the product formula, term by term, in float64
        y, pi = y.double(), torch.softmax(logits.double(), -1)
        n_classes = y.shape[-1]
        numerator = (pi * y ** (-tau - 1)).log().sum(-1)
        return (math.log(math.factorial(n_classes - 1)) + (n_classes - 1) * math.log(tau) + numerator
                - n_classes * torch.log((pi * y ** (-tau)).sum(-1)))

    expect_pass(nb05.check_straight_through_forward, hard_with_scatter)
    expect_pass(nb05.check_straight_through_gradient, hard_with_scatter)
    expect_pass(nb05.check_concrete_log_density, density_as_written)
    expect_pass(nb05.check_concrete_log_density_gradient, density_as_written)


def test_float64_only_answers_pass_and_numpy_answers_are_refused_clearly():
    expect_pass(nb05.check_straight_through_forward,
                lambda logits, tau, u: gumbel_softmax_hard(logits.double(), tau, u.double()))
    expect_pass(nb05.check_concrete_log_density,
                lambda y, logits, tau: concrete_log_density(y.double(), logits.double(), tau))
    expect_failure(nb05.check_straight_through_forward,
                   lambda logits, tau, u: gumbel_softmax_hard(logits, tau, u).detach().numpy(), says="torch.Tensor")
    expect_failure(nb05.check_concrete_log_density,
                   lambda y, logits, tau: concrete_log_density(y, logits, tau).numpy(), says="torch.Tensor")


def test_placeholders_and_non_functions_are_not_done():
    for check in CHECKS:
        expect_failure(check, None, says="no answer yet")
        expect_failure(check, 0.5, says="expected a function")

    def not_written(*arguments):
        raise NotImplementedError()

    for check in CHECKS:
        with pytest.raises(AssertionError, match="not written yet"):
            check(not_written)


def test_calling_the_package_or_torch_is_refused():
    def package_hard(logits, tau, u):
        vh.gumbel_softmax(logits, tau=tau, hard=True)
        return gumbel_softmax_hard(logits, tau, u)

    expect_failure(nb05.check_straight_through_forward, package_hard, says="calls vae_helpers'")
    expect_failure(nb05.check_concrete_log_density,
                   lambda y, logits, tau: vh.relaxed_gradients.concrete_log_density(y, logits, tau),
                   says="calls vae_helpers'")
    expect_failure(nb05.check_concrete_log_density,
                   lambda y, logits, tau: vh.relaxed_gradients.exp_concrete_log_density(y.log(), logits, tau)
                   - y.log().sum(-1), says="calls vae_helpers'")
    torch_density = lambda y, logits, tau: RelaxedOneHotCategorical(  # noqa: E731
        torch.tensor(tau, dtype=logits.dtype), logits=logits).log_prob(y)
    expect_failure(nb05.check_concrete_log_density, torch_density, says="RelaxedOneHotCategorical.log_prob")
    expect_failure(nb05.check_concrete_log_density_gradient, torch_density, says="RelaxedOneHotCategorical.log_prob")


# ------------------------------------------------------------------ exercise 1: straight-through

def along_dimension_one(logits, tau, u):
    y = F.softmax((logits - torch.log(-torch.log(u))) / tau, dim=1)
    return torch.zeros_like(y).scatter_(1, y.argmax(1, keepdim=True), 1.0) - y.detach() + y


def along_dimension_zero(logits, tau, u):
    y = F.softmax((logits - torch.log(-torch.log(u))) / tau, dim=0)
    return F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) - y.detach() + y


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


def test_a_fixed_dimension_fails_on_the_shapes_the_vae_uses():
    # dim=1 raises on one variable (K,); dim=0 gives a wrong soft sample (and so a wrong gradient)
    expect_failure(nb05.check_straight_through_forward, along_dimension_one, says="raised IndexError")
    expect_failure(nb05.check_straight_through_gradient, along_dimension_one, says="raised IndexError")
    expect_failure(nb05.check_straight_through_gradient, along_dimension_zero, says="wrong")


def test_the_seeds_noise_and_temperature_mistakes_fail():
    def no_noise(logits, tau, u):
        y = F.softmax(logits / tau, -1)
        return F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) - y.detach() + y

    def times_tau(logits, tau, u):
        y = F.softmax((logits - torch.log(-torch.log(u))) * tau, -1)
        return F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype) - y.detach() + y

    expect_failure(nb05.check_straight_through_forward, no_noise, says="mode")
    expect_failure(nb05.check_straight_through_gradient, times_tau, says="not within the tolerance")


# ------------------------------------------------------------------ exercise 2: the Concrete log density

def log_factorial(n):
    return math.lgamma(n)


DENSITY_MISTAKES = [
    (lambda y, logits, tau: concrete_log_density(y, logits, tau) - log_factorial(y.shape[-1]), "(K-1)!"),
    (lambda y, logits, tau: concrete_log_density(y, logits, tau) - (y.shape[-1] - 1) * math.log(tau), "tau^(K-1)"),
    (lambda y, logits, tau: concrete_log_density(y, logits, tau) + torch.log(y).sum(-1), "density of log y"),
    (lambda y, logits, tau: concrete_log_density(y, logits, tau) + (y.shape[-1] - 1) * torch.logsumexp(
        F.log_softmax(logits, -1) - tau * torch.log(y), -1), "power K"),
    (lambda y, logits, tau: concrete_log_density(y, logits, tau).exp(), "return its logarithm"),
    (lambda y, logits, tau: concrete_log_density(y, logits, 1 / tau), "tau is inverted"),
    (lambda y, logits, tau: -concrete_log_density(y, logits, tau), "sign"),
    (lambda y, logits, tau: torch.zeros(y.shape[:-1]), "is wrong"),
    (lambda y, logits, tau: concrete_log_density(y, logits, tau).sum(), "shape"),
    (lambda y, logits, tau: concrete_log_density(y, logits, tau).unsqueeze(-1), "shape"),
]


@pytest.mark.parametrize("wrong, says", DENSITY_MISTAKES)
def test_known_wrong_densities_fail_with_their_name(wrong, says):
    expect_failure(nb05.check_concrete_log_density, wrong, says=says)


def test_a_density_detached_or_blind_to_the_logits_has_no_gradient():
    expect_failure(nb05.check_concrete_log_density_gradient,
                   lambda y, logits, tau: concrete_log_density(y, logits, tau).detach(), says="not differentiable")
    expect_failure(nb05.check_concrete_log_density_gradient,
                   lambda y, logits, tau: concrete_log_density(y, logits.detach(), tau), says="not differentiable")
    expect_failure(nb05.check_concrete_log_density_gradient,
                   lambda y, logits, tau: concrete_log_density(y, logits, tau) + 0 * logits.sum()
                   - concrete_log_density(y, logits, tau).detach() * 0 + logits.sum(-1),
                   says="not within the tolerance")


def test_a_copied_constant_cannot_pass_any_check():
    constant = torch.full((4, 5), 0.2)
    expect_failure(nb05.check_straight_through_forward, lambda logits, tau, u: constant, says="shape")
    expect_failure(nb05.check_concrete_log_density, lambda y, logits, tau: torch.tensor(-3.5), says="not within the tolerance")


# ------------------------------------------------------------------ the course round trip

def test_nbgrader_round_trip(tmp_path):
    wrong = ("def concrete_log_density(y, logits, tau):\n"
             "    n_classes = y.shape[-1]\n"
             "    scores = torch.log_softmax(logits, dim=-1) - tau * torch.log(y)\n"
             "    return ((n_classes - 1) * math.log(tau) + (scores - torch.log(y)).sum(-1)\n"
             "            - n_classes * torch.logsumexp(scores, dim=-1))\n")
    nbgrader_round_trip("05_gumbel_softmax.ipynb", 2, wrong, tmp_path)
