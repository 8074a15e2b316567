"""fit on a CUDA GPU: the eager step, the CUDA-graph step and bf16 autocast agree."""

import pytest
import torch

import vae_helpers as vh


@pytest.fixture(scope="module")
def mnist():
    # 1,000 images: 7 full batches of 128 and a partial one of 104, so both graph paths run.
    return vh.load_dataset("mnist", "train", limit=1000), vh.load_dataset("mnist", "test", limit=500)


def _weights(model):
    return torch.cat([p.detach().float().flatten().cpu() for p in model.parameters()])


def _twin_models(make):
    torch.manual_seed(0)
    first = make()
    second = make()
    second.load_state_dict(first.state_dict())
    return first, second


def _train_eager_and_graphed(make, mnist, cuda, epochs=8):
    """Twin models trained the same way, one with eager steps and one with CUDA-graph replays:
    (eager model, graphed model, eager history, graphed history)."""
    train, test = mnist
    eager_model, graphed_model = _twin_models(make)
    eager = vh.fit(eager_model, train.images, test.images, epochs=epochs, device=cuda, progress=False)
    graphed = vh.fit(graphed_model, train.images, test.images, epochs=epochs, device=cuda, cuda_graph=True,
                     progress=False)
    return eager_model, graphed_model, eager, graphed


def test_a_graphed_autoencoder_learns_the_same_weights_as_the_eager_one(cuda, mnist):
    # An autoencoder draws no random numbers, so graph replay and eager steps must agree.
    train, test = mnist
    eager_model, graphed_model = _twin_models(lambda: vh.Autoencoder(latent_dim=8, hidden_dims=(128,)))
    initial = _weights(eager_model)
    eager = vh.fit(eager_model, train.images, test.images, epochs=2, device=cuda, progress=False)
    graphed = vh.fit(graphed_model, train.images, test.images, epochs=2, device=cuda, cuda_graph=True,
                     progress=False)
    torch.testing.assert_close(_weights(graphed_model), _weights(eager_model), rtol=1e-3, atol=1e-4)
    for key in ("train_loss", "test_loss"):
        assert graphed.column(key) == pytest.approx(eager.column(key), rel=1e-4), key
    assert (_weights(graphed_model) - initial).abs().max() > 1e-3, "training did not move the weights"


@pytest.mark.parametrize("make", [vh.GaussianVAE, lambda: vh.GaussianVAE(architecture="conv"),
                                  lambda: vh.CategoricalVAE(temperature=0.7)], ids=["mlp", "conv", "categorical"])
def test_graphed_training_reaches_the_eager_elbo(cuda, mnist, monkeypatch, make):
    monkeypatch.setenv("VAE_SMOKE", "0")
    _, _, eager, graphed = _train_eager_and_graphed(make, mnist, cuda)
    first = eager.rows[0]["test_loss"]
    # Different noise draws, same objective: both fall far, and land within a couple of nats.
    assert eager.last["test_loss"] < first - 20 and graphed.last["test_loss"] < first - 20
    assert abs(graphed.last["test_loss"] - eager.last["test_loss"]) < 3.0, (graphed.last, eager.last)


def test_graph_replays_follow_a_kl_weight_schedule(cuda, mnist, monkeypatch):
    # The KL weight reaches the captured step through a device tensor filled before each replay:
    # a heavier weight must give a smaller KL, as large a change as in eager training.
    monkeypatch.setenv("VAE_SMOKE", "0")
    train, _ = mnist
    kls = {}
    for beta in (0.0, 4.0):
        for cuda_graph in (False, True):
            torch.manual_seed(0)
            history = vh.fit(vh.GaussianVAE(latent_dim=8, hidden_dims=(128,)), train.images, epochs=6, device=cuda,
                             cuda_graph=cuda_graph, beta=lambda step: beta, progress=False)
            kls[beta, cuda_graph] = history.last["train_kl"]
            assert history.last["beta"] == beta
    assert kls[0.0, True] > 1.5 * kls[4.0, True], kls
    for beta in (0.0, 4.0):
        assert abs(kls[beta, True] - kls[beta, False]) < 0.25 * kls[beta, False], kls


def test_bfloat16_autocast_on_cuda_trains_to_the_float32_elbo(cuda, mnist, monkeypatch):
    monkeypatch.setenv("VAE_SMOKE", "0")
    train, test = mnist
    losses = {}
    for precision in ("float32", "bfloat16"):
        model, _ = _twin_models(vh.GaussianVAE)
        history = vh.fit(model, train.images, test.images, epochs=8, device=cuda, precision=precision,
                         cuda_graph=True, progress=False)
        losses[precision] = history.last["test_loss"]
    assert abs(losses["bfloat16"] - losses["float32"]) < 2.0, losses


def test_the_default_optimizer_on_cuda_is_fused_adam(cuda):
    from vae_helpers.fast_training import default_optimizer

    optimizer = default_optimizer(vh.GaussianVAE().to(cuda).parameters(), 1e-3, cuda)
    assert optimizer.defaults["fused"] is True and not optimizer.defaults["capturable"]
    graphable = default_optimizer(vh.GaussianVAE().to(cuda).parameters(), 1e-3, cuda, capturable=True)
    assert graphable.defaults["fused"] is True and graphable.defaults["capturable"]


def test_a_graphed_vqvae_with_ema_and_resets_reaches_the_eager_bound(cuda, mnist, monkeypatch):
    # The EMA codebook and the dead-code resets run inside the captured step without a host sync:
    # graph replay and eager steps must train the same objective to the same place and keep codes in use.
    monkeypatch.setenv("VAE_SMOKE", "0")
    eager_model, graphed_model, eager, graphed = _train_eager_and_graphed(
        lambda: vh.VQVAE(n_codes=32, codebook_update="ema", dead_code_threshold=0.03), mnist, cuda)
    first = eager.rows[0]["test_loss"]
    assert eager.last["test_loss"] < first - 20 and graphed.last["test_loss"] < first - 20
    assert abs(graphed.last["test_loss"] - eager.last["test_loss"]) < 10.0, (graphed.last, eager.last)
    # on the CPU (eager, two seeds) 17 and 19 of the 32 codes end in use on these 500 test images
    pixels = vh.evaluation_pixels(mnist[1].images)
    used = [vh.vq.codebook_usage(model, pixels)["used"] for model in (eager_model, graphed_model)]
    assert min(used) > 8 and abs(used[0] - used[1]) <= 8, used


def test_a_code_prior_trains_and_samples_on_cuda(cuda, mnist, monkeypatch):
    monkeypatch.setenv("VAE_SMOKE", "0")
    train, test = mnist
    model = vh.VQVAE(n_codes=32, codebook_update="ema", dead_code_threshold=0.03, seed=0)
    vh.fit(model, train.images, test.images, epochs=4, device=cuda, progress=False)
    train_codes = vh.vq.encode_codes(model, vh.evaluation_pixels(train.images))
    test_codes = vh.vq.encode_codes(model, vh.evaluation_pixels(test.images))
    prior = vh.CodePrior(n_codes=32, channels=32, layers=2, seed=0).to(cuda)
    rows = vh.code_prior.fit_code_prior(prior, train_codes, test_codes, epochs=3)
    assert rows[-1]["test_nll"] < prior.uniform_nats - 20, rows
    grids = prior.sample(8, generator=torch.Generator().manual_seed(0))
    assert grids.device.type == "cuda" and grids.shape == (8, 7, 7)
    assert int(grids.min()) >= 0 and int(grids.max()) < 32


def test_the_command_line_trains_a_graphed_vqvae_and_its_prior_on_cuda(cuda, tmp_path, monkeypatch):
    from vae_helpers.cli import main

    monkeypatch.setenv("VAE_SMOKE", "1")
    out = tmp_path / "run"
    assert main(["train", "--model", "vqvae", "--device", "cuda", "--cuda-graph", "--epochs", "1",
                 "--prior-epochs", "1", "--out", str(out)]) == 0
    assert main(["evaluate", str(out / "model.pt"), "--prior", str(out / "prior.pt"), "--device", "cuda"]) == 0
