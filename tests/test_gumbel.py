"""Gumbel noise, the Gumbel-max trick and the Gumbel-softmax relaxation."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

import vae_helpers as vh
from vae_helpers.gumbel import constant_temperature, gumbel_cdf, gumbel_pdf

EULER_GAMMA = 0.5772156649015329


def test_gumbel_noise_has_standard_gumbel_moments_and_cdf():
    samples = vh.sample_gumbel((200_000,), generator=torch.Generator().manual_seed(0)).double()
    assert torch.isfinite(samples).all()
    assert samples.mean().item() == pytest.approx(EULER_GAMMA, abs=0.01)
    assert samples.var().item() == pytest.approx(math.pi ** 2 / 6, rel=0.02)
    assert stats.kstest(samples.numpy()[:20_000], "gumbel_r").pvalue > 0.01


def test_gumbel_pdf_and_cdf_agree_with_scipy_for_location_and_scale():
    grid = torch.linspace(-3, 8, 50, dtype=torch.float64)
    assert np.allclose(gumbel_pdf(grid, 1.0, 2.0).numpy(), stats.gumbel_r.pdf(grid.numpy(), loc=1.0, scale=2.0))
    assert np.allclose(gumbel_cdf(grid, 1.0, 2.0).numpy(), stats.gumbel_r.cdf(grid.numpy(), loc=1.0, scale=2.0))


def test_gumbel_max_frequencies_match_softmax_chi_square():
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0, 0.5])
    draws = vh.gumbel_max_sample(logits.expand(50_000, 5), generator=torch.Generator().manual_seed(0))
    observed = torch.bincount(draws, minlength=5).numpy()
    expected = torch.softmax(logits.double(), 0).numpy() * 50_000
    assert stats.chisquare(observed, expected).pvalue > 0.01


def test_gumbel_softmax_lies_on_the_simplex_and_approaches_one_hot_as_tau_shrinks():
    logits = torch.randn(2000, 10, generator=torch.Generator().manual_seed(0))
    largest = []
    for tau in (10.0, 1.0, 0.1, 0.01):
        sample = vh.gumbel_softmax(logits, tau, generator=torch.Generator().manual_seed(1))
        assert torch.allclose(sample.sum(-1), torch.ones(2000), atol=1e-5)
        largest.append(sample.max(-1).values.mean().item())
    assert all(a < b for a, b in zip(largest, largest[1:]))
    assert largest[-1] > 0.99
    assert largest[0] < 0.3


def test_gumbel_softmax_at_low_temperature_picks_the_gumbel_max_sample():
    logits = torch.randn(500, 6, generator=torch.Generator().manual_seed(2))
    soft = vh.gumbel_softmax(logits, 1e-3, generator=torch.Generator().manual_seed(3))
    hard_index = vh.gumbel_max_sample(logits, generator=torch.Generator().manual_seed(3))
    assert torch.equal(soft.argmax(-1), hard_index)


def test_straight_through_is_one_hot_forward_with_the_soft_gradient_backward():
    logits = torch.randn(8, 5, generator=torch.Generator().manual_seed(4))
    weights = torch.randn(5, generator=torch.Generator().manual_seed(5))
    logits_hard = logits.clone().requires_grad_(True)
    logits_soft = logits.clone().requires_grad_(True)
    hard = vh.gumbel_softmax(logits_hard, 0.7, hard=True, generator=torch.Generator().manual_seed(6))
    soft = vh.gumbel_softmax(logits_soft, 0.7, hard=False, generator=torch.Generator().manual_seed(6))
    assert set(hard.detach().unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(hard.detach().sum(-1), torch.ones(8))
    assert torch.equal(hard.detach().argmax(-1), soft.detach().argmax(-1))
    (hard * weights).sum().backward()
    (soft * weights).sum().backward()
    assert torch.allclose(logits_hard.grad, logits_soft.grad, atol=1e-6)
    assert logits_soft.grad.abs().sum() > 0


def test_temperature_schedules():
    schedule = vh.exponential_temperature(tau0=1.0, rate=1e-3, tau_min=0.5)
    assert schedule(0) == 1.0
    assert schedule(100) == pytest.approx(math.exp(-0.1))
    assert schedule(10_000) == 0.5
    stepped = vh.exponential_temperature(tau0=1.0, rate=1e-3, tau_min=0.1, every=1000)
    assert stepped(999) == 1.0 and stepped(1000) == pytest.approx(math.exp(-1.0))
    assert constant_temperature(0.7)(12345) == 0.7


@pytest.mark.parametrize("call", [
    lambda: vh.gumbel_softmax(torch.zeros(2, 3), tau=0.0),
    lambda: vh.gumbel_softmax(torch.zeros(2, 3, dtype=torch.long)),
    lambda: vh.exponential_temperature(tau0=-1.0),
    lambda: constant_temperature(0.0),
])
def test_bad_temperatures_and_logits_raise(call):
    with pytest.raises((ValueError, TypeError)):
        call()
