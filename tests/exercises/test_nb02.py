"""Notebook 02's exercise checks: right answers pass in any form, wrong methods and copied
numbers fail with a message that names the mistake and gives nothing away; the nbgrader round trip."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
import vae_helpers as vh
from vae_helpers.checks import nb02

def count_parameters(layer_sizes):
    return sum(n_in * n_out + n_out for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]))


def test_count_parameters_accepts_a_right_function_in_any_number_type():
    expect_pass(nb02.check_count_parameters, count_parameters)
    expect_pass(nb02.check_count_parameters, lambda sizes: float(count_parameters(sizes)))
    expect_pass(nb02.check_count_parameters, lambda sizes: np.int64(count_parameters(sizes)))
    expect_pass(nb02.check_count_parameters, lambda sizes: torch.tensor(count_parameters(sizes)))


def _pairs(sizes):
    return list(zip(sizes[:-1], sizes[1:]))


@pytest.mark.parametrize("function, says", [
    (lambda sizes: sum(a * b for a, b in _pairs(sizes)), "biases are missing"),
    (lambda sizes: sum(a * b + a for a, b in _pairs(sizes)), "not a"),
    (lambda sizes: sum(a * b + a + b for a, b in _pairs(sizes)), "not a + b"),
    (lambda sizes: count_parameters(sizes[:-1]), "last layer is missing"),
    (lambda sizes: count_parameters(sizes[1:]), "first layer is missing"),
    (lambda sizes: sizes[0] * sizes[-1] + sizes[-1], "every layer in between"),
    (lambda sizes: 404244, "tolerance"),  # the seed-004 total, copied
    (lambda sizes: sum(p.numel() for p in nn.Sequential(*[nn.Linear(a, b) for a, b in _pairs(sizes)]).parameters()),
     "builds layers"),
    (lambda sizes: sum(p.numel() for p in vh.GaussianVAE(latent_dim=2, hidden_dims=(256,)).parameters()),
     "builds layers"),
    (lambda sizes: str(count_parameters(sizes)), "must be a number"),
    (None, "no answer"),
    (404244, "expected a function"),
])
def test_count_parameters_mistakes(function, says):
    expect_failure(nb02.check_count_parameters, function, says=says, forbid=[404244])


def gaussian_kl_to_standard(mean, cov):
    return 0.5 * (cov.trace() + mean @ mean - len(mean) - torch.logdet(cov))


def _half(*terms):
    return 0.5 * sum(terms)


def test_gaussian_kl_to_standard_accepts_right_functions():
    expect_pass(nb02.check_gaussian_kl_to_standard, gaussian_kl_to_standard)
    expect_pass(nb02.check_gaussian_kl_to_standard,
                lambda m, S: 0.5 * (torch.diagonal(S).sum() + (m ** 2).sum() - m.shape[0]
                                    - 2 * torch.linalg.cholesky(S).diagonal().log().sum()))
    expect_pass(nb02.check_gaussian_kl_to_standard, lambda m, S: gaussian_kl_to_standard(m.float(), S.float()))


@pytest.mark.parametrize("function, says", [
    (lambda m, S: _half(S.trace(), m @ m, -torch.logdet(S)), "'- D'"),
    (lambda m, S: _half(S.trace(), m @ m, -2, -torch.logdet(S)), "not a fixed 2"),
    (lambda m, S: _half(S.trace(), m @ m, -len(m), -S.diagonal().log().sum()), "off-diagonal"),
    (lambda m, S: _half(S.trace(), m @ m, -len(m), -0.5 * torch.logdet(S)), "square root"),
    (lambda m, S: _half(S.diagonal().sqrt().sum(), m @ m, -len(m), -torch.logdet(S)), "standard deviations"),
    (lambda m, S: _half(S.trace(), -(m @ m), -len(m), -torch.logdet(S)), "plus sign"),
    (lambda m, S: _half(S.trace(), m @ m, -len(m), torch.logdet(S)), "minus sign"),
    (lambda m, S: _half(S.inverse().trace(), m @ m, -len(m), -torch.logdet(S)), "inverse"),
    (lambda m, S: 2 * gaussian_kl_to_standard(m, S), "constant factor"),
    (lambda m, S: torch.tensor(KL_OF_THE_OLD_EXERCISE, dtype=torch.float64), "tolerance"),  # the old exercise's number, copied
    (lambda m, S: gaussian_kl_to_standard(m, S).detach().item(), "torch.Tensor"),
    (lambda m, S: gaussian_kl_to_standard(m.detach(), S.detach()), "not differentiable"),
    (lambda m, S: torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(m, S),
        torch.distributions.MultivariateNormal(torch.zeros_like(m), torch.eye(len(m), dtype=m.dtype))), "kl_divergence"),
    (lambda m, S: gaussian_kl_to_standard(m, S).reshape(1), "shape"),
    (None, "no answer"),
])
def test_gaussian_kl_to_standard_mistakes(function, says):
    expect_failure(nb02.check_gaussian_kl_to_standard, function, says=says)


KL_OF_THE_OLD_EXERCISE = 0.5 * (13 + 5 - 2 - math.log(36))


def test_quantile_coordinates():
    right = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, 15))
    expect_pass(nb02.check_quantile_coordinates, right)
    expect_pass(nb02.check_quantile_coordinates, right.double().numpy())
    expect_pass(nb02.check_quantile_coordinates, right.tolist())
    expect_pass(nb02.check_quantile_coordinates, right.half())
    for answer, says in [(torch.linspace(0.05, 0.95, 15), "probabilities p themselves"),
                         (torch.linspace(float(right[0]), float(right[-1]), 15), "evenly spaced between"),
                         (torch.linspace(-3, 3, 15), "evenly spaced grid"),
                         (right[:10], "shape"), (-right.flip(0) * 2, "constant factor"),
                         (torch.zeros(15), "tolerance")]:
        expect_failure(nb02.check_quantile_coordinates, answer, says=says)


class RightEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(784, 400)
        self.head = nn.Linear(400, 4)

    def forward(self, x):
        return self.head(torch.relu(self.hidden(x.flatten(1)))).chunk(2, dim=-1)


class NoRelu(RightEncoder):
    def forward(self, x):
        return self.head(self.hidden(x.flatten(1))).chunk(2, dim=-1)


class Swapped(RightEncoder):
    def forward(self, x):
        loc, log_var = super().forward(x)
        return log_var, loc


class ReturnsVariance(RightEncoder):
    def forward(self, x):
        loc, log_var = super().forward(x)
        return loc, log_var.exp()


class OneTensor(RightEncoder):
    def forward(self, x):
        return self.head(torch.relu(self.hidden(x.flatten(1))))


class WrongSizes(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(784, 256)
        self.head = nn.Linear(256, 4)


class Float64Encoder(RightEncoder):
    def forward(self, x):
        loc, log_var = super().forward(x)
        return loc.double(), log_var.double()


class ReluOnOutput(RightEncoder):
    def forward(self, x):
        return torch.relu(self.head(torch.relu(self.hidden(x.flatten(1))))).chunk(2, dim=-1)


class SigmoidHidden(RightEncoder):
    def forward(self, x):
        return self.head(torch.sigmoid(self.hidden(x.flatten(1)))).chunk(2, dim=-1)


class TanhHidden(RightEncoder):
    def forward(self, x):
        return self.head(torch.tanh(self.hidden(x.flatten(1)))).chunk(2, dim=-1)


class Interleaved(RightEncoder):
    def forward(self, x):
        output = self.head(torch.relu(self.hidden(x.flatten(1))))
        return output[:, 0::2], output[:, 1::2]


class NoGrad(RightEncoder):
    def forward(self, x):
        with torch.no_grad():
            return super().forward(x)


class Detached(RightEncoder):
    def forward(self, x):
        return tuple(t.detach() for t in super().forward(x))


class Numpy(RightEncoder):
    def forward(self, x):
        return tuple(t.detach().numpy() for t in super().forward(x))


class WrapsPackage(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = vh.GaussianVAE(latent_dim=2, hidden_dims=(400,)).encoder

    def forward(self, x):
        return self.net(x).chunk(2, dim=-1)


TRAINED = vh.GaussianVAE(latent_dim=2, hidden_dims=(400,), seed=3)


class WrapsTrained(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = TRAINED.encoder

    def forward(self, x):
        return self.net(x).chunk(2, dim=-1)


class CallsPackageEncode(RightEncoder):
    def forward(self, x):
        return TRAINED.encode(x)


def test_vae_encoder():
    expect_pass(nb02.check_vae_encoder, RightEncoder)
    expect_pass(nb02.check_vae_encoder, Float64Encoder)
    for answer, says in [(NoRelu, "ReLU between the two layers is missing"), (Swapped, "swapped"),
                         (ReturnsVariance, "variance"), (OneTensor, "two tensors"), (WrongSizes, "Linear(784, 400)"),
                         (ReluOnOutput, "ReLU after the last layer"), (SigmoidHidden, "sigmoid"), (TanhHidden, "tanh"),
                         (Interleaved, "alternating columns"), (NoGrad, "not differentiable"),
                         (Detached, "not differentiable"), (Numpy, "torch.Tensor"),
                         (WrapsPackage, "vae_helpers model"), (WrapsTrained, "reuses layers"),
                         (CallsPackageEncode, "vae_helpers model"),
                         (RightEncoder(), "the class itself"), (None, "no answer")]:
        expect_failure(nb02.check_vae_encoder, answer, says=says)


def test_vae_encoder_check_leaves_the_learners_objects_and_the_global_random_state_alone():
    before = [p.detach().clone() for p in TRAINED.parameters()]
    expect_failure(nb02.check_vae_encoder, WrapsTrained, says="reuses layers")
    assert all(torch.equal(a, b) for a, b in zip(before, TRAINED.parameters()))
    state = torch.random.get_rng_state()
    expect_pass(nb02.check_vae_encoder, RightEncoder)
    assert torch.equal(state, torch.random.get_rng_state())


WRONG_ENCODER = ("from torch import nn\n\n"
                 "class VAEEncoder(nn.Module):\n"
                 "    def __init__(self):\n"
                 "        super().__init__()\n"
                 "        self.hidden = nn.Linear(784, 400)\n"
                 "        self.head = nn.Linear(400, 4)\n\n"
                 "    def forward(self, x):\n"
                 "        return self.head(self.hidden(x.flatten(1))).chunk(2, dim=-1)\n")


def test_nbgrader_round_trip(tmp_path):
    nbgrader_round_trip("02_autoencoder_vs_vae.ipynb", 4, WRONG_ENCODER, tmp_path)
