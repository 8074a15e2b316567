"""The approximation and amortization gaps (vae_helpers.gaps) on a small untrained Gaussian VAE."""

import pytest
import torch

import vae_helpers as vh
from vae_helpers.gaps import FixedGaussianPosterior, inference_gaps, mean_elbo, optimize_posteriors


@pytest.fixture
def small_vae_and_pixels():
    torch.manual_seed(0)
    model = vh.GaussianVAE(latent_dim=3, hidden_dims=(16,))
    pixels = torch.bernoulli(torch.full((6, 1, 28, 28), 0.3), generator=torch.Generator().manual_seed(1))
    return model, pixels


def test_a_fixed_posterior_with_the_encoders_parameters_gives_the_models_elbo(small_vae_and_pixels):
    model, pixels = small_vae_and_pixels
    loc, log_var = model.encode(pixels)
    fixed = FixedGaussianPosterior(model, loc.detach(), log_var.detach())
    torch.manual_seed(3)
    mine = vh.elbo(fixed, pixels, reduction="none").elbo
    torch.manual_seed(3)
    theirs = vh.elbo(model, pixels, reduction="none").elbo
    torch.testing.assert_close(mine, theirs)


def test_optimizing_q_per_image_raises_the_elbo_and_leaves_the_model_alone(small_vae_and_pixels):
    model, pixels = small_vae_and_pixels
    before = [p.detach().clone() for p in model.parameters()]
    torch.manual_seed(0)
    loc, log_var = optimize_posteriors(model, pixels, steps=100, draws=4, learning_rate=5e-2)
    assert loc.shape == log_var.shape == (6, 3) and not loc.requires_grad
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.requires_grad for p in model.parameters()) and model.training
    torch.manual_seed(1)
    encoder = mean_elbo(model, pixels, draws=200)
    optimized = mean_elbo(FixedGaussianPosterior(model, loc, log_var), pixels, draws=200)
    assert (optimized > encoder).all()


def test_the_gaps_add_up_and_the_amortization_gap_is_positive(small_vae_and_pixels):
    model, pixels = small_vae_and_pixels
    torch.manual_seed(0)
    gaps = inference_gaps(model, pixels, k=200, steps=100, draws=4, learning_rate=5e-2, elbo_draws=100)
    assert set(gaps) == {"elbo_encoder", "elbo_optimized", "log_likelihood", "amortization_gap",
                         "approximation_gap", "total_gap"}
    assert all(v.shape == (6,) and v.dtype == torch.float64 for v in gaps.values())
    torch.testing.assert_close(gaps["amortization_gap"] + gaps["approximation_gap"], gaps["total_gap"])
    assert gaps["amortization_gap"].mean() > 0


def test_bad_arguments_are_refused(small_vae_and_pixels):
    model, pixels = small_vae_and_pixels
    with pytest.raises(ValueError, match="steps"):
        optimize_posteriors(model, pixels, steps=-1)
    with pytest.raises(ValueError, match="draws"):
        optimize_posteriors(model, pixels, draws=0)
    with pytest.raises(ValueError, match="shape"):
        FixedGaussianPosterior(model, torch.zeros(6, 3), torch.zeros(6, 2))
    with pytest.raises(ValueError, match="holds 6"):
        FixedGaussianPosterior(model, torch.zeros(6, 3), torch.zeros(6, 3)).posterior(pixels[:2])


def test_continuing_from_a_start_matches_one_longer_run_and_check_steps_reports_it(small_vae_and_pixels):
    model, pixels = small_vae_and_pixels
    torch.manual_seed(0)
    first = optimize_posteriors(model, pixels, steps=30, draws=4, learning_rate=5e-2)
    continued = optimize_posteriors(model, pixels, steps=0, draws=4, start=first)
    assert all(torch.equal(a, b) for a, b in zip(first, continued))  # 0 more steps: the start itself
    torch.manual_seed(0)
    gaps = inference_gaps(model, pixels, k=20, steps=5, draws=4, learning_rate=5e-2, elbo_draws=100,
                          check_steps=100)
    assert gaps["elbo_optimized_longer"].shape == (6,)
    assert gaps["elbo_optimized_longer"].mean() > gaps["elbo_optimized"].mean()  # 5 steps had not converged
    with pytest.raises(ValueError, match="check_steps"):
        inference_gaps(model, pixels, check_steps=-1)
    with pytest.raises(ValueError, match="start"):
        optimize_posteriors(model, pixels, steps=1, start=(torch.zeros(2, 3), torch.zeros(2, 3)))
