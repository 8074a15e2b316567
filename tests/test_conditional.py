"""The conditional VAE: it reduces to the unconditional one when it ignores the label, follows
the protocol of elbo/iwae_bound/fit, survives a checkpoint, rejects bad labels, and learns."""

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

import vae_helpers as vh
from vae_helpers.conditional import ConditionalVAE
from vae_helpers.data import DeviceBatches


def conditional_without_label(latent_dim, hidden_dims, seed=0):
    """A ConditionalVAE whose label weights are zero, and a GaussianVAE holding its other weights."""
    torch.manual_seed(seed)
    conditional = ConditionalVAE(latent_dim=latent_dim, hidden_dims=hidden_dims)
    with torch.no_grad():
        for weights in conditional.label_weights():
            weights.zero_()
    unconditional = vh.GaussianVAE(latent_dim=latent_dim, hidden_dims=hidden_dims)
    source = conditional.state_dict()
    target = {}
    for key, value in unconditional.state_dict().items():
        # GaussianVAE's encoder is Flatten then the MLP, so its keys carry an extra "1."
        conditional_key = key.replace("encoder.1.", "encoder.", 1)
        target[key] = source[conditional_key][:, :value.shape[1]] if value.ndim == 2 else source[conditional_key]
        assert target[key].shape == value.shape, key
    unconditional.load_state_dict(target)
    return conditional, unconditional


@pytest.mark.parametrize("latent_dim, hidden_dims", [(5, (32,)), (3, (48, 16))])
def test_ignoring_the_label_gives_the_unconditional_elbo(latent_dim, hidden_dims):
    conditional, unconditional = conditional_without_label(latent_dim, hidden_dims)
    x = torch.rand(7, 1, 28, 28)
    for labels in (torch.zeros(7, dtype=torch.long), torch.arange(7)):
        torch.manual_seed(3)
        with_label = vh.elbo(conditional, x, reduction="none", y=labels)
        torch.manual_seed(3)
        without = vh.elbo(unconditional, x, reduction="none")
        for a, b in zip(with_label, without):
            assert torch.allclose(a, b, atol=1e-4)
        torch.manual_seed(4)
        iwae_with_label = vh.iwae_bound(conditional, x, 20, y=labels)
        torch.manual_seed(4)
        assert torch.allclose(iwae_with_label, vh.iwae_bound(unconditional, x, 20), atol=1e-3)


def test_with_label_weights_the_label_changes_the_output():
    torch.manual_seed(0)
    model = ConditionalVAE(latent_dim=4, hidden_dims=(32,))
    x, z = torch.rand(3, 1, 28, 28), torch.randn(3, 4)
    three, seven = torch.full((3,), 3), torch.full((3,), 7)
    assert not torch.allclose(model.decode(z, three), model.decode(z, seven))
    assert not torch.allclose(model.encode(x, three)[0], model.encode(x, seven)[0])


def test_shapes_and_the_protocol_of_elbo_and_iwae():
    model = ConditionalVAE(latent_dim=6, hidden_dims=(32,))
    x, y = torch.rand(5, 1, 28, 28), torch.tensor([0, 9, 4, 4, 1])
    loc, log_var = model.encode(x, y)
    assert loc.shape == log_var.shape == (5, 6)
    posterior = model.posterior(x, y)
    assert posterior.batch_shape == (5,) and posterior.event_shape == (6,)
    z = model.draw_latent(posterior)
    assert z.shape == (5, 6) and z.requires_grad
    assert model.decode(z, y).shape == (5, 1, 28, 28)
    assert torch.equal(model.most_likely_latent(x, y), loc)
    parts = vh.elbo(model, x, reduction="none", y=y)
    assert all(term.shape == (5,) for term in parts)
    assert torch.allclose(parts.elbo, parts.log_likelihood - parts.kl) and (parts.kl >= 0).all()
    assert vh.iwae_bound(model, x, 7, y=y).shape == (5,)
    reconstructions = model.reconstruct(x, y)
    assert reconstructions.shape == (5, 1, 28, 28) and 0 <= reconstructions.min() <= reconstructions.max() <= 1
    samples = model.sample_images(torch.arange(10))
    assert samples.shape == (10, 1, 28, 28) and 0 <= samples.min() <= samples.max() <= 1
    assert set(model.evaluation_parts(x, y)) == {""}
    encoder_label, decoder_label = model.label_weights()
    assert encoder_label.shape == (32, 10) and decoder_label.shape == (32, 10)


def test_elbo_terms_match_torch_distributions():
    torch.manual_seed(1)
    model = ConditionalVAE(latent_dim=3, hidden_dims=(16,))
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([2, 2, 5, 8])
    torch.manual_seed(2)
    parts = vh.elbo(model, x, reduction="none", y=y)
    torch.manual_seed(2)
    posterior = model.posterior(x, y)
    z = posterior.rsample()
    likelihood = Bernoulli(logits=model.decode(z, y), validate_args=False).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(posterior.base_dist, Normal(torch.zeros(4, 3), torch.ones(4, 3))).sum(1)
    assert torch.allclose(parts.log_likelihood, likelihood, atol=1e-3)
    assert torch.allclose(parts.kl, kl, atol=1e-5)


def test_gaussian_likelihood_option():
    model = ConditionalVAE(latent_dim=2, hidden_dims=(16,), likelihood="gaussian", gaussian_variance=0.25)
    x, z, y = torch.rand(2, 1, 28, 28), torch.randn(2, 2), torch.tensor([1, 6])
    expected = Normal(torch.sigmoid(model.decode(z, y)), 0.5).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(model.log_likelihood(x, z, y), expected, atol=1e-3)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = ConditionalVAE(latent_dim=4, hidden_dims=(24, 12), likelihood="gaussian", gaussian_variance=0.3)
    path = vh.save_checkpoint(model, tmp_path / "conditional.pt")
    loaded = vh.load_checkpoint(path)
    assert type(loaded) is ConditionalVAE and loaded.config == model.config
    assert loaded.likelihood == "gaussian" and loaded.gaussian_variance == 0.3
    z, y = torch.randn(3, 4), torch.tensor([0, 5, 9])
    assert torch.equal(loaded.decode(z, y), model.decode(z, y))
    vh.load_weights(ConditionalVAE(latent_dim=4, hidden_dims=(24, 12), likelihood="gaussian",
                                   gaussian_variance=0.3), path)
    with pytest.raises(ValueError, match="ConditionalVAE"):
        vh.load_weights(ConditionalVAE(latent_dim=5, hidden_dims=(24, 12)), path)


@pytest.mark.parametrize("labels, error, message", [
    (torch.tensor([0.0, 1.0, 2.0]), TypeError, r"torch\.int64.*got torch\.float32"),
    (torch.tensor([0, 1, 2], dtype=torch.int32), TypeError, r"torch\.int64.*got torch\.int32"),
    ([0, 1, 2], TypeError, "torch.Tensor"),
    (torch.tensor([[0], [1], [2]]), ValueError, r"shape \(3,\).*got \(3, 1\)"),
    (torch.tensor([0, 1]), ValueError, r"shape \(3,\).*got \(2,\)"),
    (torch.tensor([0, 1, 10]), ValueError, "0-9, got values from 0 to 10"),
    (torch.tensor([-1, 1, 2]), ValueError, "0-9, got values from -1 to 2"),
])
def test_bad_labels_raise_clear_errors(labels, error, message):
    model = ConditionalVAE(latent_dim=2, hidden_dims=(8,))
    with pytest.raises(error, match=message):
        model.encode(torch.rand(3, 1, 28, 28), labels)
    with pytest.raises(error, match=message):
        model.decode(torch.randn(3, 2), labels)
    with pytest.raises(error, match=message):
        vh.elbo(model, torch.rand(3, 1, 28, 28), y=labels)


def test_bad_inputs_besides_labels_raise_clear_errors():
    model = ConditionalVAE(latent_dim=2, hidden_dims=(8,))
    with pytest.raises(ValueError, match=r"\(B, 2\), got \(3, 5\)"):
        model.decode(torch.randn(3, 5), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(n,\)"):
        model.sample_images(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="0-9"):
        model.sample_images(torch.tensor([3, 12]))
    with pytest.raises(ValueError, match="latent_dim"):
        ConditionalVAE(latent_dim=0)
    with pytest.raises(ValueError, match="n_classes"):
        ConditionalVAE(n_classes=1)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        model.encode(torch.rand(3, 784), torch.zeros(3, dtype=torch.long))


def test_fit_requires_labels_and_a_short_fit_lowers_the_test_loss():
    train = vh.load_dataset("mnist", "train", limit=600)
    test = vh.load_dataset("mnist", "test", limit=200)
    model = ConditionalVAE(latent_dim=4, hidden_dims=(64,))
    with pytest.raises(ValueError, match="train_labels"):
        vh.fit(model, train.images, test.images, epochs=1, device="cpu", progress=False)
    torch.manual_seed(0)
    model = ConditionalVAE(latent_dim=4, hidden_dims=(64,))
    before = vh.evaluate(model, DeviceBatches(test.images, test.labels, 200, torch.device("cpu"), False))["loss"]
    history = vh.fit(model, train.images, test.images, train_labels=train.labels, test_labels=test.labels,
                     epochs=2, batch_size=64, device="cpu", progress=False)
    assert len(history) == 2
    assert history.last["test_loss"] < before - 100, (before, history.column("test_loss"))
    assert history.column("test_loss")[1] < history.column("test_loss")[0]
