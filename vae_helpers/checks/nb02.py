"""Checks of notebook 02's exercises (autoencoder vs VAE).

The references are computed here, from the package's models and ``torch.distributions``, so no
notebook cell shows them; failures name the mistake, never a number.
"""

import torch
from torch import nn
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from ..models import GaussianVAE
from . import (ExerciseNotDone, _call, _not_done, answer_tensor, check_number, check_tensor,
               check_tensor_quietly, fresh_generator)

__all__ = ["check_parameter_count", "check_kl_of_code_summary", "check_quantile_coordinates", "check_vae_encoder"]


def _count(hidden: int, latent: int) -> dict:
    encoder = (784 * hidden + hidden) + (hidden * 2 * latent + 2 * latent)
    decoder = (latent * hidden + hidden) + (hidden * 784 + 784)
    return dict(encoder=encoder, decoder=decoder)


def check_parameter_count(answer) -> None:
    """Exercise 1: the number of weights and biases of seed 004's 784-256-2 VAE."""
    expected = sum(p.numel() for p in GaussianVAE(latent_dim=2, hidden_dims=(256,)).parameters())
    right = _count(256, 2)
    no_biases = expected - (256 + 4 + 256 + 784)
    check_number("Exercise 1", answer, expected, rtol=0, atol=0.5, mistakes=[
        (no_biases, "the biases are missing: each Linear(a, b) layer has a*b weights and b biases"),
        (right["encoder"], "that is the encoder alone; add the decoder"),
        (right["decoder"], "that is the decoder alone; add the encoder"),
        (right["decoder"] + (784 * 256 + 256) + (256 * 2 + 2),
         "the encoder's last layer outputs 4 numbers (2 means and 2 log-variances), not 2"),
        (sum(_count(400, 2).values()), "those are the sizes of this notebook's 784-400-2 models; seed 004 uses 256"),
    ], hint="each Linear(a, b) layer has a*b weights and b biases; the encoder's last layer outputs 4 numbers")


def check_kl_of_code_summary(answer) -> None:
    """Exercise 2: KL(N((1, -2), diag(9, 4)) || N(0, I)) in nats."""
    mean, variances = torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([9.0, 4.0], dtype=torch.float64)
    expected = float(kl_divergence(MultivariateNormal(mean, torch.diag(variances)),
                                   MultivariateNormal(torch.zeros(2, dtype=torch.float64),
                                                      torch.eye(2, dtype=torch.float64))))
    trace, squared, log_det = float(variances.sum()), float(mean @ mean), float(variances.log().sum())
    check_number("Exercise 2", answer, expected, rtol=1e-4, mistakes=[
        (0.5 * (trace + squared - log_det), "the '- D' term (D = 2 dimensions) is missing"),
        (0.5 * (trace + squared - 2 - 0.5 * log_det),
         "log det S is the log of the product of the variances, not of the standard deviations"),
        (0.5 * (float(variances.sqrt().sum()) + squared - 2 - log_det), "tr S is the sum of the variances, "
         "not of the standard deviations"),
        (0.5 * (trace - squared - 2 - log_det), "the m^T m term enters with a plus sign"),
        (0.5 * (trace + squared - 2 + log_det), "log det S enters with a minus sign"),
    ], hint="KL = 1/2 (tr S + m^T m - D - log det S) with D = 2")


def check_quantile_coordinates(answer) -> None:
    """Exercise 3: the 15 standard-normal quantiles at p = 0.05 ... 0.95."""
    probabilities = torch.linspace(0.05, 0.95, 15, dtype=torch.float64)
    expected = Normal(0.0, 1.0).icdf(probabilities)
    tensor = answer_tensor("Exercise 3", answer, shape=(15,))
    check_tensor("Exercise 3", tensor, expected, rtol=1e-4, atol=1e-4, mistakes=[
        (probabilities, "these are the probabilities p themselves; the coordinates are their quantiles "
                        "Phi^-1(p) (Normal(0, 1).icdf)"),
        (torch.linspace(float(expected[0]), float(expected[-1]), 15, dtype=torch.float64),
         "these are evenly spaced between the end quantiles; every coordinate must be a quantile, so the "
         "spacing widens toward the ends"),
        (torch.linspace(-3, 3, 15, dtype=torch.float64), "this is the evenly spaced grid of section 6, not quantiles"),
    ], hint="Normal(0, 1).icdf of 15 probabilities evenly spaced from the first to the last given")


def check_vae_encoder(encoder_class) -> None:
    """Exercise 4: ``VAEEncoder()``, an ``nn.Module`` mapping images (B, 1, 28, 28) to
    ``(loc, log_var)``, each (B, 2), through Linear(784, 400), ReLU, Linear(400, 4).

    The learner's parameters (in the order the module lists them) are set to those of the
    package's ``GaussianVAE(latent_dim=2, hidden_dims=(400,))`` encoder, then both are run on the
    same fresh random images.
    """
    exercise = "Exercise 4"
    if _not_done(encoder_class):
        raise ExerciseNotDone(f"{exercise}: no answer yet; define your class")
    if not (isinstance(encoder_class, type) and issubclass(encoder_class, nn.Module)):
        raise AssertionError(f"{exercise}: expected a class that subclasses nn.Module (the class itself, not "
                             f"an instance), got {type(encoder_class).__name__}")
    module = _call(exercise, encoder_class, (), encoder_class.__name__)
    reference = GaussianVAE(latent_dim=2, hidden_dims=(400,))
    theirs, ours = list(module.parameters()), list(reference.encoder.parameters())
    shapes = [tuple(p.shape) for p in theirs]
    if shapes != [tuple(p.shape) for p in ours]:
        raise AssertionError(f"{exercise}: expected exactly two layers, Linear(784, 400) then Linear(400, 4) "
                             f"(weights and biases), got parameters of shapes {shapes}")
    with torch.no_grad():
        for mine, package in zip(theirs, ours):
            mine.copy_(package)
    generator = fresh_generator()
    x = torch.rand(7, 1, 28, 28, generator=generator)
    output = _call(exercise, module, (x,), f"{encoder_class.__name__}()(x)")
    if not isinstance(output, (tuple, list)) or len(output) != 2:
        raise AssertionError(f"{exercise}: forward should return two tensors, (loc, log_var); "
                             f"got {type(output).__name__}")
    with torch.no_grad():
        loc, log_var = reference.encode(x)
        hidden = torch.nn.functional.linear(x.flatten(1), ours[0], ours[1])
        no_relu = torch.nn.functional.linear(hidden, ours[2], ours[3])
    got_loc = answer_tensor(exercise, output[0], shape=(7, 2), what="loc")
    if got_loc.shape == loc.shape and torch.allclose(got_loc, log_var.double(), atol=1e-5):
        raise AssertionError(f"{exercise}: loc and log_var are swapped: the first 2 outputs are loc")
    mistakes = [(no_relu[:, :2], "the ReLU between the two layers is missing")]
    check_tensor_quietly(exercise, got_loc, loc, 1e-4, 1e-5, mistakes, "", "loc")
    check_tensor_quietly(exercise, output[1], log_var, 1e-4, 1e-5,
                         [(log_var.exp(), "it returns the variance; return log_var itself"),
                          ((0.5 * log_var).exp(), "it returns the standard deviation; return log_var itself")],
                         "", "log_var")
    print(f"{exercise}: correct.")
