"""Checks of notebook 05's exercises (Gumbel-Softmax).

The learner's functions take the uniform noise ``u`` as an argument, so a check can draw fresh
logits, temperatures and noise, feed the same ``u`` to the learner and to the package
(``vh.gumbel_softmax`` draws its noise from a generator; the same generator gives the same
``u``), and compare sample for sample. Known wrong methods are recognised by their output on
the same inputs.
"""

import contextlib
import io

import torch
import torch.nn.functional as F

from ..gumbel import gumbel_softmax as package_gumbel_softmax
from ..losses import categorical_kl_to_uniform
from . import (_call, function_name, answer_tensor, check_function, check_tensor_quietly,
               fresh_generator)

__all__ = ["check_gumbel_softmax", "check_gumbel_softmax_gradient", "check_straight_through_forward",
           "check_straight_through_gradient", "check_kl_to_uniform"]

_TRIALS = 4


def _inputs(generator: torch.Generator, dtype=torch.float32):
    """Fresh (logits, tau, u) with the seed of the draw, so the package can redraw the same u."""
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator))
    shape = (int(torch.randint(2, 6, (1,), generator=generator)), int(torch.randint(3, 8, (1,), generator=generator)))
    logits = (2 * torch.randn(shape, generator=generator)).to(dtype)
    tau = float(torch.empty(1).uniform_(0.3, 2.0, generator=generator))
    u = torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)
    u = u.clamp(min=torch.finfo(dtype).tiny, max=1.0 - torch.finfo(dtype).eps)  # as vh.sample_gumbel does
    return logits, tau, u, seed


def _reference(logits, tau, seed, hard):
    return package_gumbel_softmax(logits, tau=tau, hard=hard, generator=torch.Generator().manual_seed(seed))


def _gumbel(u):
    return -torch.log(-torch.log(u))


def _soft_mistakes(logits, tau, u):
    g = _gumbel(u)
    no_noise = ("the Gumbel noise is missing: the output is softmax(logits / tau), a deterministic function of the "
                "logits. (Seed 002's 'scale 0, location 1' has the same effect: a constant noise, which the softmax "
                "ignores; the standard Gumbel has location 0 and scale 1)")
    after = ("the noise is added after the softmax: add the Gumbel noise to the logits, then take the softmax of "
             "their sum divided by tau")
    return [
        (F.softmax(logits / tau, -1), no_noise),
        (F.softmax((logits + 1.0) / tau, -1), no_noise),
        (F.softmax(logits / tau, -1) + g, after),
        (F.softmax((F.softmax(logits, -1) + g) / tau, -1), after),
        (F.softmax(F.softmax(logits / tau, -1) + g, -1), after),
        (F.softmax((logits + u) / tau, -1), "the uniform noise u is used as it is: turn it into standard Gumbel "
                                             "noise with the inverse cdf first"),
        (F.softmax((logits - g) / tau, -1), "the Gumbel noise has the wrong sign: the inverse cdf of the standard "
                                            "Gumbel is -log(-log u)"),
        (F.softmax((logits - torch.log(u)) / tau, -1), "the noise is -log u, an exponential draw, not a Gumbel one: "
                                                       "the inverse cdf of the standard Gumbel is -log(-log u)"),
        (F.softmax((logits + g) * tau, -1), "the temperature multiplies instead of dividing"),
        (F.softmax(logits + g, -1), "the temperature is missing"),
    ]


def _learner_output(exercise, function, logits, tau, u, name, requires_grad=False):
    leaf = logits.detach().clone().requires_grad_(requires_grad)
    output = _call(exercise, function, (leaf, tau, u.clone()), name)
    if not isinstance(output, torch.Tensor):
        raise AssertionError(f"{exercise}: {name} should return a torch.Tensor, got {type(output).__name__}")
    return leaf, output


def _start(exercise, function):
    return function_name(exercise, function)


def check_gumbel_softmax(function, exercise: str = "Exercise 1") -> None:
    """``function(logits, tau, u)`` -> softmax((logits + g) / tau) with g = -log(-log u), on fresh
    inputs (float32 and float64) against ``vh.gumbel_softmax`` fed the same noise."""
    name = _start(exercise, function)
    for trial in range(_TRIALS):
        dtype = torch.float64 if trial == _TRIALS - 1 else torch.float32
        logits, tau, u, seed = _inputs(fresh_generator(), dtype)
        _, output = _learner_output(exercise, function, logits, tau, u, name)
        expected = _reference(logits, tau, seed, hard=False)
        check_tensor_quietly(exercise, output, expected, 1e-4, 1e-5, _soft_mistakes(logits, tau, u), "",
                             f"{name}'s output")
    print(f"{exercise}: correct.")


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
        logits, tau, u, seed = _inputs(generator, dtype)
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


def check_gumbel_softmax_gradient(function, exercise: str = "Exercise 1") -> None:
    """The gradient of a random weighted sum of ``function(logits, tau, u)`` with respect to the
    logits matches that of ``vh.gumbel_softmax`` with the same noise."""
    _check_gradient(exercise, function, hard=False)
    print(f"{exercise}: correct.")


def check_straight_through_forward(function, exercise: str = "Exercise 2") -> None:
    """``function(logits, tau, u)``'s forward value is the one-hot argmax of the relaxed sample, as
    ``vh.gumbel_softmax(..., hard=True)`` with the same noise (an exact Gumbel-max sample)."""
    name = _start(exercise, function)
    for trial in range(_TRIALS):
        dtype = torch.float64 if trial == _TRIALS - 1 else torch.float32
        logits, tau, u, seed = _inputs(fresh_generator(), dtype)
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


def check_straight_through_gradient(function, exercise: str = "Exercise 2") -> None:
    """The gradient ``function(logits, tau, u)`` passes back is the soft sample's (same noise)."""
    _check_gradient(exercise, function, hard=True)
    print(f"{exercise}: correct.")


def _kl_inputs(generator):
    shape = tuple(int(n) for n in torch.randint(2, 6, (3,), generator=generator))
    return (3 * torch.randn(shape, generator=generator),)


def check_kl_to_uniform(function, exercise: str = "Exercise 3") -> None:
    """``function(logits)``: (B, N, K) -> (B,) nats, KL(Cat(softmax(logits)) || Uniform(K)) summed
    over the N variables, against ``vh.categorical_kl_to_uniform`` on fresh inputs, with its gradient."""

    def log_q(logits):
        return F.log_softmax(logits.double(), -1)

    mistakes = [
        (lambda logits: (log_q(logits).exp() * log_q(logits)).sum((1, 2)),
         "the log K term is missing: sum q log q is minus the entropy, not the KL to the uniform distribution"),
        (lambda logits: ((-log_q(logits) - torch.log(torch.tensor(float(logits.shape[-1])))) / logits.shape[-1]
                         ).sum((1, 2)),
         "this is the KL in the other direction, KL(uniform || q)"),
        (lambda logits: categorical_kl_to_uniform(logits.double()) / logits.shape[1],
         "it is averaged over the N variables; sum them (the variables are independent)"),
        (lambda logits: categorical_kl_to_uniform(logits.double()) / logits.shape[-1],
         "it is divided by the number of classes K"),
        (lambda logits: categorical_kl_to_uniform(logits.double()) / torch.log(torch.tensor(2.0)),
         "it is in bits; use natural logarithms (nats)"),
    ]
    with contextlib.redirect_stdout(io.StringIO()):  # one success line, printed below
        check_function(exercise, function, categorical_kl_to_uniform, _kl_inputs, trials=_TRIALS, rtol=1e-4,
                       atol=1e-5, gradient_of=(0,), mistakes=mistakes)
    uniform = answer_tensor(exercise, _call(exercise, function, (torch.zeros(2, 3, 4),), "your function"))
    if uniform.abs().max() > 1e-6:
        raise AssertionError(f"{exercise}: the KL of the uniform distribution to itself must be 0")
    print(f"{exercise}: correct.")
