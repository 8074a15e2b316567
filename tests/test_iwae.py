"""The differentiable importance-weighted bound, the IWAE model and log-likelihood estimates,
checked against vh.iwae_bound, vh.elbo and the exact evidence of a linear-Gaussian model."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

import vae_helpers as vh
from vae_helpers.iwae import (IWAE, importance_weighted_bounds, iwae_parts, log_importance_weights,
                              log_likelihood_estimates)
from vae_helpers.linear_gaussian import LinearGaussianModel, LinearGaussianVAE


@pytest.fixture(scope="module")
def linear_gaussian():
    """A linear-Gaussian model with a deliberately poor q(z|x) = N(0, I): large gap to log p(x)."""
    model = LinearGaussianModel.random(latent_dim=2, data_dim=5, noise_std=0.5, seed=0)

    def wide_posterior(x):
        loc = torch.zeros(x.shape[0], 2, dtype=torch.float64)
        return MultivariateNormal(loc, torch.eye(2, dtype=torch.float64))

    return model, LinearGaussianVAE(model, wide_posterior), model.sample(16, seed=1)


@pytest.mark.parametrize("make_model", [lambda: vh.GaussianVAE(latent_dim=4),
                                        lambda: IWAE(k=3, latent_dim=4, architecture="conv")])
def test_differentiable_bound_equals_iwae_bound_for_the_same_draws(make_model):
    torch.manual_seed(0)
    model = make_model().eval()
    x = torch.rand(5, 1, 28, 28)
    torch.manual_seed(11)
    reference = vh.iwae_bound(model, x, 7)
    torch.manual_seed(11)
    parts = iwae_parts(model, x, 7, reduction="none")
    assert parts.elbo.shape == (5,)
    assert torch.allclose(parts.elbo.detach(), reference, atol=1e-4)
    assert torch.allclose(parts.log_likelihood - parts.kl, parts.elbo, atol=1e-4)


def test_differentiable_bound_equals_iwae_bound_on_the_linear_gaussian_model(linear_gaussian):
    _, vae, x = linear_gaussian
    torch.manual_seed(3)
    reference = vh.iwae_bound(vae, x, 20)
    torch.manual_seed(3)
    log_weights = log_importance_weights(vae, x, 20)
    assert log_weights.shape == (20, x.shape[0])
    assert torch.allclose(torch.logsumexp(log_weights, 0) - math.log(20), reference, atol=1e-10)


def test_one_sample_bound_is_the_elbo_for_the_same_draw_and_in_expectation(linear_gaussian):
    model, vae, x = linear_gaussian
    network = vh.GaussianVAE(latent_dim=4)
    images = torch.rand(6, 1, 28, 28)
    torch.manual_seed(2)
    elbo_parts = vh.elbo(network, images, reduction="none")
    torch.manual_seed(2)
    bound_parts = iwae_parts(network, images, 1, reduction="none")
    torch.manual_seed(2)
    posterior = network.posterior(images)
    z = posterior.rsample()
    one_sample_kl = posterior.log_prob(z) - network.prior(6).log_prob(z)
    # Same z: L_1 uses the one-sample KL log q(z|x) - log p(z) where the ELBO uses the closed form.
    assert torch.allclose(bound_parts.elbo, elbo_parts.log_likelihood - one_sample_kl, atol=1e-3)
    assert torch.allclose(bound_parts.kl, elbo_parts.kl)
    torch.manual_seed(0)
    repeats = 4000
    draws = iwae_parts(vae, x.repeat(repeats, 1), 1, reduction="none").elbo.view(repeats, -1)
    standard_error = draws.std(0) / math.sqrt(repeats)
    exact = model.exact_elbo(x, vae.posterior(x))
    assert ((draws.mean(0) - exact).abs() < 4 * standard_error).all()


def test_gradients_of_the_bound_reach_encoder_and_decoder():
    torch.manual_seed(0)
    model = IWAE(k=5)
    parts = model.loss_parts(torch.rand(8, 1, 28, 28))
    assert parts.elbo.shape == ()
    (-parts.elbo).backward()
    first_encoder_layer, last_decoder_layer = model.encoder[1][0], model.decoder[0][-1]
    assert first_encoder_layer.weight.grad is not None and first_encoder_layer.weight.grad.abs().sum() > 0
    assert last_decoder_layer.weight.grad is not None and last_decoder_layer.weight.grad.abs().sum() > 0


def test_bound_grows_with_k_on_average_and_stays_below_log_evidence(linear_gaussian):
    model, vae, x = linear_gaussian
    torch.manual_seed(0)
    repeated = x.repeat(400, 1)  # 400 independent estimates per data point
    with torch.no_grad():
        bounds = [iwae_parts(vae, repeated, k).elbo.item() for k in (1, 2, 5, 20, 100)]
    exact = model.log_evidence(x).mean().item()
    assert all(a < b for a, b in zip(bounds, bounds[1:])), bounds
    assert bounds[-1] <= exact + 0.02
    assert exact - bounds[-1] < 0.25 * (exact - bounds[0])


def test_iwae_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = IWAE(k=3, latent_dim=4, hidden_dims=(32,))
    path = vh.save_checkpoint(model, tmp_path / "iwae.pt")
    loaded = vh.load_checkpoint(path)
    assert isinstance(loaded, IWAE) and loaded.k == 3 and loaded.config == model.config
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(1)
    before = model.loss_parts(x).elbo
    torch.manual_seed(1)
    after = loaded.loss_parts(x).elbo
    assert torch.allclose(before, after)
    vh.load_weights(IWAE(k=3, latent_dim=4, hidden_dims=(32,)), path)
    with pytest.raises(ValueError, match="config"):
        vh.load_weights(IWAE(k=4, latent_dim=4, hidden_dims=(32,)), path)


def test_fit_records_minus_the_k_sample_bound_for_an_iwae():
    train = vh.load_dataset("mnist", "train", limit=256)
    test = vh.load_dataset("mnist", "test", limit=200)
    model = IWAE(k=4, latent_dim=4, hidden_dims=(64,))
    history = vh.fit(model, train.images, test.images, epochs=1, device="cpu", progress=False)
    recorded = history.last["test_loss"]
    torch.manual_seed(0)
    with torch.no_grad():
        bound = iwae_parts(model.eval(), vh.to_unit_interval(test.images), 4).elbo.item()
    assert math.isfinite(recorded) and abs(recorded + bound) < 2.0


@pytest.mark.parametrize("make_model", [lambda: vh.GaussianVAE(latent_dim=4, hidden_dims=(32,)),
                                        lambda: IWAE(k=2, latent_dim=4, hidden_dims=(32,)),
                                        lambda: vh.CategoricalVAE(n_latents=3, n_classes=4, hidden_dims=(32,))])
def test_log_likelihood_estimates_work_for_every_vae(make_model):
    torch.manual_seed(0)
    model = make_model()
    images = vh.load_dataset("mnist", "test", limit=30).images
    estimates = log_likelihood_estimates(model, images, [1, 50], batch_size=7, max_samples_per_chunk=64)
    assert set(estimates) == {1, 50} and all(math.isfinite(value) for value in estimates.values())
    assert estimates[50] > estimates[1]
    assert model.training  # the mode is restored
    per_image = importance_weighted_bounds(model, images, 50, batch_size=30, seed=50)
    assert per_image.shape == (30,) and per_image.dtype == torch.float64
    torch.manual_seed(50)
    with torch.no_grad():
        direct = vh.iwae_bound(model.eval(), vh.to_unit_interval(images), 50).double()
    assert torch.allclose(per_image, direct, atol=1e-3)


@pytest.mark.parametrize("call, message", [
    (lambda: IWAE(k=0), "positive whole number"),
    (lambda: iwae_parts(vh.GaussianVAE(), torch.rand(2, 1, 28, 28), 2, reduction="sum"), "reduction"),
    (lambda: importance_weighted_bounds(vh.GaussianVAE(), torch.full((2, 1, 28, 28), 2.0), 3), "[0, 1]"),
    (lambda: log_likelihood_estimates(vh.GaussianVAE(), torch.rand(2, 1, 28, 28), []), "at least one"),
])
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError)) as error:
        call()
    assert message in str(error.value)
