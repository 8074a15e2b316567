"""Notebook 08's exercises: right answers pass, known wrong ones fail with a message that names
the mistake and gives nothing away; the nbgrader round trip grades them."""

import math

import numpy as np
import pytest
import torch

import vae_helpers as vh
from vae_helpers.checks import nb08
from vae_helpers.linear_gaussian import LinearGaussianModel, LinearGaussianVAE
from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip


def importance_weighted_bound(log_weights):
    return torch.logsumexp(log_weights, dim=0) - math.log(log_weights.shape[0])


def test_the_right_bound_passes_both_points():
    expect_pass(nb08.check_importance_weighted_bound, importance_weighted_bound)
    expect_pass(nb08.check_bound_is_stable, importance_weighted_bound)


def test_the_max_shifted_bound_written_by_hand_passes():
    def by_hand(log_weights):
        largest = log_weights.max(dim=0).values
        return largest + torch.log(torch.exp(log_weights - largest).mean(dim=0))
    expect_pass(nb08.check_importance_weighted_bound, by_hand)
    expect_pass(nb08.check_bound_is_stable, by_hand)


def test_the_naive_log_mean_exp_earns_the_first_point_but_not_the_second():
    def naive(log_weights):
        return torch.log(torch.exp(log_weights).mean(dim=0))
    expect_pass(nb08.check_importance_weighted_bound, naive)
    expect_failure(nb08.check_bound_is_stable, naive, says="underflows")


@pytest.mark.parametrize("wrong, says", [
    (lambda w: torch.logsumexp(w, dim=0), "-log k is missing"),
    (lambda w: w.mean(dim=0), "mean of the log weights"),
    (lambda w: w.max(dim=0).values, "largest log weight"),
    (lambda w: torch.logsumexp(w, dim=1) - math.log(w.shape[1]), "shape"),
    (lambda w: (torch.logsumexp(w, dim=0) - math.log(w.shape[0])).detach(), "not differentiable"),
    (lambda w: -importance_weighted_bound(w), "sign"),
    (lambda w: torch.zeros(w.shape[1]), "not within"),
])
def test_wrong_bounds_fail_and_say_why(wrong, says):
    expect_failure(nb08.check_importance_weighted_bound, wrong, says=says)


def test_wrong_bounds_fail_the_stability_point_too():
    expect_failure(nb08.check_bound_is_stable, lambda w: w.mean(dim=0), says="mean of the log weights")
    expect_failure(nb08.check_bound_is_stable, lambda w: torch.logsumexp(w, dim=0), says="-log k")


def test_no_answer_and_non_functions_are_refused_clearly():
    expect_failure(nb08.check_importance_weighted_bound, None, says="no answer")
    expect_failure(nb08.check_bound_is_stable, None, says="no answer")
    expect_failure(nb08.check_bound_is_stable, -318.97, says="expected a function")
    expect_failure(nb08.check_bound_is_stable, lambda w: float(w[0, 0]), says="torch.Tensor")
    expect_failure(nb08.check_importance_weighted_bound, lambda w: np.zeros(w.shape[1]), says="torch.Tensor")


def test_a_float32_bound_passes():
    expect_pass(nb08.check_importance_weighted_bound, lambda w: importance_weighted_bound(w.float()))


def test_bits_per_dim_right_and_wrong():
    expect_pass(nb08.check_bits_per_dim, lambda nats: nats / (784 * math.log(2)))
    expect_pass(nb08.check_bits_per_dim, lambda nats: nats.double() / 784 / math.log(2))
    expect_failure(nb08.check_bits_per_dim, lambda nats: nats / 784, says="constant factor")
    expect_failure(nb08.check_bits_per_dim, lambda nats: nats / math.log(2), says="constant factor")
    expect_failure(nb08.check_bits_per_dim, lambda nats: nats * math.log(2) / 784, says="ln 2")
    expect_failure(nb08.check_bits_per_dim, lambda nats: nats / 784 / math.log(10), says="base 10")
    expect_failure(nb08.check_bits_per_dim, lambda nats: 0.1457, says="torch.Tensor")
    expect_failure(nb08.check_bits_per_dim, lambda nats: torch.full_like(nats, 0.1457), says="not within")
    expect_failure(nb08.check_bits_per_dim, lambda nats: (nats / 784 / math.log(2)).numpy(), says="torch.Tensor")


def bound_with_true_posterior(model, x, k):
    return vh.iwae_bound(LinearGaussianVAE(model, model.true_posterior), x, k)


def test_the_true_posterior_bound_passes_and_copies_fail():
    expect_pass(nb08.check_bound_with_true_posterior, bound_with_true_posterior)
    model = LinearGaussianModel.random(latent_dim=2, data_dim=5, noise_std=0.5, seed=0)
    point = model.sample(1, seed=1)
    copied = model.log_evidence(point)
    expect_failure(nb08.check_bound_with_true_posterior, lambda m, x, k: copied.expand(x.shape[0]),
                   says="not within")
    expect_failure(nb08.check_bound_with_true_posterior, lambda m, x, k: copied.item(), says="torch.Tensor")
    expect_failure(nb08.check_bound_with_true_posterior, lambda m, x, k: copied, says="shape")


def test_the_imperfect_encoders_bound_is_named():
    def imperfect(model, x, k):
        true = model.true_posterior(x)

        def posterior(points):
            return torch.distributions.MultivariateNormal(true.loc + 0.3, 2.0 * true.covariance_matrix)
        torch.manual_seed(0)
        return vh.iwae_bound(LinearGaussianVAE(model, posterior), x, 20_000)
    expect_failure(nb08.check_bound_with_true_posterior, imperfect, says="not within")
    exact_elbo = lambda m, x, k: m.exact_elbo(x, torch.distributions.MultivariateNormal(  # noqa: E731
        m.true_posterior(x).loc + 0.3, 2.0 * m.true_posterior(x).covariance_matrix))
    expect_failure(nb08.check_bound_with_true_posterior, exact_elbo, says="imperfect encoder")


def test_nbgrader_round_trip(tmp_path):
    wrong = "def importance_weighted_bound(log_weights):\n    return log_weights.mean(dim=0)\n"
    nbgrader_round_trip("08_evaluating_vaes.ipynb", 1, wrong, tmp_path)
