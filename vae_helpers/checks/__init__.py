"""Checks for the notebooks' exercises.

Every check raises ``AssertionError`` with a message that names the exercise and the kind of
mistake it sees (no answer yet, wrong type, shape, not finite, wrong sign, off by a constant
factor, not differentiable, a known wrong method), and prints "Exercise N: correct." otherwise.
A failed check never prints the value it expected, nor a number it could be read from.

The generic checks live here; the checks of one notebook's exercises live in ``nbNN`` (for
example ``vh.checks.nb04``), where the reference computations use the package, so no
notebook cell shows them. A check of a function (:func:`check_function`) runs the learner's
code on fresh random inputs and compares it with the package's reference, which one copied
number cannot pass.

Answers may be torch tensors (any float dtype, any device), numpy arrays or Python numbers:
they are compared in float64 on the CPU.
"""

import importlib
import math
import re
import secrets
import sys
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
import torch

__all__ = ["ExerciseNotDone", "answer_tensor", "answer_number", "check_number", "check_tensor",
           "check_function", "check_true", "check_close", "check_tensor_close", "fresh_generator", "function_name",
           "random_vae_batch"]

# Ratios that a slip of units or reduction produces: halves and doubles, nats and bits, a
# mean over the 784 pixels instead of a sum, a mean over a batch, log base 10.
SUSPECT_FACTORS = (2.0, 0.5, math.log(2), 1 / math.log(2), 784.0, 1 / 784, math.log(10), 1 / math.log(10))


class ExerciseNotDone(AssertionError):
    """The exercise still holds its placeholder."""


def __getattr__(name: str):
    """``vh.checks.nb04`` and the like: one notebook's exercise checks, imported on first use."""
    if re.fullmatch(r"nb\d\d", name):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fresh_generator() -> torch.Generator:
    """A CPU generator with an unpredictable seed: fresh inputs on every run of a check."""
    return torch.Generator().manual_seed(secrets.randbits(62))


def _not_done(value) -> bool:
    return value is None or value is Ellipsis


def answer_tensor(exercise: str, answer, shape: Optional[Sequence[int]] = None, what: str = "your answer"
                  ) -> torch.Tensor:
    """``answer`` as a float64 CPU tensor, or an ``AssertionError`` that says why it cannot be.

    Accepts a torch tensor (any dtype, any device, with or without grad), a numpy array or
    scalar, a Python number or a (nested) list of numbers. ``shape``: the shape it must have.
    """
    if _not_done(answer):
        raise ExerciseNotDone(f"{exercise}: no answer yet; replace the placeholder with your answer")
    if isinstance(answer, (bool, np.bool_)) or (isinstance(answer, torch.Tensor) and answer.dtype == torch.bool):
        raise AssertionError(f"{exercise}: {what} is True/False; a number is expected")
    if isinstance(answer, torch.Tensor):
        if answer.is_complex():
            raise AssertionError(f"{exercise}: {what} is a complex tensor; real numbers are expected")
        tensor = answer.detach().to("cpu", torch.float64)
    elif isinstance(answer, (int, float, np.integer, np.floating, np.ndarray, list, tuple)):
        try:
            array = np.asarray(answer, dtype=np.float64)
        except (TypeError, ValueError):
            raise AssertionError(f"{exercise}: {what} must hold numbers only, got {type(answer).__name__} "
                                 "with other things in it") from None
        tensor = torch.from_numpy(array.copy())
    else:
        raise AssertionError(f"{exercise}: {what} must be a number or a tensor, got {type(answer).__name__}")
    if shape is not None and tuple(tensor.shape) != tuple(shape):
        raise AssertionError(f"{exercise}: {what} should have shape {tuple(shape)}, got {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise AssertionError(f"{exercise}: {what} contains NaN or infinite values; look for a log of 0 or a "
                             "division by 0")
    return tensor


def answer_number(exercise: str, answer, what: str = "your answer") -> float:
    """``answer`` as one Python float (a 1-element tensor or array is accepted)."""
    tensor = answer_tensor(exercise, answer, what=what)
    if tensor.numel() != 1:
        raise AssertionError(f"{exercise}: {what} should be a single number, got shape {tuple(tensor.shape)}")
    return float(tensor.reshape(()))


def _close(answer: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float) -> bool:
    return bool(torch.allclose(answer, expected, rtol=rtol, atol=atol))


def _diagnose(answer: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float,
              mistakes: Iterable) -> str:
    """What kind of mistake turns ``expected`` into ``answer``: a sentence without numbers."""
    matches = []  # (distance, message) of each known mistake the answer agrees with
    for wrong, message in mistakes:
        wrong = torch.as_tensor(wrong).detach().to("cpu", torch.float64)
        if wrong.numel() == 1:
            wrong = wrong.reshape(()).expand(expected.shape)
        if wrong.shape == expected.shape and _close(answer, wrong, rtol, atol):
            matches.append((float((answer.to(torch.float64) - wrong).abs().max()), message))
    if matches:  # two mistakes can land within tolerance of each other by chance: name the closer one
        return min(matches, key=lambda match: match[0])[1]
    if expected.abs().max() > atol and _close(answer, -expected, rtol, atol):
        return "the sign is wrong"
    if expected.abs().max() > atol:
        for factor in SUSPECT_FACTORS:
            if _close(answer, expected * factor, rtol, atol):
                return ("it is off by a constant factor: check the units (nats or bits), the reduction "
                        "(sum or mean, over pixels or over the batch) and any factor of 2")
    return "it is not within the tolerance of the reference"


def check_number(exercise: str, answer, expected: float, rtol: float = 1e-3, atol: float = 1e-6,
                 mistakes: Iterable = (), hint: str = "") -> None:
    """Pass when ``answer`` is one number within ``atol + rtol * |expected|`` of ``expected``.

    mistakes: ``(wrong_value, message)`` pairs: known wrong methods and what to say when the
    answer matches one. hint: a sentence added to every failure (it must not hold the answer).
    """
    value = answer_number(exercise, answer)
    check_tensor(exercise, torch.tensor(value, dtype=torch.float64), expected, rtol, atol, mistakes, hint)


def check_tensor(exercise: str, answer, expected, rtol: float = 1e-4, atol: float = 1e-5,
                 mistakes: Iterable = (), hint: str = "", what: str = "your answer") -> None:
    """Pass when ``answer`` has ``expected``'s shape and matches it elementwise (float64)."""
    check_tensor_quietly(exercise, answer, expected, rtol, atol, mistakes, hint, what)
    print(f"{exercise}: correct.")


def check_true(exercise: str, condition, message: str) -> None:
    """Pass when ``condition`` holds; otherwise fail with ``message`` (which must not hold the answer)."""
    if _not_done(condition):
        raise ExerciseNotDone(f"{exercise}: no answer yet; replace the placeholder with your answer")
    if not condition:
        raise AssertionError(f"{exercise}: {message}")
    print(f"{exercise}: correct.")


def function_name(exercise: str, function) -> str:
    """The learner's function's name, after checking that there is one: an unfinished exercise
    raises :class:`ExerciseNotDone`, anything that is not callable an ``AssertionError``."""
    if _not_done(function):
        raise ExerciseNotDone(f"{exercise}: no answer yet; assign your function")
    if not callable(function):
        raise AssertionError(f"{exercise}: expected a function, got {type(function).__name__}")
    return getattr(function, "__name__", "your function")


def random_vae_batch(generator: torch.Generator) -> tuple:
    """Fresh inputs of a Gaussian VAE's loss: (x, logits, loc, log_var) with a random batch size
    B in 3..8 and latent size D in 2..6; x (B, 1, 28, 28) in {0, 1}, logits (B, 1, 28, 28),
    loc and log_var (B, D)."""
    batch = int(torch.randint(3, 9, (1,), generator=generator))
    latent = int(torch.randint(2, 7, (1,), generator=generator))
    x = torch.bernoulli(torch.rand(batch, 1, 28, 28, generator=generator), generator=generator)
    logits = 2.0 * torch.randn(batch, 1, 28, 28, generator=generator)
    loc = torch.randn(batch, latent, generator=generator)
    log_var = 0.7 * torch.randn(batch, latent, generator=generator)
    return x, logits, loc, log_var


def _call(exercise: str, function: Callable, arguments: tuple, name: str, forbidden: Iterable[Callable] = ()):
    """Call the learner's function; refuse it if it calls one of ``forbidden`` (the package's
    reference and its equivalents), however it reached them (``vh.f``, an import, an alias)."""
    watched = {_code_of(reference): reference for reference in forbidden if _code_of(reference) is not None}
    reached = []

    def watch(frame, event, _argument):
        if event == "call" and frame.f_code in watched:
            reached.append(watched[frame.f_code])

    previous = sys.getprofile()
    if watched:
        sys.setprofile(watch)
    try:
        output = function(*arguments)
    except NotImplementedError:
        raise ExerciseNotDone(f"{exercise}: {name} is not written yet (it raises NotImplementedError)") from None
    except Exception as error:  # the learner's code failed: say how, in their terms
        raise AssertionError(f"{exercise}: calling {name} raised {type(error).__name__}: {error}") from None
    finally:
        if watched:
            sys.setprofile(previous)
    if reached:
        used = getattr(reached[0], "__qualname__", "the reference")
        raise AssertionError(f"{exercise}: {name} calls vae_helpers' {used}, the function it is graded against: "
                             "write the computation yourself, with torch")
    return output


def _code_of(function: Callable):
    """The Python code object that runs when ``function`` is called (None for C functions)."""
    function = getattr(function, "__func__", function)
    code = getattr(function, "__code__", None)
    if code is None and callable(function):  # a module or other callable object: its forward / __call__
        method = getattr(type(function), "forward", None) or getattr(type(function), "__call__", None)
        code = getattr(method, "__code__", None)
    return code


def _package_function(function: Callable) -> bool:
    return (getattr(function, "__module__", "") or "").startswith("vae_helpers") and _code_of(function) is not None


def check_function(exercise: str, function: Callable, reference: Callable, make_inputs: Callable,
                   trials: int = 3, rtol: float = 1e-4, atol: float = 1e-5, gradient_of: Sequence[int] = (),
                   cases: Iterable = (), mistakes: Iterable = (), hint: str = "",
                   name: Optional[str] = None, forbidden: Iterable[Callable] = ()) -> None:
    """Pass when the learner's ``function`` agrees with ``reference`` on fresh random inputs.

    make_inputs(generator) -> tuple of arguments (tensors, made with the CPU ``generator``).
    trials: how many fresh input draws. gradient_of: indices of arguments whose gradient of
    ``output.sum()`` must also match the reference's (the function must be differentiable
    there). cases: ``(arguments, expected, message)`` triples with a known answer (closed-form
    cases such as KL(N(0, 1) || N(0, 1)) = 0), each failing with its own message.
    mistakes: ``(wrong_function, message)`` pairs: known wrong methods, recognised by their
    output on the same inputs. forbidden: package functions the learner's code must not call
    (its work would then be the reference's); the reference itself is always forbidden when it is
    a package function.
    """
    default_name = function_name(exercise, function)
    name = name or default_name
    forbidden = tuple(forbidden) + ((reference,) if _package_function(reference) else ())
    for arguments, expected, message in cases:
        output = answer_tensor(exercise, _call(exercise, function, tuple(arguments), name, forbidden),
                               what=f"{name}'s output")
        expected = torch.as_tensor(expected, dtype=torch.float64)
        if output.shape != expected.shape or not _close(output, expected, rtol, atol):
            raise AssertionError(f"{exercise}: {message}")
    for _ in range(trials):
        generator = fresh_generator()
        arguments = tuple(make_inputs(generator))
        learner_arguments = tuple(_leaf(a, i in gradient_of) for i, a in enumerate(arguments))
        reference_arguments = tuple(_leaf(a, i in gradient_of) for i, a in enumerate(arguments))
        output = _call(exercise, function, learner_arguments, name, forbidden)
        expected = reference(*reference_arguments)
        if not isinstance(output, torch.Tensor) and isinstance(expected, torch.Tensor):
            raise AssertionError(f"{exercise}: {name} should return a torch.Tensor, got {type(output).__name__}")
        wrong_outputs = [(wrong(*arguments), message) for wrong, message in mistakes]
        check_tensor_quietly(exercise, output, expected, rtol, atol, wrong_outputs, hint, f"{name}'s output")
        if gradient_of:
            _check_gradients(exercise, name, output, expected, learner_arguments, reference_arguments,
                             gradient_of, rtol, atol)
    print(f"{exercise}: correct.")


def _leaf(argument, requires_grad: bool):
    if isinstance(argument, torch.Tensor):
        argument = argument.detach().clone()
        if requires_grad:
            argument.requires_grad_(True)
    return argument


def check_tensor_quietly(exercise: str, answer, expected, rtol: float, atol: float, mistakes: Iterable,
                         hint: str, what: str) -> None:
    """:func:`check_tensor` without the success line (for checks made of several parts)."""
    expected = torch.as_tensor(expected).detach().to("cpu", torch.float64)
    if isinstance(answer, torch.Tensor) and answer.dtype in (torch.float32, torch.float16, torch.bfloat16):
        # a single-precision answer carries rounding of order its machine epsilon, which differs between
        # CPUs and BLAS builds: never hold it to a tolerance below what its dtype can represent
        epsilon = torch.finfo(answer.dtype).eps
        rtol, atol = max(rtol, 100 * epsilon), max(atol, 10 * epsilon)
    tensor = answer_tensor(exercise, answer, shape=expected.shape, what=what)
    if not _close(tensor, expected, rtol, atol):
        reason = _diagnose(tensor, expected, rtol, atol, mistakes)
        raise AssertionError(f"{exercise}: {what} is wrong: {reason}." + (f" Hint: {hint}" if hint else ""))


def _check_gradients(exercise, name, output, expected, learner_arguments, reference_arguments, gradient_of,
                     rtol, atol) -> None:
    if not output.requires_grad:
        raise AssertionError(f"{exercise}: {name}'s output is not differentiable: no gradient reaches its "
                             "inputs (a .detach(), .item(), numpy or a non-reparameterized draw in the way?)")
    learner_gradients = torch.autograd.grad(output.sum(), [learner_arguments[i] for i in gradient_of],
                                            allow_unused=True)
    reference_gradients = torch.autograd.grad(expected.sum(), [reference_arguments[i] for i in gradient_of],
                                              allow_unused=True)
    for index, mine, theirs in zip(gradient_of, learner_gradients, reference_gradients):
        if mine is None:
            raise AssertionError(f"{exercise}: no gradient reaches argument {index + 1} of {name}")
        theirs = torch.zeros_like(mine) if theirs is None else theirs
        # a gradient entry is a sum over every output element; where its terms cancel, the entry is
        # near zero while its rounding error stays of the order of the terms, so the absolute
        # tolerance scales with the gradient's largest entry, not with each entry
        scale = float(theirs.detach().abs().max()) if theirs.numel() else 0.0
        check_tensor_quietly(exercise, mine, theirs, rtol, max(atol, rtol * scale), (), "",
                             f"the gradient of {name} with respect to argument {index + 1}")


# The first generation of checks, kept for notebooks that compare one number; they no longer
# print the expected value.
def check_close(exercise: str, answer, expected: float, rtol: float = 1e-3, atol: float = 1e-6,
                hint: str = "") -> None:
    """Pass when |answer - expected| <= atol + rtol * |expected| (same as :func:`check_number`)."""
    check_number(exercise, answer, expected, rtol, atol, hint=hint)


def check_tensor_close(exercise: str, answer, expected: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5,
                       hint: str = "") -> None:
    """Pass when ``answer`` has ``expected``'s shape and matches it elementwise."""
    check_tensor(exercise, answer, expected, rtol, atol, hint=hint)
