"""Issue 13, the API side: every bad or unusual input gives the right result or an error that
names the problem; nothing is accepted silently, no file of the user's is lost."""

import math
import os
import stat

import numpy as np
import pytest
import torch

import vae_helpers as vh
from vae_helpers.training import DIVERGENCE_FACTOR


def tiny_vae():
    return vh.GaussianVAE(latent_dim=2, hidden_dims=(16,))


def digits(n=64):
    return torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def unit_pixels(n=8):
    return vh.to_unit_interval(digits(n))


# ----------------------------------------------------------------------------- reproducibility


def test_same_seed_gives_byte_identical_checkpoints_whatever_their_names(tmp_path):
    paths = []
    for name in ("first.pt", "second.pt"):
        torch.manual_seed(5)  # the initial weights are drawn when the model is built
        model = tiny_vae()
        history = vh.fit(model, digits(256), digits(64), epochs=1, batch_size=32, seed=5, progress=False)
        paths.append(vh.save_checkpoint(model, tmp_path / name))
    assert paths[0].read_bytes() == paths[1].read_bytes()
    torch.manual_seed(6)
    other = tiny_vae()
    vh.fit(other, digits(256), epochs=1, batch_size=32, seed=6, progress=False)
    assert vh.save_checkpoint(other, tmp_path / "other.pt").read_bytes() != paths[0].read_bytes()
    assert math.isfinite(history.last["test_loss"])


def test_checkpoints_get_the_permissions_of_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        path = vh.save_checkpoint(tiny_vae(), tmp_path / "model.pt")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by a course's group, not 0600


# ----------------------------------------------------------------------------- pixels


@pytest.mark.parametrize("make, message", [
    (lambda: unit_pixels() * 255, "pixels go up to 25[0-9].*: divide by 255"),
    (lambda: unit_pixels() * 2 - 1, r"pixels go down to -1, as after Normalize.*\[-1, 1\]"),
    (lambda: torch.full((4, 1, 28, 28), float("nan")), "NaN pixels"),
    (lambda: torch.zeros(0, 1, 28, 28), "the batch is empty"),
])
def test_the_classic_tutorial_pixel_bugs_are_named(make, message):
    model = tiny_vae()
    for call in (lambda x: vh.elbo(model, x), model, lambda x: vh.iwae_bound(model, x, 2), model.reconstruct):
        with pytest.raises(ValueError, match=message):
            call(make())
    with pytest.raises(ValueError, match=message):
        vh.ConditionalVAE(latent_dim=2, hidden_dims=(16,))(make(), torch.zeros(len(make()), dtype=torch.long))


def test_pixels_in_zero_one_still_score_and_forward_returns_the_elbo_parts():
    model, x = tiny_vae(), unit_pixels()
    torch.manual_seed(0)
    parts = model(x)
    torch.manual_seed(0)
    assert torch.equal(parts.elbo, model.loss_parts(x).elbo) and parts.elbo.item() < 0
    assert vh.Autoencoder(latent_dim=2, hidden_dims=(16,))(x).kl.item() == 0


@pytest.mark.parametrize("function", [vh.to_unit_interval, vh.binarize])
def test_scaling_pixels_that_are_already_in_zero_one_is_refused(function):
    with pytest.raises(TypeError, match="already floats, and dividing them by 255 again"):
        function(unit_pixels())
    assert function(digits(2)).max() <= 1


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_images_of_another_dtype_than_the_weights_get_a_clear_error(dtype):
    with pytest.raises(TypeError, match=f"the images are {dtype} but the model's weights are torch.float32"):
        tiny_vae()(unit_pixels().to(dtype))
    assert tiny_vae().double()(unit_pixels().double()).elbo.dtype == torch.float64


# ----------------------------------------------------------------------------- fit


def test_a_loss_that_rises_tenfold_stops_training_and_writes_no_checkpoint(tmp_path):
    class Rising(vh.GaussianVAE):
        """A loss that grows 100-fold after the first step, finite throughout."""
        steps = 0

        def loss_parts(self, x):
            parts = super().loss_parts(x)
            Rising.steps += self.training
            return vh.ELBOParts(parts.elbo * (1 if Rising.steps <= 1 else 100), parts.log_likelihood, parts.kl)

    path = tmp_path / "model.pt"
    with pytest.raises(vh.TrainingDiverged, match=r"became .* \(from \d+\.?\d* at the first batch\) by epoch 1"):
        vh.fit(Rising(latent_dim=2, hidden_dims=(16,)), digits(256), epochs=1, batch_size=32, log_every=2,
               checkpoint_path=path, progress=False)
    assert not path.exists()
    assert DIVERGENCE_FACTOR == 10


def test_an_exploding_learning_rate_is_reported_as_divergence():
    torch.manual_seed(0)
    with pytest.raises(vh.TrainingDiverged, match="Lower the learning rate"):
        vh.fit(vh.CategoricalVAE(n_latents=5, hidden_dims=(32,)), digits(512), epochs=2, batch_size=64,
               learning_rate=1e6, progress=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(learning_rate=0.0), "learning_rate must be a finite number > 0, got 0.0"),
    (dict(learning_rate=float("nan")), "learning_rate must be a finite number > 0, got nan"),
    (dict(beta=float("nan")), "beta must be a finite number >= 0, got nan"),
    (dict(beta=lambda step: float("nan")), r"beta must be a finite number >= 0 \(the schedule's value at step 0\)"),
    (dict(temperature=lambda step: -1.0), "temperature must be a finite number > 0"),
    (dict(log_every=0), "log_every must be a whole number >= 1, got 0"),
    (dict(batch_size=True), "batch_size must be a whole number >= 1, got True"),
])
def test_bad_fit_options_are_errors_not_quiet_results(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vh.fit(tiny_vae(), digits(64), epochs=1, progress=False, **kwargs)


def test_an_empty_training_set_is_an_error_not_a_loss_of_zero():
    with pytest.raises(ValueError, match=r"train_images is empty \(0 images\)"):
        vh.fit(tiny_vae(), digits(64)[:0], epochs=1, progress=False)
    with pytest.raises(ValueError, match="test_images is empty"):
        vh.fit(tiny_vae(), digits(64), digits(64)[:0], epochs=1, progress=False)


def test_a_bad_checkpoint_path_fails_before_training(tmp_path):
    class MustNotTrain(vh.GaussianVAE):
        def loss_parts(self, x):
            pytest.fail("training started before the checkpoint path was checked")

    a_file = tmp_path / "notes.txt"
    a_file.write_text("the user's notes")
    for path, message in ((tmp_path, "is a folder; expected a file name"),
                          (a_file / "model.pt", "notes.txt is a file, not a folder")):
        with pytest.raises(ValueError, match=message):
            vh.fit(MustNotTrain(latent_dim=2, hidden_dims=(16,)), digits(64), epochs=1, checkpoint_path=path,
                   progress=False)
    assert a_file.read_text() == "the user's notes"


# ----------------------------------------------------------------------------- constructors and estimators


@pytest.mark.parametrize("make, message", [
    (lambda: vh.GaussianVAE(hidden_dims=400), r"hidden_dims must be a sequence of layer widths such as \(400,\)"),
    (lambda: vh.GaussianVAE(latent_dim=0), "latent_dim must be a positive whole number, got 0"),
    (lambda: vh.Autoencoder(latent_dim=0), "latent_dim must be a positive whole number, got 0"),
    (lambda: vh.CategoricalVAE(n_latents=0), "n_latents must be a positive whole number, got 0"),
    (lambda: vh.CategoricalVAE(n_classes=True), "n_classes must be a whole number >= 2"),
    (lambda: vh.ConditionalVAE(hidden_dims=64), "hidden_dims must be a sequence"),
    (lambda: vh.exponential_temperature(tau0=float("nan")), "temperature tau0 must be a finite number > 0"),
    (lambda: vh.exponential_temperature(rate=float("inf")), "rate must be a finite number >= 0"),
    (lambda: vh.gumbel_softmax(torch.zeros(2, 3), tau="1.0"), r"temperature tau must be a number > 0, got '1.0' \(str\)"),
    (lambda: vh.gumbel_softmax(torch.zeros(2, 3), tau=float("nan")), "tau must be a finite number > 0, got nan"),
    (lambda: vh.iwae_bound(tiny_vae(), unit_pixels(), k=True), "k must be a positive whole number"),
    (lambda: vh.iwae_bound(tiny_vae(), unit_pixels(), k=2.0), "k must be a positive whole number"),
])
def test_bad_constructor_and_estimator_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("k", [np.int64(5), torch.tensor(5)])
def test_iwae_bound_accepts_any_integer_type(k):
    model, x = tiny_vae(), unit_pixels()
    torch.manual_seed(0)
    expected = vh.iwae_bound(model, x, 5)
    torch.manual_seed(0)
    assert torch.equal(vh.iwae_bound(model, x, k), expected)


# ----------------------------------------------------------------------------- checkpoints


def test_loading_a_folder_text_or_mismatched_checkpoint_says_what_it_is(tmp_path):
    (tmp_path / "run").mkdir()
    vh.save_checkpoint(tiny_vae(), tmp_path / "run" / "model.pt")
    with pytest.raises(ValueError, match="run is a folder, not a checkpoint file .*pass that file"):
        vh.load_checkpoint(tmp_path / "run")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello notes\n")
    with pytest.raises(ValueError, match="notes.txt is not a readable torch checkpoint: expected a model.pt"):
        vh.load_checkpoint(notes)
    payload = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    payload["config"]["latent_dim"] = 3  # the weights are for 2
    torch.save(payload, tmp_path / "edited.pt")
    with pytest.raises(ValueError, match=r"weights do not match its config .*encoder.1.2.weight has shape "
                                         r"\(4, 16\) in the file, but that config builds \(6, 16\)"):
        vh.load_checkpoint(tmp_path / "edited.pt")
