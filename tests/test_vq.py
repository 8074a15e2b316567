"""Vector quantization, the VQ-VAE and the tools that keep its codebook in use."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch

import vae_helpers as vh
from vae_helpers.vq import (VQVAE, codebook_perplexity, codebook_usage, dead_codes, ema_codebook_update,
                            nearest_code, replace_dead_codes, vector_quantize)


def test_nearest_code_is_the_closest_row_in_euclidean_distance():
    generator = torch.Generator().manual_seed(0)
    z_e, codebook = torch.randn(5, 4, 3, generator=generator), torch.randn(7, 3, generator=generator)
    by_hand = torch.cdist(z_e.reshape(-1, 3), codebook).argmin(1).reshape(5, 4)
    assert torch.equal(nearest_code(z_e, codebook), by_hand)


def test_straight_through_value_is_the_code_and_its_jacobian_the_identity():
    generator = torch.Generator().manual_seed(1)
    codebook = torch.randn(6, 3, generator=generator)
    z_e = torch.randn(2, 3, generator=generator, dtype=torch.float64)
    quantized = vector_quantize(z_e, codebook.double())
    assert torch.equal(quantized.straight_through, codebook.double()[quantized.indices])
    jacobian = torch.autograd.functional.jacobian(lambda z: vector_quantize(z, codebook.double()).straight_through, z_e)
    assert torch.allclose(jacobian.reshape(6, 6), torch.eye(6, dtype=torch.float64))


def test_straight_through_gives_the_codebook_no_gradient_and_quantized_gives_it_all():
    codebook = torch.randn(4, 2, requires_grad=True)
    out = vector_quantize(torch.randn(3, 2), codebook)
    assert not out.straight_through.requires_grad
    out.quantized.sum().backward()
    assert codebook.grad.abs().sum() > 0


def test_perplexity_is_k_under_uniform_use_and_one_under_a_single_code():
    assert math.isclose(float(codebook_perplexity(torch.arange(8).repeat(5), 8)), 8.0, rel_tol=1e-9)
    assert math.isclose(float(codebook_perplexity(torch.full((3, 7, 7), 2), 8)), 1.0, rel_tol=1e-9)
    two_codes = codebook_perplexity(torch.tensor([0, 0, 0, 1]), 5)  # exp of the entropy of (3/4, 1/4)
    assert math.isclose(float(two_codes), math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))), rel_tol=1e-9)


def test_ema_update_matches_a_hand_computation():
    cluster_size = torch.tensor([2.0, 1.0, 0.0])
    embed_sum = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    z_e = torch.tensor([[1.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    indices = torch.tensor([0, 0, 1])
    size, total, codebook = ema_codebook_update(cluster_size, embed_sum, z_e, indices, decay=0.5, epsilon=0.0)
    # N = 0.5 * (2, 1, 0) + 0.5 * (2, 1, 0) = (2, 1, 0); m_0 = 0.5 (2, 0) + 0.5 (4, 2) = (3, 1); m_1 = (0, 3)
    assert torch.allclose(size, torch.tensor([2.0, 1.0, 0.0]))
    assert torch.allclose(total, torch.tensor([[3.0, 1.0], [0.0, 3.0], [0.0, 0.0]]))
    assert torch.allclose(codebook[:2], torch.tensor([[1.5, 0.5], [0.0, 3.0]]))
    _, _, smoothed = ema_codebook_update(cluster_size, embed_sum, z_e, indices, decay=0.5, epsilon=1e-5)
    assert torch.isfinite(smoothed).all() and torch.allclose(smoothed[:2], codebook[:2], atol=1e-4)


def test_reset_moves_dead_codes_onto_encoder_outputs_and_keeps_the_live_ones():
    codebook = torch.tensor([[0.0, 0.0], [100.0, 100.0], [-100.0, 50.0]])
    z_e = torch.randn(10, 2)
    indices = nearest_code(z_e, codebook)
    dead = dead_codes(indices, 3)
    assert dead.tolist() == [False, True, True]
    new = replace_dead_codes(codebook, dead, z_e, torch.Generator().manual_seed(0))
    assert torch.equal(new[0], codebook[0])
    assert all(any(torch.equal(row, z) for z in z_e) for row in new[1:])


def test_the_model_resets_dead_codes_while_training_and_they_come_back_into_use():
    torch.manual_seed(0)
    model = VQVAE(n_codes=8, code_dim=4, channels=(4, 8), dead_code_threshold=0.5, init_scale=10.0)
    x = torch.rand(32, 1, 28, 28).bernoulli()
    with torch.no_grad():
        model.codebook[1:] += 1000.0  # seven codes far from every encoder output: dead
    assert int(dead_codes(model.codes(x), 8).sum()) == 7
    model.train()
    for _ in range(40):
        model.loss_parts(x)
    assert int(dead_codes(model.codes(x), 8).sum()) < 7
    assert model.codebook.abs().max() < 1000.0


def test_vq_parts_the_kl_is_49_log_k_and_the_extra_loss_is_codebook_plus_beta_commitment():
    torch.manual_seed(0)
    model = VQVAE(n_codes=16, code_dim=4, channels=(4, 8)).eval()
    x = torch.rand(5, 1, 28, 28).bernoulli()
    parts = model.loss_parts(x)
    assert math.isclose(float(parts.kl), 49 * math.log(16), rel_tol=1e-6)
    assert torch.allclose(parts.elbo, parts.log_likelihood - parts.kl)
    assert torch.allclose(parts.extra_loss, parts.codebook_loss + 0.25 * parts.commitment_loss)
    assert torch.allclose(parts.codebook_loss, parts.commitment_loss)  # the same distance, gradients differ
    assert parts.indices.shape == (5, 7, 7)
    assert model.reconstruct(x).shape == (5, 1, 28, 28) and model.sample_images(3).shape == (3, 1, 28, 28)


@pytest.mark.parametrize("options", [{}, {"codebook_update": "ema", "dead_code_threshold": 0.03},
                                     {"quantizer": "gumbel", "temperature": 0.5}])
def test_fit_trains_it_and_the_checkpoint_round_trips(options, tmp_path):
    train = vh.load_dataset("mnist", "train", limit=256)
    test = vh.load_dataset("mnist", "test", limit=128)
    torch.manual_seed(0)
    model = VQVAE(n_codes=16, code_dim=4, channels=(8, 16), **options)
    before = vh.evaluate(model, vh.DeviceBatches(test.images, test.labels, 128, shuffle=False))["loss"]
    history = vh.fit(model, train.images, test.images, epochs=2, batch_size=32, progress=False)
    assert history.last["test_loss"] < before
    assert math.isclose(history.last["test_kl"], 49 * math.log(16), rel_tol=1e-6)
    path = vh.save_checkpoint(model, tmp_path / "model.pt")
    loaded = vh.load_checkpoint(path).eval()
    x = vh.evaluation_pixels(test.images[:8])
    model.eval()
    assert torch.equal(loaded.codes(x), model.codes(x))
    assert torch.allclose(loaded.reconstruct(x), model.reconstruct(x))
    usage = codebook_usage(model, x)
    assert 1 <= usage["perplexity"] <= 16 and usage["used"] + usage["dead"] == 16


def test_bad_options_are_refused_with_their_name():
    for options, says in [({"n_codes": 1}, "n_codes"), ({"quantizer": "soft"}, "quantizer"),
                          ({"beta": -1.0}, "beta"), ({"codebook_update": "kmeans"}, "codebook_update"),
                          ({"quantizer": "gumbel", "codebook_update": "ema"}, "Gumbel"),
                          ({"channels": (8,)}, "channels")]:
        with pytest.raises(ValueError, match=says):
            VQVAE(**options)
    with pytest.raises(ValueError, match="size"):
        vector_quantize(torch.randn(3, 4), torch.randn(5, 3))


def test_the_command_line_trains_and_evaluates_a_vqvae(tmp_path):
    env = dict(os.environ, VAE_SMOKE="1", MPLBACKEND="Agg")
    train = subprocess.run([sys.executable, "-m", "vae_helpers", "train", "--model", "vqvae", "--epochs", "1",
                            "--batch-size", "256", "--out", str(tmp_path), "--json"],
                           capture_output=True, text=True, timeout=300, env=env)
    assert train.returncode == 0, train.stderr
    assert json.loads(train.stdout.strip().splitlines()[-1])["model"] == "vqvae"
    evaluated = subprocess.run([sys.executable, "-m", "vae_helpers", "evaluate", str(tmp_path / "model.pt"), "--json"],
                               capture_output=True, text=True, timeout=300, env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    figures = json.loads(evaluated.stdout.strip().splitlines()[-1])
    assert math.isclose(figures["rate_nats"], 49 * math.log(64), rel_tol=1e-5)
    assert math.isclose(figures["total_nats"], figures["rate_nats"] + figures["distortion_nats"], rel_tol=1e-5)


def test_without_the_reconstruction_term_no_gradient_reaches_the_decoder():
    """fit's loss is -(log_likelihood - kl) + extra_loss; with reconstruction_weight=0 the
    reconstruction term must cancel, so the decoder gets no gradient at all."""
    torch.manual_seed(0)
    model = vh.VQVAE(reconstruction_weight=0.0)
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3))
    parts = model.loss_parts(x)
    loss = -(parts.log_likelihood - parts.kl) + parts.extra_loss
    loss.backward()
    decoder_grads = [p.grad for name, p in model.named_parameters() if name.startswith("decoder")]
    assert decoder_grads and all(g is None or float(g.abs().max()) == 0.0 for g in decoder_grads)


def _cli(*arguments):
    env = dict(os.environ, VAE_SMOKE="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "vae_helpers", *arguments], capture_output=True, text=True,
                          timeout=300, env=env)


def _last_json(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_command_line_fits_a_code_prior_that_evaluate_scores_as_the_rate(tmp_path):
    trained = _last_json(_cli("train", "--model", "vqvae", "--epochs", "1", "--prior-epochs", "1",
                              "--batch-size", "256", "--out", str(tmp_path), "--json"))
    assert trained["prior_epochs"] == 1 and (tmp_path / "prior.pt").is_file()
    uniform = _last_json(_cli("evaluate", str(tmp_path / "model.pt"), "--json"))
    learned = _last_json(_cli("evaluate", str(tmp_path / "model.pt"), "--prior", str(tmp_path / "prior.pt"),
                              "--json"))
    # train scored the prior on the codes of the same fixed test binarization: the two figures agree
    assert math.isclose(learned["rate_nats"], trained["prior_test_nll_nats"], rel_tol=1e-4)
    # a prior fitted to the codes costs fewer nats than the uniform 49 log K; the distortion is unchanged
    assert 0 < learned["rate_nats"] < uniform["rate_nats"]
    assert learned["distortion_nats"] == uniform["distortion_nats"]
    assert math.isclose(learned["total_nats"], learned["rate_nats"] + learned["distortion_nats"], rel_tol=1e-6)
    assert "learned prior" in _cli("evaluate", str(tmp_path / "model.pt"), "--prior",
                                   str(tmp_path / "prior.pt")).stdout
    # a second run into the same folder must not replace the prior either
    again = _cli("train", "--model", "vqvae", "--epochs", "1", "--out", str(tmp_path))
    assert again.returncode == 2 and "prior.pt" in again.stderr and "epoch" not in again.stdout
    # with --force and no prior, the old prior (fitted to the replaced model's codes) goes too
    replaced = _cli("train", "--model", "vqvae", "--epochs", "1", "--prior-epochs", "0", "--batch-size", "256",
                    "--out", str(tmp_path), "--force")
    assert replaced.returncode == 0, replaced.stderr
    assert not (tmp_path / "prior.pt").exists() and "removed" in replaced.stdout


def test_without_a_prior_the_command_line_writes_none_and_says_its_samples_are_uniform(tmp_path):
    trained = _last_json(_cli("train", "--model", "vqvae", "--epochs", "1", "--prior-epochs", "0",
                              "--batch-size", "256", "--out", str(tmp_path), "--json"))
    assert "prior_checkpoint" not in trained and not (tmp_path / "prior.pt").exists()


@pytest.mark.parametrize("arguments, says", [
    (("train", "--model", "gaussian", "--prior-epochs", "3"), "--prior-epochs is for --model vqvae"),
    (("train", "--model", "vqvae", "--prior-epochs", "-1"), "expected a count >= 0"),
])
def test_bad_prior_options_are_refused_in_one_line(arguments, says, tmp_path):
    result = _cli(*arguments, "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1 and says in result.stderr
    assert "epoch" not in result.stdout and "data:" not in result.stdout  # refused before any work
    assert not (tmp_path / "out").exists()


def test_evaluate_refuses_a_prior_that_does_not_fit_the_checkpoint(tmp_path):
    from vae_helpers.vq import codebook_fingerprint

    vh.save_checkpoint(vh.VQVAE(n_codes=8, seed=0), tmp_path / "vq8.pt")
    vh.save_checkpoint(vh.CodePrior(n_codes=16, seed=0), tmp_path / "prior16.pt")
    vh.save_checkpoint(vh.CodePrior(n_codes=8, seed=0), tmp_path / "unrecorded8.pt")
    other = codebook_fingerprint(vh.VQVAE(n_codes=8, seed=1))  # same K, another model
    vh.save_checkpoint(vh.CodePrior(n_codes=8, seed=0, fitted_to=other), tmp_path / "other8.pt")
    vh.save_checkpoint(vh.GaussianVAE(seed=0), tmp_path / "gaussian.pt")
    for checkpoint, prior, says in [("vq8.pt", "prior16.pt", "prior over 16 codes, but the VQ-VAE"),
                                    ("vq8.pt", "unrecorded8.pt", "does not record which VQ-VAE"),
                                    ("vq8.pt", "other8.pt", "fitted to the codes of another VQ-VAE"),
                                    ("gaussian.pt", "prior16.pt", "--prior is for VQ-VAE checkpoints"),
                                    ("vq8.pt", "gaussian.pt", "not a CodePrior"),
                                    ("vq8.pt", "missing.pt", "does not exist")]:
        result = _cli("evaluate", str(tmp_path / checkpoint), "--prior", str(tmp_path / prior))
        assert result.returncode == 2 and says in result.stderr, (checkpoint, prior, result.stderr)


def test_the_sample_figure_decodes_draws_of_the_learned_prior_and_says_so(monkeypatch, tmp_path):
    from vae_helpers import cli, plots

    shown = {}
    real_grid = plots.image_grid

    def record(images, title=None, **options):
        shown["images"], shown["title"] = images, title
        return real_grid(images, title=title, **options)

    monkeypatch.setattr(plots, "image_grid", record)
    model = vh.VQVAE(n_codes=8, seed=0).eval()
    prior = vh.CodePrior(n_codes=8, channels=8, layers=1, seed=0).eval()
    cli._save_samples(model, None, torch.device("cpu"), tmp_path / "with.png", prior, seed=3)
    with torch.no_grad():
        expected = model.decode_codes(prior.sample(64, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(shown["images"], expected) and "learned prior" in shown["title"]
    assert "Bernoulli means" in shown["title"]
    cli._save_samples(model, None, torch.device("cpu"), tmp_path / "without.png")
    assert "uniformly drawn codes" in shown["title"] and (tmp_path / "without.png").stat().st_size > 0


def test_a_codebook_fingerprint_tells_models_apart_and_survives_a_checkpoint(tmp_path):
    from vae_helpers.vq import codebook_fingerprint

    first, second = vh.VQVAE(n_codes=8, seed=0), vh.VQVAE(n_codes=8, seed=1)
    assert codebook_fingerprint(first) != codebook_fingerprint(second)
    vh.save_checkpoint(first, tmp_path / "first.pt")
    assert codebook_fingerprint(vh.load_checkpoint(tmp_path / "first.pt")) == codebook_fingerprint(first)
    prior = vh.CodePrior(n_codes=8, channels=8, layers=1, fitted_to=codebook_fingerprint(first))
    vh.save_checkpoint(prior, tmp_path / "prior.pt")
    assert vh.load_checkpoint(tmp_path / "prior.pt").fitted_to == codebook_fingerprint(first)
    prior.check_fits(first)
    with pytest.raises(ValueError, match="another VQ-VAE"):
        prior.check_fits(second)
    with pytest.raises(TypeError, match="fingerprint"):
        vh.CodePrior(n_codes=8, fitted_to=123)
