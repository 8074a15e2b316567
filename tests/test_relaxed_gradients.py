"""Exact gradients by enumeration, the soft and straight-through estimators, the Concrete density."""

import math

import pytest
import torch
from torch.distributions import RelaxedOneHotCategorical
from torch.distributions.relaxed_categorical import ExpRelaxedCategorical

import vae_helpers as vh
from vae_helpers import relaxed_gradients as rg

LOGITS = torch.tensor([1.0, 0.0, -0.5], dtype=torch.float64)
WEIGHTS = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)


def quadratic(y):
    return ((y * WEIGHTS.to(y.dtype)).sum(-1) - 0.5) ** 2


def test_exact_gradient_is_the_softmax_covariance_formula():
    probs = torch.softmax(LOGITS, -1)
    values = quadratic(torch.eye(3, dtype=torch.float64))
    expected = probs * (values - (probs * values).sum())
    assert torch.allclose(rg.exact_gradient(LOGITS, quadratic), expected, atol=1e-12)


def test_rows_of_sampled_gradients_are_single_draw_gradients():
    generator = torch.Generator().manual_seed(0)
    rows = rg.sampled_gradients(LOGITS, quadratic, 0.5, 4, hard=False, generator=generator)
    again = torch.Generator().manual_seed(0)
    for row in rows:
        leaf = LOGITS.clone().requires_grad_(True)
        y = vh.gumbel_softmax(leaf, tau=0.5, generator=again)
        (gradient,) = torch.autograd.grad(quadratic(y), leaf)
        assert torch.allclose(row, gradient, atol=1e-12)


def test_soft_estimator_bias_vanishes_as_tau_falls_and_straight_through_stays_biased():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0], dtype=torch.float64)
    weights = torch.tensor([2.0, -1.0, 0.5, 1.5], dtype=torch.float64)

    def exponential(y):
        return torch.exp(y @ weights)

    study_soft = rg.estimator_study(logits, exponential, (0.03, 3.0), 50_000, hard=False)
    study_hard = rg.estimator_study(logits, exponential, (0.03, 3.0), 50_000, hard=True)
    assert study_soft["bias"][0] < 0.25 * study_soft["bias"][1]
    assert study_soft["variance"][0] > study_soft["variance"][1]
    assert torch.all(study_hard["bias"] > 5 * study_hard["bias_standard_error"])


def test_a_linear_function_has_an_unbiased_straight_through_gradient_only_in_the_limit():
    linear = lambda y: (y * WEIGHTS.to(y.dtype)).sum(-1)  # noqa: E731
    study = rg.estimator_study(LOGITS, linear, (0.01,), 20_000, hard=False)
    assert study["bias"][0] < 5 * study["bias_standard_error"][0] + 1e-3


def test_concrete_density_matches_torch_and_integrates_to_one_for_two_classes():
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for tau in (0.3, 1.0, 2.5):
        torch.manual_seed(2)
        y = RelaxedOneHotCategorical(torch.tensor(tau, dtype=torch.float64), logits=logits).sample()
        ours = rg.concrete_log_density(y, logits, tau)
        theirs = RelaxedOneHotCategorical(torch.tensor(tau, dtype=torch.float64), logits=logits).log_prob(y)
        assert torch.allclose(ours, theirs, atol=1e-8)
        exp_theirs = ExpRelaxedCategorical(torch.tensor(tau, dtype=torch.float64), logits=logits).log_prob(y.log())
        assert torch.allclose(rg.exp_concrete_log_density(y.log(), logits, tau), exp_theirs, atol=1e-8)
    # K = 2: the density of y_1 on (0, 1) integrates to 1.
    grid = torch.linspace(1e-6, 1 - 1e-6, 200_001, dtype=torch.float64)
    y = torch.stack([grid, 1 - grid], -1)
    density = rg.concrete_log_density(y, torch.tensor([0.7, -0.2], dtype=torch.float64), 0.8).exp()
    assert math.isclose(torch.trapezoid(density, grid).item(), 1.0, abs_tol=1e-3)


def test_relaxed_bound_is_a_bound_that_rises_with_k():
    torch.manual_seed(3)
    model = vh.CategoricalVAE(n_latents=3, n_classes=4, hidden_dims=(16,))
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.3))
    with torch.no_grad():
        weights = rg.relaxed_log_weights(model, x, tau=0.7, prior_tau=0.7, k=400)
    elbo = weights.mean(0)
    bound = torch.logsumexp(weights, 0) - math.log(400)
    assert torch.isfinite(weights).all() and weights.shape == (400, 5)
    assert torch.all(bound >= elbo)


def test_the_study_in_chunks_is_the_study_in_one_piece():
    # the chunks draw the same noise in sequence, so the sums are those of one big draw
    whole = rg.estimator_study(LOGITS, quadratic, (0.5, 2.0), 3000, hard=True, chunk_size=3000)
    chunked = rg.estimator_study(LOGITS, quadratic, (0.5, 2.0), 3000, hard=True, chunk_size=700)
    for key in ("bias", "bias_standard_error", "variance"):
        assert torch.allclose(whole[key], chunked[key], rtol=1e-9, atol=1e-12), key
    generator = torch.Generator().manual_seed(0)
    draws = rg.sampled_gradients(LOGITS, quadratic, 0.5, 3000, hard=True, generator=generator)
    assert torch.allclose(whole["bias"][0], (draws.mean(0) - whole["exact"]).norm(), atol=1e-12)
    assert torch.allclose(whole["variance"][0], draws.var(0).sum(), rtol=1e-9)


def test_the_noise_floor_is_the_size_of_the_bias_of_an_unbiased_estimator():
    # a linear f at a tiny tau: the soft estimator is (nearly) unbiased, so the estimated bias is noise
    linear = lambda y: (y * WEIGHTS.to(y.dtype)).sum(-1)  # noqa: E731
    ratios = [(s["bias"] / s["bias_standard_error"]).item() for s in
              (rg.estimator_study(LOGITS, linear, (0.01,), 5000, hard=False, seed=seed) for seed in range(8))]
    assert 0.3 < sum(ratios) / len(ratios) < 2.0


def test_the_study_refuses_too_few_draws():
    with pytest.raises(ValueError, match="n_samples"):
        rg.estimator_study(LOGITS, quadratic, (0.5,), 1, hard=False)


def test_relaxed_log_weights_are_reproducible_from_a_generator():
    torch.manual_seed(4)
    model = vh.CategoricalVAE(n_latents=3, n_classes=4, hidden_dims=(16,))
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.3))
    with torch.no_grad():
        first = rg.relaxed_log_weights(model, x, 0.7, 0.7, k=3, generator=torch.Generator().manual_seed(1))
        again = rg.relaxed_log_weights(model, x, 0.7, 0.7, k=3, generator=torch.Generator().manual_seed(1))
        other = rg.relaxed_log_weights(model, x, 0.7, 0.7, k=3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(first, again) and not torch.equal(first, other)
