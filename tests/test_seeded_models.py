"""Reproducible runs from the API: every model takes ``seed``, which draws its initial weights
from that seed without touching the global random state, so ``fit(Model(seed=s), ..., seed=s)``
repeats bit for bit."""

import inspect

import pytest
import torch

import vae_helpers as vh
from vae_helpers.cli import _build_model
from vae_helpers.code_prior import fit_code_prior

MODELS = {
    "GaussianVAE": lambda seed=None: vh.GaussianVAE(latent_dim=2, hidden_dims=(16,), seed=seed),
    "conv GaussianVAE": lambda seed=None: vh.GaussianVAE(latent_dim=2, hidden_dims=(8,), architecture="conv",
                                                         seed=seed),
    "Autoencoder": lambda seed=None: vh.Autoencoder(latent_dim=2, hidden_dims=(16,), seed=seed),
    "CategoricalVAE": lambda seed=None: vh.CategoricalVAE(n_latents=3, n_classes=4, hidden_dims=(16,), seed=seed),
    "IWAE": lambda seed=None: vh.IWAE(k=2, latent_dim=2, hidden_dims=(16,), seed=seed),
    "ConditionalVAE": lambda seed=None: vh.ConditionalVAE(latent_dim=2, hidden_dims=(16,), seed=seed),
    "VQVAE": lambda seed=None: vh.VQVAE(n_codes=8, code_dim=4, channels=(4, 8), seed=seed),
    "EMA VQVAE": lambda seed=None: vh.VQVAE(n_codes=8, code_dim=4, channels=(4, 8), codebook_update="ema",
                                            dead_code_threshold=0.5, seed=seed),
    "CodePrior": lambda seed=None: vh.CodePrior(n_codes=8, channels=8, layers=1, seed=seed),
}


def weights(model) -> dict:
    return {name: tensor.clone() for name, tensor in model.state_dict().items()}


def same_weights(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[name], second[name]) for name in first)


def digits(n=32):
    generator = torch.Generator().manual_seed(1)
    return (torch.randint(0, 256, (n, 1, 28, 28), generator=generator, dtype=torch.uint8),
            torch.randint(0, 10, (n,), generator=generator))


def train(model, seed):
    """One short run; returns the history's figures without the timings."""
    if isinstance(model, vh.CodePrior):
        codes = torch.randint(0, 8, (32, 7, 7), generator=torch.Generator().manual_seed(2))
        return fit_code_prior(model, codes, codes[:8], epochs=1, batch_size=16, seed=seed)
    images, labels = digits()
    history = vh.fit(model, images, images[:16], train_labels=labels, test_labels=labels[:16], epochs=1,
                     batch_size=16, seed=seed, progress=False, device="cpu")
    return [{key: value for key, value in row.items() if key != "seconds"} for row in history.rows]


@pytest.mark.parametrize("name", MODELS)
def test_a_seeded_build_is_manual_seed_then_the_unseeded_build_and_leaves_the_global_state(name):
    torch.manual_seed(11)
    unseeded = weights(MODELS[name]())
    state = torch.random.get_rng_state()
    seeded = MODELS[name](seed=11)
    assert torch.equal(torch.random.get_rng_state(), state)  # the rest of the program's stream is untouched
    assert same_weights(weights(seeded), unseeded)
    assert not same_weights(weights(MODELS[name](seed=12)), unseeded)
    assert seeded.config["seed"] == 11 and MODELS[name]().config["seed"] is None


@pytest.mark.parametrize("name", MODELS)
def test_same_seed_for_model_and_fit_gives_identical_weights_and_histories(name):
    runs = []
    for _ in range(2):
        torch.manual_seed(len(runs))  # a different global state each time: the seeds alone decide
        model = MODELS[name](seed=5)
        runs.append((train(model, seed=5), weights(model)))
    (first_history, first_weights), (second_history, second_weights) = runs
    assert first_history == second_history and len(first_history) == 1
    assert same_weights(first_weights, second_weights)
    other = MODELS[name](seed=6)
    train(other, seed=5)
    assert not same_weights(weights(other), first_weights)


def test_the_seed_round_trips_through_a_checkpoint_and_does_not_block_loading_weights(tmp_path):
    model = vh.IWAE(k=2, latent_dim=2, hidden_dims=(16,), seed=4)
    path = vh.save_checkpoint(model, tmp_path / "model.pt")
    state = torch.random.get_rng_state()
    loaded = vh.load_checkpoint(path)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert loaded.config == model.config and loaded.config["seed"] == 4
    assert same_weights(weights(loaded), weights(model))
    other = vh.IWAE(k=2, latent_dim=2, hidden_dims=(16,), seed=9)
    assert same_weights(weights(vh.load_weights(other, path)), weights(model))
    with pytest.raises(ValueError, match="config"):
        vh.load_weights(vh.IWAE(k=3, latent_dim=2, hidden_dims=(16,), seed=4), path)


@pytest.mark.parametrize("seed", [-1, True, 1.5, "0"])
@pytest.mark.parametrize("name", ["GaussianVAE", "VQVAE", "CodePrior", "ConditionalVAE"])
def test_a_bad_seed_is_named(name, seed):
    with pytest.raises(ValueError, match=f"seed must be a whole number >= 0 or None, got {seed!r}"):
        MODELS[name](seed=seed)


def test_the_command_line_builds_its_model_from_the_seed_and_fit_says_how_to_repeat_a_run():
    state = torch.random.get_rng_state()
    first, second = _build_model("categorical", 3, 7), _build_model("categorical", 3, 7)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert first.config["seed"] == 7 and same_weights(weights(first), weights(second))
    assert not same_weights(weights(_build_model("categorical", 3, 8)), weights(first))
    docstring = " ".join(inspect.getdoc(vh.fit).split())
    assert "build the model with a seed too, ``fit(GaussianVAE(seed=0), ..., seed=0)``" in docstring
