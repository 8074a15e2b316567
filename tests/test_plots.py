"""Every figure of vae_helpers.plots has a title and labelled axes, and draws what it is given."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import vae_helpers as vh
from vae_helpers import plots


def titled_and_labelled(figure):
    axes = [ax for ax in figure.axes if ax.get_visible()]
    assert axes
    title = figure._suptitle.get_text() if figure._suptitle else ""
    for ax in axes:
        assert ax.get_title() or title, "every plot needs a title"
        assert ax.get_xlabel(), f"x axis of {ax.get_title()!r} needs a label"
    plt.close(figure)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return vh.GaussianVAE(latent_dim=2, hidden_dims=(32,)).eval()


def test_image_grid_tiles_the_images():
    images = torch.zeros(10, 1, 28, 28)
    images[3] = 1.0
    figure = plots.image_grid(images, n_columns=5, title="Ten images")
    canvas = figure.axes[0].images[0].get_array()
    assert canvas.shape == (2 * 30 + 2, 5 * 30 + 2)
    assert canvas[2:30, 2 + 3 * 30: 2 + 3 * 30 + 28].min() == 1.0  # the bright image sits in column 4
    titled_and_labelled(figure)


def test_reconstruction_rows_and_their_checks():
    images = torch.rand(4, 1, 28, 28)
    titled_and_labelled(plots.reconstruction_rows(images, images))
    with pytest.raises(ValueError, match="4 inputs but 3 reconstructions"):
        plots.reconstruction_rows(images, images[:3])


def test_latent_scatter_has_one_legend_entry_per_class():
    codes, labels = torch.randn(100, 2), torch.arange(100) % 10
    figure = plots.latent_scatter(codes, labels)
    assert len(figure.axes[0].get_legend().get_texts()) == 10
    titled_and_labelled(figure)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.latent_scatter(torch.randn(5, 3), torch.zeros(5))


def test_latent_manifold_and_interpolation_decode_the_model(model):
    figure = plots.latent_manifold(model.decode, n=5)
    assert figure.axes[0].images[0].get_array().shape == (5 * 30 + 2, 5 * 30 + 2)
    titled_and_labelled(figure)
    titled_and_labelled(plots.interpolation(model.decode, torch.zeros(2), torch.ones(2), steps=6))


def test_latent_manifold_on_gaussian_quantiles_puts_each_code_in_its_tile():
    quantiles = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, 4))
    seen = []

    def decode(z):  # a bright image exactly where z = (largest quantile, smallest quantile)
        seen.append(z.clone())
        logits = torch.full((z.shape[0], 1, 28, 28), -20.0)
        logits[(z[:, 0] == quantiles[-1]) & (z[:, 1] == quantiles[0])] = 20.0
        return logits

    figure = plots.latent_manifold(decode, coordinates=quantiles)
    assert set(seen[0][:, 0].tolist()) == set(quantiles.tolist()) == set(seen[0][:, 1].tolist())
    canvas = figure.axes[0].images[0].get_array()
    assert canvas[2 + 3 * 30: 2 + 3 * 30 + 28, 2 + 3 * 30: 2 + 3 * 30 + 28].min() > 0.99  # bottom right
    for row, column in [(0, 0), (0, 3), (3, 0), (2, 3)]:  # every other tile stays dark
        assert canvas[2 + row * 30: 2 + row * 30 + 28, 2 + column * 30: 2 + column * 30 + 28].max() < 0.01
    labels = [tick.get_text() for tick in figure.axes[0].get_xticklabels()]
    assert labels == [f"{value:.2f}" for value in quantiles.tolist()] and labels[0] == "-1.64"
    titled_and_labelled(figure)
    with pytest.raises(ValueError, match="increasing"):
        plots.latent_manifold(decode, coordinates=torch.tensor([0.5, 0.1]))


def test_training_curves_plot_train_and_test(model):
    history = vh.fit(model, vh.load_dataset(limit=256).images, vh.load_dataset(split="test", limit=64).images,
                     epochs=2, progress=False)
    figure = plots.training_curves(history)
    assert len(figure.axes) == 3 and all(len(ax.lines) == 2 for ax in figure.axes)
    assert np.allclose(figure.axes[0].lines[1].get_ydata(), history.column("test_loss"))
    for ax in figure.axes:
        assert ax.get_ylabel() == "nats per image"
    titled_and_labelled(figure)
