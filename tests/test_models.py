"""Model shapes, the seeds' configurations as one-liners, and input checks."""

import pytest
import torch
from torch import nn

import vae_helpers as vh


def linear_shapes(module):
    return [(layer.in_features, layer.out_features) for layer in module.modules() if isinstance(layer, nn.Linear)]


def test_the_seeds_configurations_are_one_liners():
    assert linear_shapes(vh.GaussianVAE().encoder) == [(784, 400), (400, 40)]
    assert linear_shapes(vh.GaussianVAE().decoder) == [(20, 400), (400, 784)]
    assert linear_shapes(vh.GaussianVAE(latent_dim=2, hidden_dims=(256,)).encoder) == [(784, 256), (256, 4)]
    assert linear_shapes(vh.GaussianVAE(latent_dim=2, hidden_dims=(256, 128)).decoder) == \
        [(2, 128), (128, 256), (256, 784)]
    categorical = vh.CategoricalVAE()
    assert linear_shapes(categorical.encoder) == [(784, 512), (512, 256), (256, 300)]
    assert linear_shapes(categorical.decoder) == [(300, 256), (256, 512), (512, 784)]


@pytest.mark.parametrize("model", [vh.GaussianVAE(), vh.CategoricalVAE(), vh.Autoencoder(),
                                   vh.GaussianVAE(architecture="conv"), vh.Autoencoder(architecture="conv")])
def test_no_activation_squashes_the_logits(model):
    """Seed 002 put a ReLU on the encoder's logits; decoders here also end in a linear layer."""
    for network in (model.encoder, model.decoder):
        last_layers = [m for m in network.modules() if not isinstance(m, (nn.Sequential, nn.Unflatten, nn.Flatten))]
        assert isinstance(last_layers[-1], (nn.Linear, nn.ConvTranspose2d))


@pytest.mark.parametrize("model, latent_shape", [
    (vh.GaussianVAE(), (6, 20)), (vh.GaussianVAE(architecture="conv", latent_dim=8), (6, 8)),
    (vh.CategoricalVAE(), (6, 30, 10)), (vh.CategoricalVAE(hard=True), (6, 30, 10)),
])
def test_vae_shapes_and_terms(model, latent_shape):
    x = torch.rand(6, 1, 28, 28)
    posterior = model.posterior(x)
    z = model.draw_latent(posterior)
    assert z.shape == latent_shape
    assert model.decode(z).shape == (6, 1, 28, 28)
    parts = vh.elbo(model, x, reduction="none")
    assert all(term.shape == (6,) for term in parts)
    assert torch.allclose(parts.elbo, parts.log_likelihood - parts.kl)
    assert (parts.kl >= 0).all()
    samples = model.sample_images(5)
    assert samples.shape == (5, 1, 28, 28) and 0 <= samples.min() and samples.max() <= 1
    assert model.reconstruct(x).shape == (6, 1, 28, 28)


def test_gaussian_draw_is_reparameterised_loc_plus_scale_times_noise():
    model = vh.GaussianVAE(latent_dim=3)
    x = torch.rand(4, 1, 28, 28)
    loc, log_var = model.encode(x)
    torch.manual_seed(0)
    z = model.draw_latent(model.posterior(x))
    torch.manual_seed(0)
    eps = torch.randn(4, 3)
    assert torch.allclose(z, loc + torch.exp(0.5 * log_var) * eps, atol=1e-6)
    z.sum().backward()
    assert model.encoder[1][0].weight.grad.abs().sum() > 0


def test_categorical_discrete_draws_are_one_hot_and_relaxed_ones_are_not():
    model = vh.CategoricalVAE(n_latents=4, n_classes=5, temperature=2.0)
    posterior = model.posterior(torch.rand(3, 1, 28, 28))
    discrete = model.draw_latent(posterior, discrete=True)
    relaxed = model.draw_latent(posterior)
    assert set(discrete.unique().tolist()) == {0.0, 1.0} and torch.equal(discrete.sum(-1), torch.ones(3, 4))
    assert relaxed.max() < 1.0 and torch.allclose(relaxed.sum(-1), torch.ones(3, 4))


def test_categorical_loss_is_relaxed_in_training_and_discrete_in_eval():
    model = vh.CategoricalVAE(temperature=5.0)
    x = torch.rand(64, 1, 28, 28)
    torch.manual_seed(0)
    model.train()
    relaxed = model.loss_parts(x).log_likelihood
    torch.manual_seed(0)
    explicit_relaxed = model.loss_parts(x, discrete=False).log_likelihood
    torch.manual_seed(0)
    model.eval()
    discrete = model.loss_parts(x).log_likelihood
    assert torch.equal(relaxed, explicit_relaxed) and not torch.equal(relaxed, discrete)
    assert set(model.evaluation_parts(x)) == {"", "relaxed"}


def test_gaussian_likelihood_option_uses_the_stated_variance():
    model = vh.GaussianVAE(likelihood="gaussian", gaussian_variance=0.25)
    x, z = torch.rand(2, 1, 28, 28), torch.randn(2, 20)
    mean = torch.sigmoid(model.decode(z))
    expected = torch.distributions.Normal(mean, 0.5).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(model.log_likelihood(x, z), expected, atol=1e-3)


def test_autoencoder_has_no_kl_and_no_posterior():
    model = vh.Autoencoder(latent_dim=2)
    parts = model.loss_parts(torch.rand(3, 1, 28, 28))
    assert parts.kl.item() == 0 and torch.allclose(parts.elbo, parts.log_likelihood)
    assert model.encode(torch.rand(3, 1, 28, 28)).shape == (3, 2)
    with pytest.raises(TypeError, match="not an autoencoder"):
        vh.elbo(model, torch.rand(3, 1, 28, 28))
    with pytest.raises(TypeError, match="not an autoencoder"):
        vh.iwae_bound(model, torch.rand(3, 1, 28, 28), 5)


@pytest.mark.parametrize("x, message", [
    (torch.rand(3, 784), r"\(B, 1, 28, 28\), got \(3, 784\)"),
    (torch.randint(0, 255, (3, 1, 28, 28), dtype=torch.uint8), "divide uint8 images by 255"),
    ([[0.0]], "torch.Tensor"),
])
def test_models_reject_bad_batches_clearly(x, message):
    for model in (vh.GaussianVAE(), vh.CategoricalVAE(), vh.Autoencoder()):
        with pytest.raises((ValueError, TypeError), match=message):
            model.encode(x)


@pytest.mark.parametrize("make, message", [
    (lambda: vh.GaussianVAE(latent_dim=0), "latent_dim"),
    (lambda: vh.GaussianVAE(hidden_dims=()), "hidden_dims"),
    (lambda: vh.GaussianVAE(architecture="transformer"), "architecture"),
    (lambda: vh.GaussianVAE(likelihood="poisson"), "likelihood"),
    (lambda: vh.CategoricalVAE(n_classes=1), "n_classes"),
])
def test_bad_model_options(make, message):
    with pytest.raises(ValueError, match=message):
        make()
