"""Losses, KL divergences and bounds against independent computations."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal, OneHotCategorical, kl_divergence

import vae_helpers as vh
from vae_helpers.linear_gaussian import LinearGaussianModel, LinearGaussianVAE
from vae_helpers.losses import nats_to_bits_per_dim


def test_gaussian_kl_matches_torch_distributions():
    generator = torch.Generator().manual_seed(0)
    loc = torch.randn(16, 5, generator=generator, dtype=torch.float64)
    log_var = torch.randn(16, 5, generator=generator, dtype=torch.float64)
    q = Independent(Normal(loc, torch.exp(0.5 * log_var)), 1)
    p = Independent(Normal(torch.zeros_like(loc), torch.ones_like(loc)), 1)
    assert torch.allclose(vh.gaussian_kl(loc, log_var), kl_divergence(q, p), atol=1e-12)


def test_gaussian_kl_is_zero_only_at_the_prior():
    zeros = torch.zeros(3, 4)
    assert torch.equal(vh.gaussian_kl(zeros, zeros), torch.zeros(3))
    assert (vh.gaussian_kl(zeros + 0.1, zeros) > 0).all()


def test_monte_carlo_kl_converges_to_closed_form():
    torch.manual_seed(0)
    q = Independent(Normal(torch.tensor([[0.7, -0.3]]), torch.tensor([[0.5, 1.4]])), 1)
    p = Independent(Normal(torch.zeros(1, 2), torch.ones(1, 2)), 1)
    exact = kl_divergence(q, p).item()
    errors = [abs(vh.monte_carlo_kl(q, p, n).item() - exact) for n in (100, 100_000)]
    assert errors[1] < 0.01 * exact + 0.005
    assert errors[1] < errors[0]


def test_categorical_kl_to_uniform_matches_torch_distributions():
    logits = torch.randn(4, 30, 10, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    q = Independent(OneHotCategorical(logits=logits), 1)
    uniform = Independent(OneHotCategorical(probs=torch.full_like(logits, 0.1)), 1)
    assert torch.allclose(vh.categorical_kl_to_uniform(logits), kl_divergence(q, uniform), atol=1e-10)


def test_bernoulli_log_likelihood_matches_torch_distributions():
    generator = torch.Generator().manual_seed(2)
    logits = 5 * torch.randn(3, 1, 28, 28, generator=generator, dtype=torch.float64)
    x = torch.bernoulli(torch.full((3, 1, 28, 28), 0.3, dtype=torch.float64), generator=generator)
    expected = Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(vh.bernoulli_log_likelihood(logits, x), expected, atol=1e-9)


def test_bernoulli_log_likelihood_gradients_match_autograd_through_torch_distributions():
    generator = torch.Generator().manual_seed(5)
    logits = (6 * torch.randn(4, 1, 28, 28, generator=generator, dtype=torch.float64)).requires_grad_()
    x = torch.rand(4, 1, 28, 28, generator=generator, dtype=torch.float64).requires_grad_()
    weights = torch.randn(4, generator=generator, dtype=torch.float64)
    ours = torch.autograd.grad((vh.bernoulli_log_likelihood(logits, x) * weights).sum(), (logits, x))
    # Bernoulli.log_prob with continuous x is x*l - softplus(l), the same function of both inputs.
    expected = torch.autograd.grad(
        (Bernoulli(logits=logits, validate_args=False).log_prob(x).flatten(1).sum(1) * weights).sum(), (logits, x))
    for mine, reference in zip(ours, expected):
        torch.testing.assert_close(mine, reference)
    assert torch.autograd.gradcheck(vh.bernoulli_log_likelihood, (logits[:2, :, :3], x[:2, :, :3]))


def test_bernoulli_log_likelihood_works_in_float32_under_bf16_inputs():
    generator = torch.Generator().manual_seed(6)
    logits = torch.randn(2, 1, 28, 28, generator=generator)
    x = torch.rand(2, 1, 28, 28, generator=generator)
    low = logits.to(torch.bfloat16).requires_grad_()
    value = vh.bernoulli_log_likelihood(low, x)
    assert value.dtype == torch.float32
    expected = -torch.nn.functional.binary_cross_entropy_with_logits(low.float(), x, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(value, expected)
    value.sum().backward()
    assert low.grad.dtype == torch.bfloat16


def test_bernoulli_log_likelihood_is_stable_for_extreme_logits():
    logits = torch.tensor([[-200.0, 200.0]]).view(1, 2)
    x = torch.tensor([[0.0, 1.0]])
    value = vh.bernoulli_log_likelihood(logits, x)
    assert torch.isfinite(value).all() and value.abs().item() < 1e-6


def test_gaussian_log_likelihood_matches_normal_log_prob():
    generator = torch.Generator().manual_seed(3)
    mean = torch.rand(2, 1, 28, 28, generator=generator, dtype=torch.float64)
    x = torch.rand(2, 1, 28, 28, generator=generator, dtype=torch.float64)
    expected = Normal(mean, math.sqrt(0.3)).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(vh.gaussian_log_likelihood(mean, x, 0.3), expected, atol=1e-9)


def test_uniform_predictor_scores_784_ln2_nats_and_one_bit_per_dimension():
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.5), generator=torch.Generator().manual_seed(0))
    nats = -vh.bernoulli_log_likelihood(torch.zeros_like(x), x)
    assert torch.allclose(nats, torch.full((5,), 784 * math.log(2)))
    assert nats_to_bits_per_dim(nats[0].item()) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def linear_gaussian():
    model = LinearGaussianModel.random(latent_dim=2, data_dim=5, noise_std=0.5, seed=0)
    return model, model.sample(32, seed=1)


def _fixed_q(shift: float, variance: float):
    def posterior(x):
        loc = torch.full((x.shape[0], 2), shift, dtype=torch.float64)
        return MultivariateNormal(loc, variance * torch.eye(2, dtype=torch.float64))
    return posterior


def test_elbo_gap_equals_kl_to_true_posterior(linear_gaussian):
    model, x = linear_gaussian
    for q_fn in (_fixed_q(0.0, 1.0), _fixed_q(0.5, 0.2), model.true_posterior):
        q = q_fn(x)
        gap = model.log_evidence(x) - model.exact_elbo(x, q)
        assert torch.allclose(gap, kl_divergence(q, model.true_posterior(x)), atol=1e-9)
    assert model.log_evidence(x).sub(model.exact_elbo(x, model.true_posterior(x))).abs().max() < 1e-9


def test_monte_carlo_elbo_agrees_with_exact_elbo(linear_gaussian):
    model, x = linear_gaussian
    vae = LinearGaussianVAE(model, _fixed_q(0.3, 0.5))
    torch.manual_seed(0)
    draws = vh.elbo(vae, x.repeat(4000, 1), reduction="none").elbo.view(4000, -1)
    standard_error = draws.std(0) / math.sqrt(len(draws))
    exact = model.exact_elbo(x, vae.posterior(x))
    assert ((draws.mean(0) - exact).abs() < 4 * standard_error + 1e-9).all()


def test_iwae_bound_exceeds_elbo_grows_with_k_and_reaches_log_evidence(linear_gaussian):
    model, x = linear_gaussian
    vae = LinearGaussianVAE(model, _fixed_q(0.0, 1.0))
    torch.manual_seed(0)
    exact = model.log_evidence(x).mean().item()
    elbo_value = model.exact_elbo(x, vae.posterior(x)).mean().item()
    repeated = x.repeat(500, 1)  # average each bound over 500 independent estimates per point
    single_sample = vh.iwae_bound(vae, repeated, 1)
    standard_error = single_sample.std().item() / math.sqrt(single_sample.numel())
    assert abs(single_sample.mean().item() - elbo_value) < 4 * standard_error
    bounds = [single_sample.mean().item()] + [vh.iwae_bound(vae, repeated, k).mean().item() for k in (10, 100)]
    bounds.append(vh.iwae_bound(vae, x, 5000).mean().item())
    assert all(a < b for a, b in zip(bounds, bounds[1:]))
    assert all(b <= exact + 0.05 for b in bounds)
    assert exact - bounds[-1] < 0.1 * (exact - elbo_value)


def test_iwae_bound_is_exact_at_the_true_posterior(linear_gaussian):
    model, x = linear_gaussian
    vae = LinearGaussianVAE(model, model.true_posterior)
    assert torch.allclose(vh.iwae_bound(vae, x, 3), model.log_evidence(x), atol=1e-8)


def test_iwae_chunks_give_the_same_bound(linear_gaussian):
    model, x = linear_gaussian
    vae = LinearGaussianVAE(model, _fixed_q(0.0, 1.0))
    torch.manual_seed(5)
    whole = vh.iwae_bound(vae, x, 64)
    torch.manual_seed(5)
    chunked = vh.iwae_bound(vae, x, 64, max_samples_per_chunk=x.shape[0] * 7)
    assert torch.allclose(whole, chunked, atol=0.5)  # different draws, same estimator
    assert chunked.shape == (x.shape[0],)


@pytest.mark.parametrize("call, message", [
    (lambda: vh.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4)), "same shape"),
    (lambda: vh.categorical_kl_to_uniform(torch.zeros(2, 10)), "(B, N, K)"),
    (lambda: vh.bernoulli_log_likelihood(torch.zeros(2, 784), torch.zeros(2, 1, 28, 28)), "same shape"),
    (lambda: vh.gaussian_log_likelihood(torch.zeros(2, 3), torch.zeros(2, 3), 0.0), "variance"),
    (lambda: vh.iwae_bound(vh.GaussianVAE(), torch.zeros(2, 1, 28, 28), 0), "positive whole number"),
    (lambda: vh.elbo(vh.GaussianVAE(), torch.zeros(2, 1, 28, 28), reduction="sum"), "reduction"),
])
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError)) as error:
        call()
    assert message in str(error.value)


def test_log_mean_exp_is_the_log_of_the_mean_and_survives_underflow():
    from vae_helpers.losses import log_mean_exp
    values = torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(log_mean_exp(values), values.exp().mean(0).log())
    torch.testing.assert_close(log_mean_exp(values, dim=1), values.exp().mean(1).log())
    real_size = values.float() - 150.0  # exp() of these is 0 in float32
    assert torch.isinf(real_size.exp().mean(0).log()).all()
    torch.testing.assert_close(log_mean_exp(real_size), (log_mean_exp(values) - 150.0).float())
