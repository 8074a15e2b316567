"""Checks of notebook 02's exercises (autoencoder vs VAE).

The references are computed here, from the package's models and ``torch.distributions``, so no
notebook cell shows them; failures name the mistake, never a number. Functions are run on fresh
random inputs, so a copied number cannot pass.
"""

import contextlib
import copy
import io

import torch
from torch import nn
from torch.distributions import MultivariateNormal, Normal, kl_divergence
from torch.distributions.kl import _kl_multivariatenormal_multivariatenormal

from ..models import Autoencoder, GaussianVAE, ImageModel, image_encoder, mlp
from . import ExerciseNotDone, _call, _not_done, check_function, check_tensor, check_tensor_quietly, fresh_generator

__all__ = ["check_count_parameters", "check_gaussian_kl_to_standard", "check_quantile_coordinates",
           "check_vae_encoder"]


def _refusing(exercise: str, what: str):
    """A context that turns the generic "calls vae_helpers' ..." refusal into one naming ``what``."""

    class Refusal:
        def __enter__(self):
            return self

        def __exit__(self, kind, error, _traceback):
            if kind is not None and issubclass(kind, AssertionError) and "calls vae_helpers'" in str(error):
                raise AssertionError(f"{exercise}: {what}") from None
            return False

    return Refusal()


def _check_function_then_cases(exercise: str, function, reference, make_inputs, cases, **options) -> None:
    """:func:`check_function` on fresh random inputs first, where known wrong methods are named,
    then on the closed-form ``cases``; one "correct." line at the end."""
    with contextlib.redirect_stdout(io.StringIO()):
        check_function(exercise, function, reference, make_inputs, **options)
    check_function(exercise, function, reference, make_inputs, **dict(options, trials=0, cases=cases))


def _parameter_count(layer_sizes) -> int:
    """Weights and biases of Linear(n0, n1), Linear(n1, n2), ...: the sum of n_in * n_out + n_out."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:]))


def _random_layer_sizes(generator: torch.Generator) -> tuple:
    length = int(torch.randint(3, 6, (1,), generator=generator))
    return ([int(n) for n in torch.randint(1, 60, (length,), generator=generator)],)


def check_count_parameters(function) -> None:
    """Exercise 1: ``count_parameters(layer_sizes) -> int``, the number of weights and biases of the
    Linear layers ``Linear(n0, n1), Linear(n1, n2), ...`` for ``layer_sizes = [n0, n1, n2, ...]``.

    Run on fresh random size lists and on closed-form cases; building ``nn.Linear`` layers (or a
    package model) and counting their parameters is refused: the count comes from the sizes.
    """
    exercise = "Exercise 1"
    with _refusing(exercise, "count_parameters builds layers (nn.Linear or a vae_helpers model) and counts "
                             "their parameters: compute the count from the sizes yourself"):
        _check_function_then_cases(
            exercise, function, _parameter_count, _random_layer_sizes, trials=4, rtol=0, atol=0.5,
            cases=[(([1, 1],), 2, "Linear(1, 1) has one weight and one bias: count_parameters([1, 1]) is wrong"),
                   (([7],), 0, "a single size is an input with no layer after it: it has no parameters"),
                   (([784, 256, 4],), _parameter_count([784, 256, 4]),
                    "wrong for seed 004's encoder sizes [784, 256, 4]")],
            mistakes=[(lambda sizes: sum(a * b for a, b in zip(sizes[:-1], sizes[1:])),
                       "the biases are missing: each Linear(a, b) layer has a*b weights and b biases"),
                      (lambda sizes: sum(a * b + a for a, b in zip(sizes[:-1], sizes[1:])),
                       "a Linear(a, b) layer has b biases (one per output), not a"),
                      (lambda sizes: sum(a * b + a + b for a, b in zip(sizes[:-1], sizes[1:])),
                       "a Linear(a, b) layer has b biases (one per output), not a + b"),
                      (lambda sizes: _parameter_count(sizes[:-1]),
                       "the last layer is missing: there is one layer per pair of neighbouring sizes"),
                      (lambda sizes: _parameter_count(sizes[1:]),
                       "the first layer is missing: there is one layer per pair of neighbouring sizes"),
                      (lambda sizes: sizes[0] * sizes[-1] + sizes[-1],
                       "that counts one layer from the first size to the last; count every layer in between")],
            hint="each Linear(a, b) layer has a*b weights and b biases; sum over neighbouring pairs of sizes",
            forbidden=(nn.Linear.__init__, GaussianVAE.__init__, Autoencoder.__init__, mlp, image_encoder))


def _kl_reference(mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    zeros = torch.zeros_like(mean)
    eye = torch.eye(len(mean), dtype=mean.dtype)
    return kl_divergence(MultivariateNormal(mean, cov), MultivariateNormal(zeros, eye))


def _random_gaussian(generator: torch.Generator) -> tuple:
    """mean (D,), cov (D, D) symmetric positive definite with off-diagonal entries, float64, D in 2..5."""
    dimension = int(torch.randint(2, 6, (1,), generator=generator))
    mean = 1.5 * torch.randn(dimension, generator=generator, dtype=torch.float64)
    factor = torch.randn(dimension, dimension, generator=generator, dtype=torch.float64)
    cov = factor @ factor.T + 0.5 * torch.eye(dimension, dtype=torch.float64)
    return mean, cov


def check_gaussian_kl_to_standard(function) -> None:
    """Exercise 2: ``gaussian_kl_to_standard(mean, cov)``, KL(N(mean, cov) || N(0, I)) in nats for
    mean (D,) and a full covariance cov (D, D): a 0-dimensional tensor, differentiable in the mean.

    Run on fresh random Gaussians (any D, covariances with off-diagonal entries) against
    ``torch.distributions``; calling ``kl_divergence`` is refused."""
    exercise = "Exercise 2"
    eye2, eye3 = torch.eye(2, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
    tilted = torch.tensor([[2.0, 0.8], [0.8, 1.0]], dtype=torch.float64)
    mean2 = torch.tensor([0.5, -1.0], dtype=torch.float64)

    def half(*terms):
        return 0.5 * sum(terms)

    def log_det(cov):
        return torch.logdet(cov)

    with _refusing(exercise, "gaussian_kl_to_standard calls torch.distributions' kl_divergence, which does the "
                             "work for you: write the closed form 1/2 (tr S + m^T m - D - log det S) with torch"):
        _check_function_then_cases(
            exercise, function, _kl_reference, _random_gaussian, trials=3, rtol=1e-4, atol=1e-5, gradient_of=(0,),
            cases=[((torch.zeros(2, dtype=torch.float64), eye2), 0.0,
                    "KL(N(0, I) || N(0, I)) must be 0: a distribution has no divergence from itself"),
                   ((torch.zeros(3, dtype=torch.float64), 2 * eye3), _kl_reference(torch.zeros(3, dtype=torch.float64),
                                                                                    2 * eye3),
                    "wrong for N(0, 2I) in 3 dimensions: D is the dimension of the mean, not a fixed 2"),
                   ((mean2, tilted), _kl_reference(mean2, tilted),
                    "wrong for a covariance with off-diagonal entries: tr S sums the diagonal, but log det S is the "
                    "log of the determinant (torch.logdet), not of the product of the diagonal")],
            mistakes=[(lambda m, S: half(S.trace(), m @ m, -log_det(S)), "the '- D' term (D dimensions) is missing"),
                      (lambda m, S: half(S.trace(), m @ m, -2, -log_det(S)),
                       "D is the dimension of the mean (len(mean)), not a fixed 2"),
                      (lambda m, S: half(S.trace(), m @ m, -len(m), -S.diagonal().log().sum()),
                       "log det S is the log of the determinant; the product of the diagonal ignores the "
                       "off-diagonal entries"),
                      (lambda m, S: half(S.trace(), m @ m, -len(m), -0.5 * log_det(S)),
                       "log det S is the log-determinant of the covariance, not of its square root"),
                      (lambda m, S: half(S.diagonal().sqrt().sum(), m @ m, -len(m), -log_det(S)),
                       "tr S is the sum of the variances, not of the standard deviations"),
                      (lambda m, S: half(S.trace(), -(m @ m), -len(m), -log_det(S)),
                       "the m^T m term enters with a plus sign"),
                      (lambda m, S: half(S.trace(), m @ m, -len(m), log_det(S)), "log det S enters with a minus sign"),
                      (lambda m, S: half(S.inverse().trace(), m @ m, -len(m), -log_det(S)),
                       "the trace is of S itself, not of its inverse (the KL is to N(0, I), whose covariance is I)")],
            hint="KL = 1/2 (tr S + m^T m - D - log det S), D = len(mean); torch.logdet gives log det S",
            forbidden=(kl_divergence, _kl_multivariatenormal_multivariatenormal))


def check_quantile_coordinates(answer) -> None:
    """Exercise 3: the 15 standard-normal quantiles at p = 0.05 ... 0.95."""
    probabilities = torch.linspace(0.05, 0.95, 15, dtype=torch.float64)
    expected = Normal(0.0, 1.0).icdf(probabilities)
    # the answer goes in with its own dtype, so a half-precision answer gets a tolerance it can meet
    check_tensor("Exercise 3", answer, expected, rtol=1e-4, atol=1e-4, mistakes=[
        (probabilities, "these are the probabilities p themselves; the coordinates are their quantiles "
                        "Phi^-1(p) (Normal(0, 1).icdf)"),
        (torch.linspace(float(expected[0]), float(expected[-1]), 15, dtype=torch.float64),
         "these are evenly spaced between the end quantiles; every coordinate must be a quantile, so the "
         "spacing widens toward the ends"),
        (torch.linspace(-3, 3, 15, dtype=torch.float64), "this is the evenly spaced grid of section 6, not quantiles"),
    ], hint="Normal(0, 1).icdf of 15 probabilities evenly spaced from the first to the last given")


_PACKAGE_BUILDERS = (GaussianVAE.__init__, Autoencoder.__init__, mlp, image_encoder, GaussianVAE.encode)


def _reused_parameters(first: nn.Module, second: nn.Module) -> bool:
    """True when two fresh instances share a parameter: the class wraps layers that already exist."""
    return bool({id(p) for p in first.parameters()} & {id(p) for p in second.parameters()})


def check_vae_encoder(encoder_class) -> None:
    """Exercise 4: ``VAEEncoder()``, an ``nn.Module`` mapping images (B, 1, 28, 28) to
    ``(loc, log_var)``, each (B, 2), through Linear(784, 400), ReLU, Linear(400, 4).

    A copy of the learner's module gets the parameters (in the order the module lists them) of the
    package's ``GaussianVAE(latent_dim=2, hidden_dims=(400,), seed=0)`` encoder; both run on the same
    fresh random images, and the gradients of ``loc.sum() + log_var.sum()`` with respect to the
    images must agree too. The learner's own module is never changed; a class that builds a package
    model, or wraps layers that already exist (a trained model's encoder), is refused.
    """
    exercise = "Exercise 4"
    if _not_done(encoder_class):
        raise ExerciseNotDone(f"{exercise}: no answer yet; define your class")
    if not (isinstance(encoder_class, type) and issubclass(encoder_class, nn.Module)):
        raise AssertionError(f"{exercise}: expected a class that subclasses nn.Module (the class itself, not "
                             f"an instance), got {type(encoder_class).__name__}")
    name = encoder_class.__name__
    # the learner's layers draw initial weights: from a forked generator, so that running the check leaves the
    # notebook's global random state (and every later cell's draws) as it was
    with torch.random.fork_rng(devices=[]), _refusing(
            exercise, f"{name} builds or calls a vae_helpers model; write the layers yourself with nn.Linear"):
        first = _call(exercise, encoder_class, (), name, forbidden=_PACKAGE_BUILDERS)
        second = _call(exercise, encoder_class, (), name, forbidden=_PACKAGE_BUILDERS)
    if any(isinstance(part, ImageModel) for part in first.modules()):
        raise AssertionError(f"{exercise}: {name} holds a vae_helpers model; write the layers yourself with nn.Linear")
    if _reused_parameters(first, second):
        raise AssertionError(f"{exercise}: every {name}() must create its own layers; this one reuses layers that "
                             "already exist (a trained model's encoder?)")
    module = copy.deepcopy(first)  # the weights below go into a copy: the learner's objects stay as they are
    reference = GaussianVAE(latent_dim=2, hidden_dims=(400,), seed=0)
    theirs, ours = list(module.parameters()), list(reference.encoder.parameters())
    shapes = [tuple(p.shape) for p in theirs]
    if shapes != [tuple(p.shape) for p in ours]:
        raise AssertionError(f"{exercise}: expected exactly two layers, Linear(784, 400) then Linear(400, 4) "
                             f"(weights and biases), got parameters of shapes {shapes}")
    with torch.no_grad():
        for mine, package in zip(theirs, ours):
            mine.copy_(package)
    x = torch.rand(7, 1, 28, 28, generator=fresh_generator())
    x_theirs, x_ours = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    with _refusing(exercise, f"{name}'s forward calls a vae_helpers model; write the computation yourself"):
        output = _call(exercise, module, (x_theirs,), f"{name}()(x)", forbidden=_PACKAGE_BUILDERS)
    if not isinstance(output, (tuple, list)) or len(output) != 2:
        raise AssertionError(f"{exercise}: forward should return two tensors, (loc, log_var); "
                             f"got {type(output).__name__}")
    for value, what in zip(output, ("loc", "log_var")):
        if not isinstance(value, torch.Tensor):
            raise AssertionError(f"{exercise}: {what} should be a torch.Tensor, got {type(value).__name__}: "
                                 "keep the computation in torch so that gradients reach the encoder")
    loc, log_var = reference.encode(x_ours)
    with torch.no_grad():
        hidden = torch.nn.functional.linear(x.flatten(1), ours[0], ours[1])
        head = ours[2], ours[3]
        no_relu = torch.nn.functional.linear(hidden, *head)
        relu_after = torch.relu(torch.nn.functional.linear(torch.relu(hidden), *head))
        sigmoid = torch.nn.functional.linear(torch.sigmoid(hidden), *head)
        tanh = torch.nn.functional.linear(torch.tanh(hidden), *head)
        right = torch.nn.functional.linear(torch.relu(hidden), *head)
    if tuple(output[0].shape) == tuple(loc.shape) and torch.allclose(output[0].detach().double(), log_var.double(),
                                                                     atol=1e-5):
        raise AssertionError(f"{exercise}: loc and log_var are swapped: the first 2 outputs are loc")
    layer_mistakes = [(no_relu, "the ReLU between the two layers is missing"),
                      (relu_after, "there is a ReLU after the last layer: loc and log_var can be negative, so the "
                                   "head's outputs must not be squashed"),
                      (sigmoid, "the hidden layer uses a sigmoid; the encoder uses a ReLU"),
                      (tanh, "the hidden layer uses a tanh; the encoder uses a ReLU")]
    interleaved = (right[:, 0::2], right[:, 1::2])
    for index, (got, expected, what) in enumerate(((output[0], loc, "loc"), (output[1], log_var, "log_var"))):
        mistakes = [(wrong.chunk(2, dim=-1)[index], message) for wrong, message in layer_mistakes]
        mistakes.append((interleaved[index], "the outputs are split by alternating columns; the first 2 of the "
                                             "4 outputs are loc and the last 2 log_var (chunk(2, dim=-1))"))
        if what == "log_var":
            mistakes += [(log_var.exp(), "it returns the variance; return log_var itself"),
                         ((0.5 * log_var).exp(), "it returns the standard deviation; return log_var itself")]
        check_tensor_quietly(exercise, got, expected, 1e-4, 1e-5, mistakes, "", what)
    if not (output[0].requires_grad and output[1].requires_grad):
        raise AssertionError(f"{exercise}: the outputs are not differentiable (a torch.no_grad(), .detach() or "
                             "numpy in the forward?): training needs gradients through the encoder")
    gradient_theirs, = torch.autograd.grad(output[0].sum() + output[1].sum(), x_theirs, allow_unused=True)
    gradient_ours, = torch.autograd.grad(loc.sum() + log_var.sum(), x_ours)
    if gradient_theirs is None:
        raise AssertionError(f"{exercise}: no gradient reaches the images from your outputs")
    check_tensor_quietly(exercise, gradient_theirs, gradient_ours, 1e-4, 1e-5, (), "",
                         "the gradient of loc.sum() + log_var.sum() with respect to the images")
    print(f"{exercise}: correct.")
