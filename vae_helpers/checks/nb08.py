"""Checks of notebook 08's exercises (estimating log p(x) with importance weighting).

Each check runs the learner's function on fresh random inputs and compares it with the
package's reference (the core of ``vh.iwae_bound``: logsumexp of the log weights minus log k;
``nats_to_bits_per_dim``; a linear-Gaussian model's exact ``log_evidence``), so a copied number
or variable cannot pass. Known wrong methods are recognised and named; no failure prints a number.
"""

import math

import torch

from ..linear_gaussian import LinearGaussianModel
from ..losses import nats_to_bits_per_dim
from . import _call, function_name, check_function, check_tensor_quietly

__all__ = ["check_importance_weighted_bound", "check_bound_is_stable", "check_bits_per_dim",
           "check_bound_with_true_posterior"]


def reference_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """L_k per image from log weights (k, B): logsumexp over the k draws minus log k, (B,) nats."""
    return torch.logsumexp(log_weights, dim=0) - math.log(log_weights.shape[0])


def _bound_mistakes():
    return [
        (lambda w: torch.logsumexp(w, dim=0), "the -log k is missing: that is the log of the sum of the weights, "
                                              "not of their mean"),
        (lambda w: w.mean(dim=0), "that is the mean of the log weights (an ELBO estimate), not the log of the "
                                  "mean weight"),
        (lambda w: w.max(dim=0).values, "that is the largest log weight, not the log of the mean weight"),
        (lambda w: w.max(dim=0).values - math.log(w.shape[0]), "that keeps only the largest weight: add the "
                                                               "others too (logsumexp)"),
    ]


def _moderate_log_weights(generator: torch.Generator) -> tuple:
    k = int(torch.randint(3, 12, (), generator=generator))
    batch = int(torch.randint(2, 9, (), generator=generator))
    batch += batch == k  # k != B, so a reduction over the wrong dimension changes the shape
    return (3 * torch.randn(k, batch, generator=generator, dtype=torch.float64),)


def check_importance_weighted_bound(function) -> None:
    """Exercise 1, first point: ``importance_weighted_bound(log_weights) -> (B,)`` from log
    weights of shape (k, B), on fresh moderate log weights (where even exp() is safe): the value,
    the shape (a reduction over the batch instead of the k draws gives the wrong shape) and the
    gradient (the normalised weights). Missing -log k, the mean of the log weights and the
    largest log weight are named."""
    check_function("Exercise 1", function, reference_bound, _moderate_log_weights, trials=4, rtol=1e-6,
                   atol=1e-8, gradient_of=(0,), mistakes=_bound_mistakes(),
                   hint="L_k = log of the MEAN of the k weights exp(log w_i), one value per image (column)")


def check_bound_is_stable(function) -> None:
    """Exercise 1, second point: the same function on log weights of real images (around -500
    nats, whose exponentials are 0 in float64) and around +800 (which overflow): the answer must
    be finite and right. The naive log(mean(exp(log w))) fails here and is named."""
    exercise = "Exercise 1"
    name = function_name(exercise, function)
    generator = torch.Generator().manual_seed(8)
    for centre in (-500.0, 800.0):
        log_weights = centre + 5 * torch.randn(7, 4, generator=generator, dtype=torch.float64)
        output = _call(exercise, function, (log_weights.clone(),), name)
        if not isinstance(output, torch.Tensor):
            raise AssertionError(f"{exercise}: {name} should return a torch.Tensor, got {type(output).__name__}")
        if not torch.isfinite(output.detach()).all():
            raise AssertionError(f"{exercise}: {name} is not finite for log weights of a real image: "
                                 "exponentiating them underflows to 0 (or overflows to inf) before the log. "
                                 "Subtract the largest log weight first, or use torch.logsumexp")
        wrong_outputs = [(wrong(log_weights), message) for wrong, message in _bound_mistakes()]
        check_tensor_quietly(exercise, output, reference_bound(log_weights), 1e-9, 1e-6, wrong_outputs,
                             "compute it in log space", f"{name}'s output")
    print(f"{exercise}: correct.")


def _nats(generator: torch.Generator) -> tuple:
    return (60 + 150 * torch.rand(5, generator=generator, dtype=torch.float64),)


def check_bits_per_dim(function) -> None:
    """Exercise 2: ``bits_per_dim(nats_per_image) -> tensor`` for 28 x 28 images, elementwise,
    on fresh values. A missing ln 2, a missing 784 or log base 10 are named by the generic factor
    diagnosis."""
    check_function("Exercise 2", function, lambda nats: nats_to_bits_per_dim(nats), _nats, trials=3,
                   rtol=1e-9, atol=1e-12,
                   mistakes=[(lambda nats: nats / 784 / math.log(10), "that is in log base 10 (dits), not bits"),
                             (lambda nats: nats * math.log(2) / 784, "multiply or divide by ln 2? one bit is "
                                                                     "ln 2 nats, so bits = nats / ln 2")],
                   hint="one bit is ln 2 nats, and a 28 x 28 image has 784 dimensions")


def _linear_model_and_point(generator: torch.Generator) -> tuple:
    seed = int(torch.randint(0, 10**6, (), generator=generator))
    model = LinearGaussianModel.random(latent_dim=2, data_dim=5, noise_std=0.5, seed=seed)
    return model, model.sample(3, seed=seed + 1), int(torch.randint(1, 6, (), generator=generator))


def check_bound_with_true_posterior(function) -> None:
    """Exercise 3: ``bound_with_true_posterior(model, x, k) -> (B,)``: L_k of a linear-Gaussian
    ``model`` at points x (B, 5) when q(z|x) is the model's exact posterior. Checked on fresh
    random models, points and k, against the model's closed-form log p(x); so a copy of
    ``exact_log_evidence`` (another model, another point) cannot pass."""
    def reference(model, x, k):
        return model.log_evidence(x)

    def exact_elbo_of_imperfect_q(model, x, k):
        true = model.true_posterior(x)
        imperfect = torch.distributions.MultivariateNormal(true.loc + 0.3, 2.0 * true.covariance_matrix)
        return model.exact_elbo(x, imperfect)

    check_function("Exercise 3", function, reference, _linear_model_and_point, trials=3, rtol=1e-4, atol=1e-4,
                   mistakes=[(exact_elbo_of_imperfect_q, "that is the ELBO of section 2's imperfect encoder: "
                                                        "use the model's true posterior as q")],
                   hint="with q = p(z|x) every weight p(x, z)/q(z|x) is the same number; which one?")

