"""fit, its history, checkpoints, TensorBoard logging and the divergence check."""

import math

import pytest
import torch

import vae_helpers as vh
from vae_helpers.training import evaluate


@pytest.fixture(scope="module")
def mnist():
    train = vh.load_dataset("mnist", "train", limit=2000)
    test = vh.load_dataset("mnist", "test", limit=500)
    return train, test


def test_a_few_hundred_steps_lower_the_test_negative_elbo_well_below_its_start(mnist, monkeypatch):
    monkeypatch.setenv("VAE_SMOKE", "0")
    train, test = mnist
    model = vh.GaussianVAE()
    batches = vh.DeviceBatches(test.images, test.labels, 500, shuffle=False)
    torch.manual_seed(0)
    before = evaluate(model, batches)["loss"]
    history = vh.fit(model, train.images, test.images, epochs=20, batch_size=128, progress=False)
    assert len(history) == 20
    assert before > 500  # an untrained decoder is no better than a coin per pixel (543 nats)
    assert history.last["test_loss"] < 200 < before - 300
    assert history.column("test_loss")[-1] < history.column("test_loss")[0]
    assert history.last["test_kl"] > 5  # the latent code is used
    row = history.last
    assert row["test_loss"] == pytest.approx(row["test_reconstruction"] + row["test_kl"], rel=1e-5)


def test_smoke_mode_caps_epochs(mnist, monkeypatch):
    monkeypatch.setenv("VAE_SMOKE", "1")
    train, _ = mnist
    assert len(vh.fit(vh.GaussianVAE(latent_dim=2), train.images[:256], epochs=5, progress=False)) == 2


def test_fit_is_reproducible_with_a_seed(mnist):
    train, test = mnist
    runs = []
    for _ in range(2):
        torch.manual_seed(123)  # weights are initialised before fit
        model = vh.GaussianVAE(latent_dim=4, hidden_dims=(64,))
        runs.append(vh.fit(model, train.images[:512], test.images[:128], epochs=1, seed=7,
                           progress=False).last["test_loss"])
    assert runs[0] == runs[1]


def test_categorical_training_records_both_objectives_and_follows_the_schedule(mnist):
    train, test = mnist
    model = vh.CategoricalVAE(n_latents=10, hidden_dims=(128,))
    schedule = vh.exponential_temperature(tau0=1.0, rate=0.01, tau_min=0.5)
    history = vh.fit(model, train.images[:512], test.images[:128], epochs=2, batch_size=64,
                     temperature=schedule, progress=False)
    assert {"test_loss", "test_loss_relaxed", "test_kl_relaxed", "temperature"} <= set(history.last)
    assert history.column("temperature") == [schedule(8 - 1), schedule(16 - 1)]
    assert model.temperature == schedule(15)


def test_kl_weight_changes_training_but_not_what_is_recorded(mnist):
    train, test = mnist
    history = vh.fit(vh.GaussianVAE(latent_dim=4, hidden_dims=(64,)), train.images[:512], test.images[:128],
                     epochs=2, beta=lambda step: 0.0, progress=False)
    assert history.last["beta"] == 0.0
    row = history.last
    assert row["test_loss"] == pytest.approx(row["test_reconstruction"] + row["test_kl"], rel=1e-5)


def test_non_finite_loss_stops_with_a_clear_message(mnist):
    train, _ = mnist

    class Exploding(vh.GaussianVAE):
        def loss_parts(self, x):
            parts = super().loss_parts(x)
            return vh.ELBOParts(parts.elbo * float("nan"), parts.log_likelihood, parts.kl)

    with pytest.raises(vh.TrainingDiverged, match="became nan by epoch 1"):
        vh.fit(Exploding(latent_dim=2, hidden_dims=(16,)), train.images[:256], epochs=1, progress=False)


def test_checkpoints_round_trip_with_weights_only(tmp_path, mnist):
    train, _ = mnist
    model = vh.CategoricalVAE(n_latents=5, hidden_dims=(32,), hard=True)
    path = tmp_path / "run" / "model.pt"
    vh.fit(model, train.images[:256], epochs=1, checkpoint_path=path, progress=False)
    payload = torch.load(path, weights_only=True)
    assert payload["model_class"] == "CategoricalVAE" and payload["config"]["hard"] is True
    restored = vh.load_checkpoint(path)
    assert isinstance(restored, vh.CategoricalVAE) and restored.hard
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor.cpu(), restored.state_dict()[name])
    same_shape = vh.CategoricalVAE(n_latents=5, hidden_dims=(32,), hard=True)
    vh.load_weights(same_shape, path)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temporary file left


def test_loading_into_the_wrong_architecture_names_both(tmp_path):
    path = vh.save_checkpoint(vh.GaussianVAE(latent_dim=2), tmp_path / "small.pt")
    with pytest.raises(ValueError, match="latent_dim': 2.*latent_dim': 20"):
        vh.load_weights(vh.GaussianVAE(), path)
    with pytest.raises(ValueError, match="is a GaussianVAE.*model is a CategoricalVAE"):
        vh.load_weights(vh.CategoricalVAE(), path)


def test_corrupt_or_missing_checkpoints(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt.pt is not a readable torch checkpoint"):
        vh.load_checkpoint(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="not written by save_checkpoint"):
        vh.load_checkpoint(foreign)
    with pytest.raises(FileNotFoundError, match="absent.pt does not exist"):
        vh.load_checkpoint(tmp_path / "absent.pt")


def test_tensorboard_logging_writes_event_files(tmp_path, mnist):
    train, test = mnist
    vh.fit(vh.GaussianVAE(latent_dim=2, hidden_dims=(16,)), train.images[:256], test.images[:64], epochs=1,
           tensorboard_dir=tmp_path / "tb", progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"train_loss", "test_loss", "seconds"} <= set(scalars)
    assert math.isfinite(events.Scalars("test_loss")[0].value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(epochs=-1), "epochs"),
    (dict(beta=-1.0), "beta"),
    (dict(device="tpu"), "device must be one of"),
])
def test_fit_rejects_bad_arguments(kwargs, message, mnist):
    train, _ = mnist
    with pytest.raises(ValueError, match=message):
        vh.fit(vh.GaussianVAE(), train.images[:8], progress=False, **kwargs)


def test_fit_rejects_float_images():
    with pytest.raises(ValueError, match="train_images must be uint8"):
        vh.fit(vh.GaussianVAE(), torch.rand(8, 1, 28, 28))


def test_headless_runs_print_one_line_per_epoch_instead_of_bars(mnist, monkeypatch, capsys):
    train, test = mnist
    monkeypatch.setenv("VAE_PROGRESS", "0")
    vh.fit(vh.GaussianVAE(latent_dim=2, hidden_dims=(16,)), train.images[:256], test.images[:64], epochs=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("test loss" in line and "nats per image" in line for line in lines)
