"""The pixels every likelihood is scored on: one fixed binarization of the test split."""

import pytest
import torch

import vae_helpers as vh
from vae_helpers.data import TEST_BINARIZATION_SEED


@pytest.fixture(scope="module")
def test_set():
    return vh.load_dataset("mnist", "test")


def test_the_fixed_binarization_is_binary_repeatable_and_unbiased(test_set):
    pixels = vh.evaluation_pixels(test_set.images)
    assert pixels.dtype == torch.float32 and pixels.shape == test_set.images.shape
    assert set(pixels.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(pixels, vh.evaluation_pixels(test_set.images))
    intensities = test_set.images.float() / 255
    # each pixel is Bernoulli(intensity): the binarized mean matches the intensity mean within 5 standard errors
    standard_error = (intensities * (1 - intensities)).sum().sqrt() / intensities.numel()
    assert abs(pixels.mean() - intensities.mean()) < 5 * standard_error


def test_the_fixed_binarization_does_not_depend_on_the_global_seed(test_set):
    torch.manual_seed(1)
    first = vh.evaluation_pixels(test_set.images[:50])
    torch.manual_seed(2)
    assert torch.equal(first, vh.evaluation_pixels(test_set.images[:50]))
    other_seed = vh.static_binarization(test_set.images[:50], TEST_BINARIZATION_SEED + 1)
    assert not torch.equal(first, other_seed.float() / 255)


def test_continuous_pixels_are_the_intensities_and_bad_names_are_refused(test_set):
    assert torch.equal(vh.evaluation_pixels(test_set.images[:5], "continuous"), test_set.images[:5].float() / 255)
    with pytest.raises(ValueError, match="preprocessing must be one of"):
        vh.evaluation_pixels(test_set.images[:5], "threshold")


def test_fit_scores_the_test_split_on_exactly_these_pixels(test_set):
    train = vh.load_dataset("mnist", "train")
    model = vh.GaussianVAE()
    history = vh.fit(model, train.images[:256], test_set.images[:200], epochs=1, device="cpu", progress=False,
                     seed=3)
    model.eval()
    with torch.no_grad():
        parts = model.loss_parts(vh.evaluation_pixels(test_set.images[:200]))
    # the test loss is one Monte Carlo draw of the negative ELBO: same pixels, so within a few nats
    assert abs(history.last["test_loss"] - float(parts.neg_elbo)) < 3.0
    assert history.last["test_reconstruction"] > 0


def test_the_scoring_note_names_the_images_and_the_binarization(test_set):
    note = vh.scoring_note(test_set)
    assert f"{len(test_set.labels):,} images" in note and "MNIST *training* digits" in note and str(TEST_BINARIZATION_SEED) in note
    assert "cross-entropy, not log p(x)" in vh.scoring_note(test_set, "continuous")
