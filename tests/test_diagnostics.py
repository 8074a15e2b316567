"""Active units, KL per dimension, the KL warm-up schedule, and the plots of notebook 06."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

import vae_helpers as vh
from vae_helpers import diagnostics, plots


def toy_vae(latent_dim=4):
    """A GaussianVAE whose posterior loc is known by hand: loc_u(x) = w_u * mean pixel + b_u.

    The encoder is replaced by one linear map of the mean pixel value m(x) in [0, 1]:
    loc = (2, 0.05, 0, 0) * m + (0, 0, 1, -1) and log_var = -2 for every unit.
    """
    model = vh.GaussianVAE(latent_dim=latent_dim, hidden_dims=(8,))
    linear = nn.Linear(1, 2 * latent_dim)
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
        linear.weight[:4, 0] = torch.tensor([2.0, 0.05, 0.0, 0.0])
        linear.bias[:4] = torch.tensor([0.0, 0.0, 1.0, -1.0])
        linear.bias[latent_dim:] = -2.0
    model.encoder = nn.Sequential(nn.Flatten(), _MeanPixel(), linear)  # (B, 784) -> (B, 1) -> (B, 2D)
    return model


class _MeanPixel(nn.Module):
    def forward(self, x):  # (B, 784) -> (B, 1)
        return x.mean(dim=1, keepdim=True)


@pytest.fixture
def images():
    generator = torch.Generator().manual_seed(0)
    brightness = torch.rand(200, 1, 1, 1, generator=generator)
    return brightness.expand(200, 1, 28, 28).contiguous()  # image i is constant at brightness_i


def test_active_units_match_a_hand_computation_on_a_toy_encoder(images):
    model = toy_vae()
    brightness = images[:, 0, 0, 0]
    variance_of_brightness = brightness.var(unbiased=False)
    result = diagnostics.active_units(model, images)
    expected = torch.stack([4.0 * variance_of_brightness, 0.0025 * variance_of_brightness,
                            torch.tensor(0.0), torch.tensor(0.0)])
    assert result.variances.shape == (4,)
    assert torch.allclose(result.variances, expected, atol=1e-6)
    # Var(uniform) is about 1/12: unit 0 has variance ~0.33 (active), unit 1 ~2e-4 (inactive).
    assert result.count == 1
    assert diagnostics.active_units(model, images, threshold=1e-4).count == 2
    assert diagnostics.active_units(model, images, threshold=1.0).count == 0


def test_active_units_accept_uint8_and_batching_does_not_change_the_answer(images):
    model = toy_vae()
    whole = diagnostics.active_units(model, images)
    batched = diagnostics.active_units(model, images, batch_size=7)
    assert torch.allclose(whole.variances, batched.variances, atol=1e-6)
    as_uint8 = (images * 255).round().to(torch.uint8)
    assert diagnostics.active_units(model, as_uint8).count == whole.count
    assert model.training  # the mode is restored


def test_active_units_need_two_images(images):
    with pytest.raises(ValueError, match="at least 2 images"):
        diagnostics.active_units(toy_vae(), images[:1])


def test_kl_per_dimension_matches_the_closed_form_and_sums_to_the_elbo_kl(images):
    torch.manual_seed(1)
    model = vh.GaussianVAE(latent_dim=6, hidden_dims=(32,))
    per_dimension = diagnostics.kl_per_dimension(model, images, batch_size=64)
    assert per_dimension.shape == (6,)
    assert torch.all(per_dimension >= 0)
    model.eval()
    with torch.no_grad():
        total = vh.elbo(model, images).kl
        loc, log_var = model.encode(images)
    closed_form = 0.5 * (loc.pow(2) + log_var.exp() - log_var - 1).mean(0)
    assert torch.allclose(per_dimension, closed_form, atol=1e-5)
    assert math.isclose(per_dimension.sum().item(), total.item(), rel_tol=1e-5)


def test_kl_per_dimension_of_the_toy_encoder_is_known(images):
    model = toy_vae()
    per_dimension = diagnostics.kl_per_dimension(model, images)
    brightness = images[:, 0, 0, 0]
    variance = math.exp(-2.0)
    constant = 0.5 * (variance + 2.0 - 1.0)  # sigma^2 - log sigma^2 - 1 with log sigma^2 = -2
    expected = torch.stack([0.5 * (4 * brightness ** 2).mean() + constant,
                            0.5 * (0.0025 * brightness ** 2).mean() + constant,
                            torch.tensor(0.5 + constant), torch.tensor(0.5 + constant)])
    assert torch.allclose(per_dimension, expected, atol=1e-5)


def test_kl_per_dimension_of_a_categorical_vae_sums_to_its_kl(images):
    torch.manual_seed(2)
    model = vh.CategoricalVAE(n_latents=5, n_classes=4, hidden_dims=(16,))
    per_variable = diagnostics.kl_per_dimension(model, images)
    assert per_variable.shape == (5,)
    with torch.no_grad():
        total = vh.categorical_kl_to_uniform(model.encode(images)).mean()
    assert math.isclose(per_variable.sum().item(), total.item(), rel_tol=1e-5)
    assert torch.all(per_variable <= math.log(4) + 1e-6)


def test_linear_kl_warmup_rises_from_zero_to_one_and_stays():
    schedule = diagnostics.linear_kl_warmup(100)
    assert schedule(0) == 0.0
    assert schedule(25) == pytest.approx(0.25)
    assert schedule(50) == pytest.approx(0.5)
    assert schedule(100) == 1.0
    assert schedule(10_000) == 1.0
    values = [schedule(step) for step in range(0, 150)]
    assert all(b >= a for a, b in zip(values, values[1:]))
    with pytest.raises(ValueError, match="positive whole number"):
        diagnostics.linear_kl_warmup(0)
    with pytest.raises(ValueError, match="step must be >= 0"):
        schedule(-1)


def test_fit_follows_the_warmup_and_records_unweighted_losses():
    train = vh.load_dataset("mnist", "train", limit=256)
    test = vh.load_dataset("mnist", "test", limit=64)
    torch.manual_seed(0)
    history = vh.fit(vh.GaussianVAE(latent_dim=4, hidden_dims=(32,)), train.images, test.images, epochs=2,
                     batch_size=64, beta=diagnostics.linear_kl_warmup(8), progress=False)
    assert history.column("beta") == [0.5, 1.0]  # 4 steps per epoch: beta at steps 4 and 8
    row = history.last
    assert row["test_loss"] == pytest.approx(row["test_reconstruction"] + row["test_kl"], rel=1e-5)


def test_latent_traversal_draws_one_row_per_dimension():
    torch.manual_seed(3)
    model = vh.GaussianVAE(latent_dim=5, hidden_dims=(16,))
    figure = plots.latent_traversal(model.decode, torch.zeros(5), dims=[0, 3], values=torch.linspace(-3, 3, 7),
                                    title="Traversal")
    ax = figure.axes[0]
    assert ax.get_title() == "Traversal"
    assert "z" in ax.get_xlabel() and ax.get_ylabel()
    assert [label.get_text() for label in ax.get_yticklabels()] == ["$z_{1}$", "$z_{4}$"]
    assert len(ax.get_xticklabels()) == 7
    image = ax.get_images()[0].get_array()
    assert image.shape == (2 + 2 * 30, 2 + 7 * 30)
    plt.close(figure)
    with pytest.raises(ValueError, match="dimension 5"):
        plots.latent_traversal(model.decode, torch.zeros(5), dims=[5])


def test_rate_distortion_plot_has_one_point_per_model_and_labels():
    figure = plots.rate_distortion([30.0, 20.0, 10.0], [100.0, 110.0, 130.0], labels=["0.5", "1", "4"],
                                   highlight=1)
    ax = figure.axes[0]
    assert "rate" in ax.get_xlabel().lower() and "nats" in ax.get_xlabel()
    assert "distortion" in ax.get_ylabel().lower() and "nats" in ax.get_ylabel()
    assert ax.get_title()
    x, y = ax.lines[0].get_data()
    assert list(x) == [30.0, 20.0, 10.0] and list(y) == [100.0, 110.0, 130.0]
    assert len(ax.texts) == 3
    plt.close(figure)
    with pytest.raises(ValueError, match="same length"):
        plots.rate_distortion([1.0, 2.0], [1.0])


def test_kl_bars_plot_sorted_dimensions():
    figure = plots.kl_per_dimension_bars(torch.tensor([0.1, 3.0, 0.0, 1.5]), title="KL")
    ax = figure.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    assert heights == sorted(heights, reverse=True) and max(heights) == pytest.approx(3.0)
    assert "nats" in ax.get_ylabel() and ax.get_xlabel() and ax.get_title() == "KL"
    plt.close(figure)
