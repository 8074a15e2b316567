"""Notebook 04's exercise checks: right answers pass in any dtype, wrong methods fail with a
message that names the mistake and gives nothing away, and the nbgrader round trip grades."""

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
from vae_helpers.checks import nb04


# ----------------------------------------------------------------------------- Exercise 1: the sampler

def test_right_samplers_pass():
    expect_pass(nb04.check_reparameterized_sample, lambda loc, log_var: loc + torch.exp(0.5 * log_var) * torch.randn_like(loc))
    expect_pass(nb04.check_reparameterized_sample,
                lambda loc, log_var: (loc.double() + (0.5 * log_var.double()).exp() * torch.randn(loc.shape, dtype=torch.float64)))


def _antithetic(loc):
    half = torch.randn(loc.shape[0] // 2, loc.shape[1])
    return torch.cat([half, -half])


def _seeded(loc, log_var):
    generator = torch.Generator().manual_seed(0)
    return loc + torch.exp(0.5 * log_var) * torch.randn(loc.shape, generator=generator)


@pytest.mark.parametrize("sampler, says", [
    (lambda loc, log_var: loc + torch.exp(0.5 * log_var) * torch.rand_like(loc), "uniform"),
    (lambda loc, log_var: torch.randn_like(loc), "ignores loc and sigma"),
    (lambda loc, log_var: loc + torch.exp(log_var) * torch.randn_like(loc), "variance"),
    (lambda loc, log_var: loc + log_var * torch.randn_like(loc), "log_var itself"),
    (lambda loc, log_var: Normal(loc, (0.5 * log_var).exp()).sample(), "not differentiable"),
    (lambda loc, log_var: loc, "no noise"),
    (lambda loc, log_var: loc.detach() + torch.exp(0.5 * log_var) * torch.randn_like(loc), "gradient of z with respect to loc"),
    (lambda loc, log_var: loc + torch.exp(0.5 * log_var.detach()) * torch.randn_like(loc), "no gradient reaches log_var"),
    (lambda loc, log_var: torch.zeros(3), "shape"),
    (lambda loc, log_var: (loc + torch.exp(0.5 * log_var) * torch.randn_like(loc)).detach().numpy(), "torch.Tensor"),
    # the review's samplers that the mean-and-variance test let through
    (lambda loc, log_var: loc + torch.exp(0.5 * log_var) * torch.sign(torch.randn_like(loc)), "few distinct values"),
    (lambda loc, log_var: loc + torch.exp(0.5 * log_var) * (torch.rand_like(loc) - 0.5) * 12**0.5, "not normal"),
    (lambda loc, log_var: loc + torch.exp(0.5 * log_var) * torch.distributions.Laplace(0.0, 0.5**0.5).sample(loc.shape),
     "not normal"),
    (lambda loc, log_var: loc + torch.exp(0.5 * log_var) * torch.randn_like(loc[:, :1]), "correlated"),
    (lambda loc, log_var: loc + torch.exp(0.5 * log_var) * _antithetic(loc), "rows are not independent"),
    (lambda loc, log_var: loc + 1.02 * torch.exp(0.5 * log_var) * torch.randn_like(loc), "variance is not 1"),
    (lambda loc, log_var: _seeded(loc, log_var), "same draw on every call"),
])
def test_wrong_samplers_fail_and_name_the_mistake(sampler, says):
    expect_failure(nb04.check_reparameterized_sample, sampler, says=says)


def test_rsample_is_refused():
    expect_failure(nb04.check_reparameterized_sample, lambda loc, log_var: Normal(loc, (0.5 * log_var).exp()).rsample(),
                   says="calls rsample")


def test_sampler_placeholder_and_non_function():
    def stub(loc, log_var):
        raise NotImplementedError()
    expect_failure(nb04.check_reparameterized_sample, stub, says="not written yet")
    expect_failure(nb04.check_reparameterized_sample, None, says="no answer yet")
    expect_failure(nb04.check_reparameterized_sample, 0.5, says="expected a function")


# ----------------------------------------------------------------------------- Exercise 2: the KL

def _kl(loc, log_var):
    return 0.5 * (loc**2 + log_var.exp() - log_var - 1).sum(1)


def test_right_kls_pass():
    expect_pass(nb04.check_gaussian_kl, _kl)
    expect_pass(nb04.check_gaussian_kl, lambda loc, log_var: _kl(loc.double(), log_var.double()))
    expect_pass(nb04.check_gaussian_kl,
                lambda loc, log_var: kl_divergence(Normal(loc, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1))


@pytest.mark.parametrize("kl, says", [
    (lambda loc, log_var: 0.5 * (loc**2 + log_var.exp() - log_var - 1).mean(1), "averages over the latent"),
    (lambda loc, log_var: _kl(loc, log_var).sum(), "one number for the whole batch"),
    (lambda loc, log_var: 2 * _kl(loc, log_var), "constant factor"),
    (lambda loc, log_var: -_kl(loc, log_var), "sign"),
    (lambda loc, log_var: 0.5 * (loc**2 + (0.5 * log_var).exp() - log_var - 1).sum(1), "uses sigma"),
    (lambda loc, log_var: 0.5 * (loc**2 + log_var.exp() - log_var).sum(1), "must be 0"),
    (lambda loc, log_var: _kl(loc, log_var).detach(), "not differentiable"),
    (lambda loc, log_var: torch.zeros(loc.shape[0]), "tolerance"),
    (lambda loc, log_var: torch.tensor(_kl(loc, log_var).detach().numpy()), "not differentiable"),
    (lambda loc, log_var: 0.5 * (loc**2 + log_var.exp() - log_var - 1).sum(1, keepdim=True), "keepdim"),
    (lambda loc, log_var: 0.5 * (loc**2 + log_var.exp() - log_var - 1).sum(0), "sums over the batch"),
])
def test_wrong_kls_fail_and_name_the_mistake(kl, says):
    expect_failure(nb04.check_gaussian_kl, kl, says=says)


def test_kl_that_calls_the_package_is_refused():
    import vae_helpers as vh
    from vae_helpers.losses import gaussian_kl

    expect_failure(nb04.check_gaussian_kl, lambda loc, log_var: vh.gaussian_kl(loc, log_var), says="call no package")
    expect_failure(nb04.check_gaussian_kl, lambda loc, log_var: gaussian_kl(loc, log_var), says="call no package")


def test_numpy_kl_is_refused_clearly():
    expect_failure(nb04.check_gaussian_kl, lambda loc, log_var: _kl(loc, log_var).detach().numpy(), says="torch.Tensor")


# ----------------------------------------------------------------------------- Exercise 3: the optimal baseline

def _f(z):
    return (z - 2) ** 2


def _optimal(z, mu, sigma):
    score = (z - mu) / sigma**2
    return (_f(z) * score**2).mean() / (score**2).mean()


def test_right_optimal_baselines_pass():
    expect_pass(nb04.check_optimal_baseline, _optimal)
    expect_pass(nb04.check_optimal_baseline, lambda z, mu, sigma: _optimal(z.double(), mu, sigma))
    # the score's scale cancels in the ratio: (z - mu) / sigma works as well as (z - mu) / sigma^2
    expect_pass(nb04.check_optimal_baseline,
                lambda z, mu, sigma: (_f(z) * (z - mu) ** 2).sum() / ((z - mu) ** 2).sum())


@pytest.mark.parametrize("baseline, says", [
    (lambda z, mu, sigma: _f(z).mean(), "mean of f(z)"),
    (lambda z, mu, sigma: (_f(z) * (z - mu) / sigma**2).mean() / ((z - mu) / sigma**2).mean(), "squared"),
    (lambda z, mu, sigma: (_f(z) * ((z - mu) / sigma**2) ** 2).mean(), "denominator"),
    (lambda z, mu, sigma: torch.tensor((mu - 2.0) ** 2 + 3 * sigma**2), "does not use the draws"),
    (lambda z, mu, sigma: torch.tensor((mu - 2.0) ** 2 + sigma**2), "closed form"),
    (lambda z, mu, sigma: -_optimal(z, mu, sigma), "sign"),
    (lambda z, mu, sigma: _f(z) * ((z - mu) / sigma**2) ** 2 / ((z - mu) / sigma**2).pow(2).mean(), "shape"),
    (lambda z, mu, sigma: torch.tensor(7.0), "tolerance"),
    (lambda z, mu, sigma: float(_optimal(z, mu, sigma)), "torch.Tensor"),
    (lambda z, mu, sigma: np.float64(_optimal(z, mu, sigma)), "torch.Tensor"),
])
def test_wrong_optimal_baselines_fail(baseline, says):
    expect_failure(nb04.check_optimal_baseline, baseline, says=says)


# ----------------------------------------------------------------------------- nbgrader

WRONG_KL = ("def gaussian_kl_to_prior(loc, log_var):\n"
            "    return 0.5 * (loc**2 + log_var.exp() - log_var - 1).mean(dim=1)\n")


def test_nbgrader_round_trip(tmp_path):
    nbgrader_round_trip("04_reparameterization.ipynb", 2, WRONG_KL, tmp_path)
