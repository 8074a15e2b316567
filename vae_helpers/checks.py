"""Checks for the notebooks' exercises: each raises ``AssertionError`` with a message that
says which exercise failed and what was wrong, and prints a short confirmation otherwise."""

import math

import torch


class ExerciseNotDone(AssertionError):
    """The exercise still holds its placeholder."""


def _as_float(value, exercise: str) -> float:
    if value is None or value is Ellipsis:
        raise ExerciseNotDone(f"{exercise}: no answer yet; replace the placeholder with your answer")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise AssertionError(f"{exercise}: expected a single number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AssertionError(f"{exercise}: expected a number, got {type(value).__name__}") from None


def check_close(exercise: str, answer, expected: float, rtol: float = 1e-3, atol: float = 1e-6,
                hint: str = "") -> None:
    """Pass when |answer - expected| <= atol + rtol * |expected|."""
    value = _as_float(answer, exercise)
    if not math.isfinite(value) or abs(value - expected) > atol + rtol * abs(expected):
        message = f"{exercise}: got {value:.6g}, expected {expected:.6g}"
        raise AssertionError(message + (f". Hint: {hint}" if hint else ""))
    print(f"{exercise}: correct ({value:.6g}).")


def check_tensor_close(exercise: str, answer, expected: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5,
                       hint: str = "") -> None:
    """Pass when ``answer`` has ``expected``'s shape and matches it elementwise."""
    if answer is None or answer is Ellipsis:
        raise ExerciseNotDone(f"{exercise}: no answer yet; replace the placeholder with your answer")
    if not isinstance(answer, torch.Tensor):
        raise AssertionError(f"{exercise}: expected a torch.Tensor, got {type(answer).__name__}")
    if answer.shape != expected.shape:
        raise AssertionError(f"{exercise}: expected shape {tuple(expected.shape)}, got {tuple(answer.shape)}")
    if not torch.allclose(answer.detach().cpu().double(), expected.detach().cpu().double(), rtol=rtol, atol=atol):
        worst = (answer.detach().cpu().double() - expected.detach().cpu().double()).abs().max().item()
        raise AssertionError(f"{exercise}: values differ by up to {worst:.3g}" + (f". Hint: {hint}" if hint else ""))
    print(f"{exercise}: correct.")


def check_true(exercise: str, condition: bool, message: str) -> None:
    """Pass when ``condition`` holds; otherwise fail with ``message``."""
    if condition is None or condition is Ellipsis:
        raise ExerciseNotDone(f"{exercise}: no answer yet; replace the placeholder with your answer")
    if not condition:
        raise AssertionError(f"{exercise}: {message}")
    print(f"{exercise}: correct.")
