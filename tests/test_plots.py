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


def test_training_curves_plot_train_and_test(model):
    history = vh.fit(model, vh.load_dataset(limit=256).images, vh.load_dataset(split="test", limit=64).images,
                     epochs=2, progress=False)
    figure = plots.training_curves(history)
    assert len(figure.axes) == 3 and all(len(ax.lines) == 2 for ax in figure.axes)
    assert np.allclose(figure.axes[0].lines[1].get_ydata(), history.column("test_loss"))
    for ax in figure.axes:
        assert ax.get_ylabel() == "nats per image"
    titled_and_labelled(figure)
