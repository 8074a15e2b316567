"""The fast paths of fit that run anywhere: the default (fused) Adam, bf16 autocast, and the
checks that refuse a CUDA-graph run that could not work."""

import pytest
import torch

import vae_helpers as vh
from vae_helpers import fast_training


@pytest.fixture(scope="module")
def small_mnist():
    return vh.load_dataset("mnist", "train", limit=512), vh.load_dataset("mnist", "test", limit=256)


def test_default_adam_is_fused_where_supported_and_first_step_matches_the_closed_form():
    # Adam's first bias-corrected step is -lr * g / (|g| + eps): independent of the optimizer's code.
    torch.manual_seed(0)
    weight = torch.randn(50, 30, requires_grad=True)
    start = weight.detach().clone()
    optimizer = fast_training.default_optimizer([weight], 1e-2, torch.device("cpu"))
    assert bool(optimizer.defaults["fused"]) is fast_training.fused_adam_supported(torch.device("cpu"))
    gradient = torch.randn(50, 30)
    weight.grad = gradient.clone()
    optimizer.step()
    expected = start - 1e-2 * gradient / (gradient.abs() + 1e-8)
    torch.testing.assert_close(weight.detach(), expected, rtol=1e-5, atol=1e-6)


def test_without_fused_support_the_default_is_the_multi_tensor_adam(monkeypatch):
    monkeypatch.setitem(fast_training._fused_adam_support, "cpu", False)
    optimizer = fast_training.default_optimizer([torch.zeros(3, requires_grad=True)], 1e-3, torch.device("cpu"),
                                                capturable=True)
    assert not optimizer.defaults["fused"] and optimizer.defaults["capturable"]


def test_fused_and_multi_tensor_adam_train_a_vae_to_the_same_weights(small_mnist):
    train, _ = small_mnist
    weights = []
    for fused in (True, False):
        model = vh.GaussianVAE(latent_dim=4, hidden_dims=(64,))
        torch.manual_seed(1)
        model.load_state_dict(vh.GaussianVAE(latent_dim=4, hidden_dims=(64,)).state_dict())
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=fused)
        vh.fit(model, train.images, epochs=1, optimizer=optimizer, device="cpu", progress=False)
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-4, atol=1e-5)


def test_bfloat16_autocast_changes_a_vaes_elbo_by_under_one_percent(small_mnist):
    train, test = small_mnist
    model = vh.GaussianVAE(latent_dim=8, hidden_dims=(128,))
    history = vh.fit(model, train.images, epochs=2, precision="bfloat16", device="cpu", progress=False)
    assert history.last["train_loss"] < 500
    x = test.images.float() / 255
    model.eval()
    losses = {}
    for precision in ("float32", "bfloat16"):
        torch.manual_seed(3)  # the same noise draws for both
        with torch.no_grad(), fast_training.autocast_context(precision, torch.device("cpu"))():
            losses[precision] = vh.elbo(model, x).neg_elbo.item()
    assert losses["bfloat16"] != losses["float32"], "autocast had no effect"
    # Measured: a few tenths of a nat on an AVX512-BF16 CPU, 2.0 of 468 nats (0.4%) on one with AMX.
    assert abs(losses["bfloat16"] - losses["float32"]) < 0.01 * losses["float32"], losses


@pytest.mark.parametrize("precision", ["float16", "fp32", None])
def test_unknown_precision_is_refused_by_name(precision, small_mnist):
    train, _ = small_mnist
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16"):
        vh.fit(vh.GaussianVAE(), train.images, epochs=1, precision=precision, progress=False)


def test_cuda_graph_on_a_cpu_run_says_it_needs_cuda(small_mnist):
    train, _ = small_mnist
    with pytest.raises(ValueError, match="cuda_graph=True needs a CUDA device, but training runs on cpu"):
        vh.fit(vh.GaussianVAE(), train.images, epochs=1, device="cpu", cuda_graph=True, progress=False)


def test_cuda_graph_refuses_a_temperature_schedule_and_a_non_capturable_optimizer():
    model = vh.CategoricalVAE()
    cuda = torch.device("cuda")  # only the checks run: no GPU is needed to refuse
    with pytest.raises(ValueError, match="constant temperature"):
        fast_training.check_graph_options(cuda, vh.exponential_temperature(), torch.optim.Adam(model.parameters(),
                                                                                             capturable=True))
    with pytest.raises(ValueError, match="capturable=True"):
        fast_training.check_graph_options(cuda, 0.5, torch.optim.Adam(model.parameters()))
    with pytest.raises(ValueError, match="capturable=True"):
        fast_training.check_graph_options(cuda, 0.5, torch.optim.Adam(model.parameters(), fused=True))
    fast_training.check_graph_options(cuda, 0.5, torch.optim.Adam(model.parameters(), capturable=True))
    fast_training.check_graph_options(cuda, None, torch.optim.SGD(model.parameters(), lr=0.1))


class RecordingGraphStep(fast_training.GraphedTrainingStep):
    """GraphedTrainingStep with a CPU stand-in for its two CUDA methods: ``capture`` records the
    step without running it (as CUDA graph capture does) and its replay runs it again."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.captures = self.beside = 0

    def run_beside(self, work):
        self.beside += 1
        work()

    def capture(self, work):
        self.captures += 1
        return work


def test_graph_bookkeeping_trains_exactly_like_eager_steps(small_mnist):
    # Same ops in the same order on a CPU: the same random draws and bit-for-bit the same weights,
    # but only if each replay trains on the new batch and the new KL weight, and partial batches run eagerly.
    train, _ = small_mnist
    x_all = train.images[:500].float() / 255  # 3 batches of 128 and one of 116
    y_all = train.labels[:500]
    kl_weights = [0.1 * (step % 7) for step in range(20)]

    def train_with(step_runner_factory):
        torch.manual_seed(0)
        model = vh.GaussianVAE(latent_dim=4, hidden_dims=(32,))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        totals = torch.zeros(2)

        def take_step(x, y, kl_weight):
            parts = model.loss_parts(x)
            loss = -(parts.log_likelihood - kl_weight * parts.kl)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            totals.add_(torch.stack([parts.neg_elbo, parts.kl]).detach() * x.shape[0])

        runner = step_runner_factory(take_step)
        step = 0
        for _ in range(4):
            for start in range(0, 500, 128):
                runner(x_all[start:start + 128], y_all[start:start + 128], kl_weights[step % 20])
                step += 1
        return torch.cat([p.detach().flatten() for p in model.parameters()]), totals, runner

    eager_weights, eager_totals, _ = train_with(lambda take_step: (
        lambda x, y, w: take_step(x, y, torch.full((), w))))
    graph_weights, graph_totals, runner = train_with(lambda take_step: RecordingGraphStep(take_step, 128, "cpu"))
    assert runner.beside == 3 and runner.captures == 1 and runner.steps_seen == 12
    assert torch.equal(graph_weights, eager_weights)
    assert torch.isfinite(eager_totals).all() and torch.isfinite(eager_weights).all()
    assert torch.equal(graph_totals, eager_totals), (graph_totals, eager_totals)
