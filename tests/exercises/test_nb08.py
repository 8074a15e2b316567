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
    expect_failure(nb08.check_bound_with_true_posterior, None, says="no answer")
    expect_failure(nb08.check_bound_is_stable, lambda w: float(w[0, 0]), says="torch.Tensor")
    expect_failure(nb08.check_importance_weighted_bound, lambda w: np.zeros(w.shape[1]), says="torch.Tensor")


def test_a_float32_bound_passes():
    expect_pass(nb08.check_importance_weighted_bound, lambda w: importance_weighted_bound(w.float()))
    expect_pass(nb08.check_bound_is_stable, lambda w: importance_weighted_bound(w.float()))


def test_a_float32_answer_passes_the_stability_point_and_half_precision_is_refused():
    expect_pass(nb08.check_bound_is_stable, lambda w: importance_weighted_bound(w.float()))
    expect_failure(nb08.check_importance_weighted_bound, lambda w: importance_weighted_bound(w.half()),
                   says="half-precision")
    expect_failure(nb08.check_bound_is_stable, lambda w: importance_weighted_bound(w.to(torch.bfloat16)),
                   says="half-precision")


def test_the_naive_version_fails_on_float32_log_weights_of_real_size():
    """exp(-150) is 0 in float32 (the naive version gives -inf), though not in float64."""
    assert torch.exp(torch.tensor(-150.0)) == 0 and torch.exp(torch.tensor(-150.0, dtype=torch.float64)) > 0
    naive = lambda w: torch.log(torch.exp(w).mean(dim=0))  # noqa: E731
    expect_failure(nb08.check_bound_is_stable, lambda w: naive(w) if w.dtype == torch.float32 else
                   importance_weighted_bound(w), says="float32")
    expect_failure(nb08.check_bound_is_stable, lambda w: naive(w) if w.dtype == torch.float64 else
                   importance_weighted_bound(w), says="float64")


def test_calling_the_packages_log_mean_exp_is_refused():
    from vae_helpers.losses import log_mean_exp
    expect_failure(nb08.check_importance_weighted_bound, lambda w: log_mean_exp(w, 0), says="log_mean_exp")
    expect_failure(nb08.check_bound_is_stable, lambda w: log_mean_exp(w), says="log_mean_exp")


def log_weights(model, x, z):
    k, batch = z.shape[:2]
    log_likelihood = torch.stack([model.log_likelihood(x, z_i) for z_i in z])
    return log_likelihood + model.prior(batch).log_prob(z) - model.posterior(x).log_prob(z)


def test_the_right_log_weights_pass_in_two_ways():
    expect_pass(nb08.check_log_weights, log_weights)

    def reshaped(model, x, z):
        k, batch = z.shape[:2]
        repeated = x.repeat(k, 1, 1, 1)
        log_likelihood = model.log_likelihood(repeated, z.reshape(k * batch, -1)).view(k, batch)
        return log_likelihood + model.prior(batch).log_prob(z) - model.posterior(x).log_prob(z)
    expect_pass(nb08.check_log_weights, reshaped)


def _terms(model, x, z):
    log_likelihood = torch.stack([model.log_likelihood(x, z_i) for z_i in z])
    return log_likelihood, model.prior(z.shape[1]).log_prob(z), model.posterior(x).log_prob(z)


@pytest.mark.parametrize("wrong, says", [
    (lambda m, x, z: _terms(m, x, z)[0] - _terms(m, x, z)[2], "prior term log p(z) is missing"),
    (lambda m, x, z: _terms(m, x, z)[0] + _terms(m, x, z)[1], "-log q(z|x) is missing"),
    (lambda m, x, z: sum(_terms(m, x, z)), "wrong sign"),
    (lambda m, x, z: _terms(m, x, z)[0], "log p(x|z) alone"),
    (lambda m, x, z: _terms(m, x, z)[0] - m.kl_to_prior(m.posterior(x)), "analytic KL"),
    (lambda m, x, z: (m.log_likelihood(x.repeat_interleave(z.shape[0], 0), z.reshape(-1, z.shape[2]))
                      .view(z.shape[0], z.shape[1]) + _terms(m, x, z)[1] - _terms(m, x, z)[2]), "wrong images"),
    (lambda m, x, z: log_weights(m, x, z).detach(), "not differentiable"),
    (lambda m, x, z: log_weights(m, x, z).sum(0), "shape"),
    (lambda m, x, z: log_weights(m, x, z).T, "shape"),
    (lambda m, x, z: vh.iwae.log_importance_weights(m, x, z.shape[0]), "not within"),
    (lambda m, x, z: torch.full(z.shape[:2], -550.0, dtype=torch.float64), "not"),
    (lambda m, x, z: log_weights(m, x, z).detach().numpy(), "torch.Tensor"),
])
def test_wrong_log_weights_fail_and_say_why(wrong, says):
    expect_failure(nb08.check_log_weights, wrong, says=says)


def test_no_log_weights_yet_is_refused_clearly():
    expect_failure(nb08.check_log_weights, None, says="no answer")


def bound_with_true_posterior(model, x, k):
    return vh.iwae_bound(LinearGaussianVAE(model, model.true_posterior), x, k)


def test_the_true_posterior_bound_passes_and_copies_fail():
    expect_pass(nb08.check_bound_with_true_posterior, bound_with_true_posterior)
    model = LinearGaussianModel.random(latent_dim=2, data_dim=5, noise_std=0.5, seed=0)
    point = model.sample(1, seed=1)
    copied = model.log_evidence(point)
    expect_failure(nb08.check_bound_with_true_posterior, lambda m, x, k: copied.expand(x.shape[0]),
                   says="k = 1")
    expect_failure(nb08.check_bound_with_true_posterior, lambda m, x, k: copied.item(), says="k = 1")
    expect_failure(nb08.check_bound_with_true_posterior, lambda m, x, k: copied, says="k = 1")


@pytest.mark.parametrize("closed_form", [
    lambda m, x, k: m.log_evidence(x),
    lambda m, x, k: m.exact_elbo(x, m.true_posterior(x)),
    lambda m, x, k: m.marginal().log_prob(x),
])
def test_the_closed_form_is_refused(closed_form):
    expect_failure(nb08.check_bound_with_true_posterior, closed_form, says="closed-form")


def test_a_bound_that_is_right_only_for_large_k_fails_at_one_draw():
    def prior_as_q(model, x, k):
        return vh.iwae_bound(LinearGaussianVAE(model, lambda points: model.prior(points.shape[0])), x, 20_000)
    expect_failure(nb08.check_bound_with_true_posterior, prior_as_q, says="k = 1")


def test_the_imperfect_encoders_bound_is_named():
    def imperfect(model, x, k):
        true = model.true_posterior(x)

        def posterior(points):
            return torch.distributions.MultivariateNormal(true.loc + 0.3, 2.0 * true.covariance_matrix)
        torch.manual_seed(0)
        return vh.iwae_bound(LinearGaussianVAE(model, posterior), x, k)
    expect_failure(nb08.check_bound_with_true_posterior, imperfect, says="k = 1")


def test_nbgrader_round_trip(tmp_path):
    wrong = "def importance_weighted_bound(log_weights):\n    return log_weights.mean(dim=0)\n"
    nbgrader_round_trip("08_evaluating_vaes.ipynb", 1, wrong, tmp_path)
