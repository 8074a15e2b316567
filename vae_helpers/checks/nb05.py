"""Checks of notebook 05's exercises (Gumbel-Softmax).

Exercise 1, the straight-through sample, takes the uniform noise ``u`` as an argument, so a check
can draw fresh logits, temperatures and noise, feed the same ``u`` to the learner and to the
package (``vh.gumbel_softmax`` draws its noise from a generator; the same generator gives the
same ``u``), and compare sample for sample. Exercise 2, the Concrete log density, is compared
with the package's (which agrees with ``RelaxedOneHotCategorical.log_prob``) at fresh points of
the simplex; calling either of those is refused. Known wrong methods are recognised by their
output on the same inputs. Inputs come in the shapes (K,), (B, N, K) and (B, K).
"""

import torch
import torch.nn.functional as F
from torch.distributions.relaxed_categorical import ExpRelaxedCategorical

from ..gumbel import gumbel_softmax as package_gumbel_softmax
from ..relaxed_gradients import concrete_log_density, exp_concrete_log_density
from . import _call, answer_tensor, check_tensor_quietly, fresh_generator, function_name

__all__ = ["check_straight_through_forward", "check_straight_through_gradient", "check_concrete_log_density",
           "check_concrete_log_density_gradient"]

_TRIALS = 4


def _shape(generator: torch.Generator, trial: int) -> tuple:
    """(K,) on trial 0, (B, N, K) on trial 1 (the VAE's layout), (B, K) otherwise: the last
    dimension is always the classes, so an answer that works along a fixed dimension fails."""
    def draw(low, high):
        return int(torch.randint(low, high, (1,), generator=generator))

    classes = draw(3, 8)
    if trial == 0:
        return (classes,)
    if trial == 1:
        return (draw(2, 4), draw(2, 5), classes)
    return (draw(2, 6), classes)


def _inputs(generator: torch.Generator, dtype=torch.float32, trial: int = 2):
    """Fresh (logits, tau, u) with the seed of the draw, so the package can redraw the same u."""
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
    shape = _shape(generator, trial)
    logits = (2 * torch.randn(shape, generator=generator)).to(dtype)
    tau = float(torch.empty(1).uniform_(0.3, 2.0, generator=generator))
    u = torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    u = u.clamp(min=torch.finfo(dtype).tiny, max=1.0 - torch.finfo(dtype).eps)  # as vh.sample_gumbel does
    return logits, tau, u, seed


def _reference(logits, tau, seed, hard):
    return package_gumbel_softmax(logits, tau=tau, hard=hard, generator=torch.Generator().manual_seed(seed))


def _learner_output(exercise, function, logits, tau, u, name, requires_grad=False):
    leaf = logits.detach().clone().requires_grad_(requires_grad)
    output = _call(exercise, function, (leaf, tau, u.clone()), name, (package_gumbel_softmax,))
    if not isinstance(output, torch.Tensor):
        raise AssertionError(f"{exercise}: {name} should return a torch.Tensor, got {type(output).__name__}")
    return leaf, output


def _start(exercise, function):
    return function_name(exercise, function)


def _weighted_gradient(exercise, name, leaf, output, weights):
    if not output.requires_grad:
        return None
    (gradient,) = torch.autograd.grad((output * weights.to(output.dtype)).sum(), leaf, allow_unused=True)
    return gradient


def _check_gradient(exercise, function, hard):
    name = _start(exercise, function)
    for trial in range(_TRIALS):
        dtype = torch.float64 if trial == _TRIALS - 1 else torch.float32
        generator = fresh_generator()
        logits, tau, u, seed = _inputs(generator, dtype, trial)
        weights = torch.randn(logits.shape, generator=generator).to(dtype)
        leaf, output = _learner_output(exercise, function, logits, tau, u, name, requires_grad=True)
        gradient = _weighted_gradient(exercise, name, leaf, output, weights)
        soft_leaf = logits.detach().clone().requires_grad_(True)
        soft = _reference(soft_leaf, tau, seed, hard=False)
        (expected,) = torch.autograd.grad((soft * weights).sum(), soft_leaf)
        if gradient is None or torch.count_nonzero(gradient) == 0:
            which = ("the hard one-hot sample's gradient, which is zero (the argmax has no gradient): the "
                     "straight-through estimator passes back the soft sample's gradient instead, "
                     "y_hard - y.detach() + y" if hard else
                     "no gradient: a .detach(), .item(), numpy or an argmax is in the way")
            raise AssertionError(f"{exercise}: no gradient reaches the logits through {name}: it passes back {which}.")
        plain_leaf = logits.detach().clone().requires_grad_(True)
        (no_noise,) = torch.autograd.grad((F.softmax(plain_leaf / tau, -1) * weights).sum(), plain_leaf)
        mistakes = [(no_noise, "it is the gradient of softmax(logits / tau) without the Gumbel noise")]
        check_tensor_quietly(exercise, gradient, expected, 1e-4, 1e-5, mistakes, "",
                             f"the gradient that {name} passes back to the logits")


def check_straight_through_forward(function, exercise: str = "Exercise 1") -> None:
    """``function(logits, tau, u)``'s forward value is the one-hot argmax of the relaxed sample, as
    ``vh.gumbel_softmax(..., hard=True)`` with the same noise (an exact Gumbel-max sample)."""
    name = _start(exercise, function)
    for trial in range(_TRIALS):
        dtype = torch.float64 if trial == _TRIALS - 1 else torch.float32
        logits, tau, u, seed = _inputs(fresh_generator(), dtype, trial)
        _, output = _learner_output(exercise, function, logits, tau, u, name)
        expected = _reference(logits, tau, seed, hard=True).detach()
        mode = F.one_hot(logits.argmax(-1), logits.shape[-1]).to(dtype)
        soft = _reference(logits, tau, seed, hard=False)
        mistakes = [(soft, "the forward value is the soft sample; straight-through must return the one-hot vector "
                           "of its argmax"),
                    (mode, "the one-hot vector is the argmax of the logits without the noise: that is the mode, "
                           "the same every time, not a sample")]
        output_tensor = answer_tensor(exercise, output, shape=expected.shape, what=f"{name}'s output")
        rounded = output_tensor.round()
        is_one_hot = bool((output_tensor - rounded).abs().max() < 1e-5 and ((rounded == 0) | (rounded == 1)).all()
                          and (rounded.sum(-1) == 1).all())
        if not is_one_hot and torch.allclose(output_tensor, soft.double(), rtol=1e-4, atol=1e-5):
            raise AssertionError(f"{exercise}: {name}'s output is wrong: {mistakes[0][1]}.")
        if not is_one_hot:
            raise AssertionError(f"{exercise}: {name}'s output is not one-hot: each row must hold one 1 and 0s.")
        check_tensor_quietly(exercise, output_tensor, expected, 1e-4, 1e-5, mistakes, "", f"{name}'s output")
    print(f"{exercise}: correct.")


def check_straight_through_gradient(function, exercise: str = "Exercise 1") -> None:
    """The gradient ``function(logits, tau, u)`` passes back is the soft sample's (same noise)."""
    _check_gradient(exercise, function, hard=True)
    print(f"{exercise}: correct.")


def _concrete_inputs(generator: torch.Generator, trial: int):
    """Fresh (y, logits, tau): y a point of the open simplex drawn from a Concrete distribution
    with *other* logits and temperature (so y is not special for the density being checked)."""
    shape = _shape(generator, trial)
    logits = 2 * torch.randn(shape, generator=generator)
    tau = float(torch.empty(1).uniform_(0.3, 2.0, generator=generator))
    other_logits = torch.randn(shape, generator=generator)
    other_tau = float(torch.empty(1).uniform_(0.5, 1.5, generator=generator))
    u = torch.rand(shape, generator=generator).clamp(1e-6, 1 - 1e-6)
    y = torch.softmax((other_logits - torch.log(-torch.log(u))) / other_tau, -1)
    y = (y + 1e-6) / (1 + 1e-6 * shape[-1])  # away from the simplex's faces, where log y is -infinity
    return y, logits, tau


def _concrete_mistakes(y, logits, tau):
    y, logits = y.double(), logits.double()
    n_classes = y.shape[-1]
    log_y = y.log()
    right = concrete_log_density(y, logits, tau)
    log_factorial = torch.lgamma(torch.tensor(float(n_classes), dtype=torch.float64))
    log_tau = torch.log(torch.tensor(tau, dtype=torch.float64))
    scores = F.log_softmax(logits, -1) - tau * log_y
    return [
        (right - log_factorial, "the (K-1)! factor is missing"),
        (right - (n_classes - 1) * log_tau, "the tau^(K-1) factor is missing"),
        (right + log_y.sum(-1), "this is the density of log y (each y_k^(-tau) instead of y_k^(-tau-1)): "
                                "the factor y_k^(-1) of each class is missing"),
        (right + (n_classes - 1) * torch.logsumexp(scores, -1),
         "the denominator sum_j pi_j y_j^(-tau) must be raised to the power K, once per class of the product"),
        (right.exp(), "it is the density itself; return its logarithm"),
        (concrete_log_density(y, logits, 1 / tau), "tau is inverted"),
    ]


_CONCRETE_FORBIDDEN = (exp_concrete_log_density, ExpRelaxedCategorical.log_prob)


def _call_concrete(exercise, function, arguments, name):
    """The learner's density, refused if it calls the package's or torch's Concrete log density."""
    try:
        return _call(exercise, function, arguments, name, (concrete_log_density,) + _CONCRETE_FORBIDDEN)
    except AssertionError as error:
        if "ExpRelaxedCategorical" in str(error):
            raise AssertionError(f"{exercise}: {name} calls torch's RelaxedOneHotCategorical.log_prob, which is "
                                 "what it is graded against: write the density yourself, with torch") from None
        raise


def check_concrete_log_density(function, exercise: str = "Exercise 2") -> None:
    """``function(y, logits, tau)`` -> log Concrete(softmax(logits), tau) density at y: (...,) nats,
    for shapes (K,), (B, N, K) and (B, K), float32 and float64, against the package (which
    agrees with ``RelaxedOneHotCategorical.log_prob``); names the usual mistakes."""
    name = function_name(exercise, function)
    for trial in range(_TRIALS):
        y, logits, tau = _concrete_inputs(fresh_generator(), trial)
        dtype = torch.float64 if trial == _TRIALS - 1 else torch.float32
        y, logits = y.to(dtype), logits.to(dtype)
        output = _call_concrete(exercise, function, (y.clone(), logits.clone(), tau), name)
        if not isinstance(output, torch.Tensor):
            raise AssertionError(f"{exercise}: {name} should return a torch.Tensor, got {type(output).__name__}")
        expected = concrete_log_density(y.double(), logits.double(), tau)
        check_tensor_quietly(exercise, output, expected, 1e-4, 1e-4, _concrete_mistakes(y, logits, tau), "",
                             f"{name}'s output")
    print(f"{exercise}: correct.")


def check_concrete_log_density_gradient(function, exercise: str = "Exercise 2") -> None:
    """The gradient of ``function(y, logits, tau).sum()`` with respect to the logits matches the
    package's (the density must stay differentiable in the logits, as training needs)."""
    name = function_name(exercise, function)
    for trial in range(_TRIALS):
        y, logits, tau = _concrete_inputs(fresh_generator(), trial)
        dtype = torch.float64 if trial == _TRIALS - 1 else torch.float32
        leaf = logits.to(dtype).requires_grad_(True)
        output = _call_concrete(exercise, function, (y.to(dtype), leaf, tau), name)
        answer_tensor(exercise, output, shape=y.shape[:-1], what=f"{name}'s output")
        if not output.requires_grad:
            raise AssertionError(f"{exercise}: {name}'s output is not differentiable in the logits: a .detach(), "
                                 ".item() or numpy is in the way")
        (gradient,) = torch.autograd.grad(output.sum(), leaf, allow_unused=True)
        if gradient is None:
            raise AssertionError(f"{exercise}: {name}'s output does not depend on the logits")
        reference_leaf = logits.double().requires_grad_(True)
        (expected,) = torch.autograd.grad(concrete_log_density(y.double(), reference_leaf, tau).sum(), reference_leaf)
        check_tensor_quietly(exercise, gradient, expected, 1e-4, 1e-4, (), "",
                             f"the gradient of {name}'s output with respect to the logits")
    print(f"{exercise}: correct.")
