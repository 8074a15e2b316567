"""Notebook 02's exercise checks: right answers pass in any form, wrong methods and copied
numbers fail with a message that names the mistake and gives nothing away; the nbgrader round trip."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
from vae_helpers.checks import nb02

N_PARAMETERS = (784 * 256 + 256) + (256 * 4 + 4) + (2 * 256 + 256) + (256 * 784 + 784)
KL = 0.5 * (13 + 5 - 2 - math.log(36))


@pytest.mark.parametrize("answer", [N_PARAMETERS, float(N_PARAMETERS), np.int64(N_PARAMETERS), torch.tensor(N_PARAMETERS)])
def test_parameter_count_accepts_any_number_type(answer):
    expect_pass(nb02.check_parameter_count, answer)


@pytest.mark.parametrize("answer, says", [
    (N_PARAMETERS - (256 + 4 + 256 + 784), "biases are missing"),
    ((784 * 256 + 256) + (256 * 4 + 4), "encoder alone"),
    ((2 * 256 + 256) + (256 * 784 + 784), "decoder alone"),
    (N_PARAMETERS - (256 * 2 + 2), "outputs 4 numbers"),
    ((784 * 400 + 400) + (400 * 4 + 4) + (2 * 400 + 400) + (400 * 784 + 784), "784-400-2"),
    (0, "tolerance"),
    ("404244", "must be a number"),
])
def test_parameter_count_mistakes(answer, says):
    expect_failure(nb02.check_parameter_count, answer, says=says, forbid=[N_PARAMETERS])


def test_kl_of_code_summary():
    expect_pass(nb02.check_kl_of_code_summary, KL)
    expect_pass(nb02.check_kl_of_code_summary, np.float32(KL))
    for answer, says in [(0.5 * (13 + 5 - math.log(36)), "'- D'"),
                         (0.5 * (13 + 5 - 2 - 0.5 * math.log(36)), "standard deviations"),
                         (0.5 * (5 + 5 - 2 - math.log(36)), "sum of the variances"),
                         (-KL, "sign"), (2 * KL, "constant factor"), (1.0, "tolerance"), (None, "no answer")]:
        expect_failure(nb02.check_kl_of_code_summary, answer, says=says)


def test_quantile_coordinates():
    right = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, 15))
    expect_pass(nb02.check_quantile_coordinates, right)
    expect_pass(nb02.check_quantile_coordinates, right.double().numpy())
    expect_pass(nb02.check_quantile_coordinates, right.tolist())
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


def test_vae_encoder():
    expect_pass(nb02.check_vae_encoder, RightEncoder)
    expect_pass(nb02.check_vae_encoder, Float64Encoder)
    for answer, says in [(NoRelu, "ReLU"), (Swapped, "swapped"), (ReturnsVariance, "variance"),
                         (OneTensor, "two tensors"), (WrongSizes, "Linear(784, 400)"),
                         (RightEncoder(), "the class itself"), (None, "no answer")]:
        expect_failure(nb02.check_vae_encoder, answer, says=says)


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
