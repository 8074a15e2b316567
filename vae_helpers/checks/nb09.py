"""Checks of notebook 09's exercises (VQ-VAE). The references are the package's
(:mod:`vae_helpers.vq`); the learner's functions run on fresh random inputs."""

import contextlib
import io
import math

import numpy as np
import torch

from ..vq import codebook_perplexity, codebook_usage, nearest_code, squared_distances, vector_quantize
from . import _call, check_function, fresh_generator, function_name

__all__ = ["check_vector_quantize", "check_perplexity"]


def _check_then_cases(exercise: str, function, cases, extra_check=None, **options) -> None:
    """``check_function`` on fresh inputs first (so that a known wrong method is named), then
    ``extra_check(function)`` if given, then the closed-form ``cases``; one success line at the end."""
    with contextlib.redirect_stdout(io.StringIO()):
        check_function(exercise, function, **options)
    if extra_check is not None:
        extra_check(function)
    check_function(exercise, function, options["reference"], options["make_inputs"], trials=0, cases=cases,
                   rtol=options.get("rtol", 1e-4), atol=options.get("atol", 1e-5), name=options.get("name"),
                   forbidden=options.get("forbidden", ()))


def _vectors_and_codebook(generator: torch.Generator) -> tuple:
    """z_e (B, 7, 7, D) and a codebook (K, D) of random sizes."""
    batch = int(torch.randint(2, 5, (), generator=generator))
    dim = int(torch.randint(2, 9, (), generator=generator))
    n_codes = int(torch.randint(3, 20, (), generator=generator))
    return (torch.randn(batch, 7, 7, dim, generator=generator),
            torch.randn(n_codes, dim, generator=generator))


def _code_of(z_e, codebook, score):
    return codebook[score(z_e.reshape(-1, z_e.shape[-1]), codebook).reshape(*z_e.shape[:-1])]


QUANTIZERS = (vector_quantize, nearest_code, squared_distances)  # the package's own lookup: not allowed


def _no_codebook_gradient(function) -> None:
    """Exercise 1's rule that the output sends no gradient to the codebook (the codebook term,
    not the decoder, trains it): an answer such as ``z_q + z_e - z_e.detach()`` has the right
    value and the right gradient to z_e, and fails here."""
    name = function_name("Exercise 1", function)
    z_e, codebook = _vectors_and_codebook(fresh_generator())
    z_e.requires_grad_(True)
    codebook.requires_grad_(True)
    output = _call("Exercise 1", function, (z_e, codebook), name, QUANTIZERS)
    if isinstance(output, torch.Tensor) and output.requires_grad:
        (gradient,) = torch.autograd.grad(output.sum(), [codebook], allow_unused=True)
        if gradient is not None and bool(gradient.abs().max() > 0):
            raise AssertionError(f"Exercise 1: the codebook gets a gradient from {name}'s output; only z_e "
                                 "should (the codebook term, not the decoder's gradient, trains the codebook): "
                                 "which tensor do you detach?")


def check_vector_quantize(function) -> None:
    """Exercise 1: ``vector_quantize(z_e, codebook)`` returns the straight-through tensor
    (..., D): the nearest code's value, the identity gradient to z_e, no gradient to the
    codebook. Calling the package's quantizer is refused."""
    codebook = torch.tensor([[0.0, 0.0], [3.0, 4.0], [-1.0, 2.0]])
    _check_then_cases(
        "Exercise 1", function,
        reference=lambda z_e, codebook: vector_quantize(z_e, codebook).straight_through,
        make_inputs=_vectors_and_codebook, gradient_of=(0,), forbidden=QUANTIZERS,
        extra_check=_no_codebook_gradient,
        cases=[((codebook[[2, 1]].clone(), codebook), codebook[[2, 1]],
                "a vector equal to a code must come back as that code"),
               ((torch.tensor([[2.9, 3.8]]), codebook), codebook[[1]],
                "a vector next to a code must come back as that code (nearest in Euclidean distance)")],
        mistakes=[
            (lambda z_e, codebook: z_e, "it returns the encoder output unquantized: the forward value must be "
                                        "the nearest code"),
            (lambda z_e, codebook: _code_of(z_e, codebook, lambda z, c: torch.cdist(z, c).argmax(1)),
             "it picks the farthest code, not the nearest (argmax instead of argmin?)"),
            (lambda z_e, codebook: _code_of(z_e, codebook, lambda z, c: (z @ c.t()).argmax(1)),
             "it picks the code with the largest dot product; the nearest code in Euclidean distance is "
             "wanted (the codes' lengths matter)"),
        ],
        hint="forward, the nearest code in Euclidean distance; backward, the gradient of z_e passed on unchanged")


def _indices(generator: torch.Generator) -> tuple:
    """Code indices (B, 7, 7) drawn unevenly from K codes, some of them unused, and K."""
    n_codes = int(torch.randint(4, 40, (), generator=generator))
    weights = torch.rand(n_codes, generator=generator) ** 3
    weights[torch.randperm(n_codes, generator=generator)[: n_codes // 4]] = 0.0
    batch = int(torch.randint(1, 6, (), generator=generator))
    indices = torch.multinomial(weights, batch * 49, replacement=True, generator=generator).view(batch, 7, 7)
    return indices, n_codes


def _entropy(indices, n_codes):
    return math.log(float(codebook_perplexity(indices, n_codes)))


def _as_one_number(function):
    """``function`` with a one-element tensor or array answer reshaped to () (a perplexity of
    shape (1,) is right too); anything else is passed on for the check to judge."""
    def one_number(indices, n_codes):
        output = function(indices, n_codes)
        one_element = ((isinstance(output, torch.Tensor) and output.numel() == 1)
                       or (isinstance(output, np.ndarray) and output.size == 1))
        if one_element and output.ndim > 0:
            return output.reshape(())
        return output
    return one_number


def check_perplexity(function) -> None:
    """Exercise 2: ``perplexity(indices, n_codes)``: exp of the entropy (nats) of the codes'
    frequencies, a number between 1 and K (a tensor with one element or a Python float).
    Calling the package's perplexity is refused."""
    name = function_name("Exercise 2", function)
    _check_then_cases(
        "Exercise 2", _as_one_number(function), name=name,
        forbidden=(codebook_perplexity, codebook_usage),
        reference=lambda indices, n_codes: float(codebook_perplexity(indices, n_codes)),
        make_inputs=_indices, rtol=1e-4, atol=1e-6,
        cases=[((torch.arange(6).repeat(3), 6), 6.0, "six codes used equally often have a perplexity of 6"),
               ((torch.full((2, 7, 7), 3), 8), 1.0, "a single code used everywhere has a perplexity of 1"),
               ((torch.tensor([0, 1, 1, 2, 2, 2, 2, 2]), 10),
                math.exp(-(1 / 8 * math.log(1 / 8) + 2 / 8 * math.log(2 / 8) + 5 / 8 * math.log(5 / 8))),
                "uneven use: the perplexity is exp(-sum_k p_k log p_k) over the codes' frequencies p_k "
                "(unused codes add 0)")],
        mistakes=[
            (lambda indices, n_codes: _entropy(indices, n_codes),
             "it returns the entropy itself; the perplexity is its exponential"),
            (lambda indices, n_codes: float(torch.unique(indices).numel()),
             "it counts the codes in use; the perplexity weighs them by how often each is used"),
            (lambda indices, n_codes: float(n_codes),
             "it returns the codebook size; the perplexity depends on how the codes are used"),
        ],
        hint="p_k = (number of positions using code k) / (number of positions)")
