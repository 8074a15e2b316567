"""The generic exercise checks: accepted answer types, what a failure says, and no leaks."""

import numpy as np
import pytest
import torch

import vae_helpers as vh
from tests.exercises.support import expect_failure, expect_pass

EXPECTED = 0.296794


@pytest.mark.parametrize("answer", [EXPECTED, np.float64(EXPECTED), np.array([EXPECTED]), torch.tensor(EXPECTED),
                                    torch.tensor(EXPECTED, dtype=torch.float64), torch.tensor([EXPECTED]).half().float(),
                                    torch.tensor(EXPECTED, requires_grad=True) * 1.0])
def test_a_right_number_passes_in_any_numeric_form(answer):
    vh.checks.check_number("Exercise 1", answer, EXPECTED, rtol=1e-3)


@pytest.mark.parametrize("answer, says", [
    (None, "no answer yet"), (..., "no answer yet"), ("0.3", "must be a number"), (True, "True/False"),
    ([EXPECTED, EXPECTED], "single number"), (float("nan"), "NaN"), (-EXPECTED, "sign"),
    (EXPECTED * 2, "constant factor"), (EXPECTED / 784, "constant factor"), (EXPECTED / np.log(2), "constant factor"),
    (0.3, "not within the tolerance"), ({"a": 1}, "must be a number"), (1 + 2j, "must be a number"),
])
def test_a_wrong_number_fails_saying_what_is_wrong_and_never_the_value(answer, says):
    message = expect_failure(vh.checks.check_number, "Exercise 1", answer, EXPECTED, says=says, forbid=["0.29"])
    assert "Exercise 1" in message


def test_an_unfinished_exercise_is_its_own_kind_of_failure():
    with pytest.raises(vh.checks.ExerciseNotDone):
        vh.checks.check_number("Exercise 1", None, EXPECTED)


def test_a_known_wrong_method_gets_its_own_message():
    expect_failure(vh.checks.check_number, "Exercise 2", 0.5, EXPECTED,
                   mistakes=[(0.5, "you averaged where a sum belongs")], says="averaged")


def test_tensor_answers_are_checked_for_shape_before_values():
    expected = torch.arange(6.0).reshape(2, 3)
    expect_pass(vh.checks.check_tensor, "Exercise 3", expected.double().numpy(), expected)
    expect_failure(vh.checks.check_tensor, "Exercise 3", expected.reshape(3, 2), expected, says="shape (2, 3)")
    expect_failure(vh.checks.check_tensor, "Exercise 3", expected + 1, expected, says="not within")


def _reparameterized(loc, log_var, eps):
    return loc + torch.exp(0.5 * log_var) * eps


def _inputs(generator):
    return tuple(torch.randn(5, 3, generator=generator) for _ in range(3))


def test_a_function_is_checked_on_fresh_inputs_with_its_gradients():
    expect_pass(vh.checks.check_function, "Exercise 4", _reparameterized, _reparameterized, _inputs,
                gradient_of=(0, 1))
    expect_failure(vh.checks.check_function, "Exercise 4", lambda m, v, e: m + torch.exp(v) * e, _reparameterized,
                   _inputs, says="not within")
    expect_failure(vh.checks.check_function, "Exercise 4", lambda m, v, e: _reparameterized(m, v, e).detach(),
                   _reparameterized, _inputs, gradient_of=(0, 1), says="not differentiable")
    expect_failure(vh.checks.check_function, "Exercise 4", lambda m, v, e: m.sum(), _reparameterized, _inputs,
                   says="shape (5, 3)")
    expect_failure(vh.checks.check_function, "Exercise 4", lambda m, v, e: 1 / 0, _reparameterized, _inputs,
                   says="raised ZeroDivisionError")
    expect_failure(vh.checks.check_function, "Exercise 4", 3.0, _reparameterized, _inputs, says="expected a function")


def test_a_copied_output_fails_because_the_inputs_are_fresh():
    frozen = _reparameterized(*_inputs(torch.Generator().manual_seed(0)))
    expect_failure(vh.checks.check_function, "Exercise 4", lambda m, v, e: frozen, _reparameterized, _inputs,
                   says="not within")


def _kl_inputs(generator):
    return torch.randn(4, 3, generator=generator), 0.5 * torch.randn(4, 3, generator=generator)


def test_calling_the_package_reference_fails_however_it_is_reached():
    import sys

    from vae_helpers.losses import gaussian_kl

    def by_hand(loc, log_var):
        return 0.5 * (loc ** 2 + log_var.exp() - 1 - log_var).sum(-1)

    alias = vh.gaussian_kl
    for copied in (vh.gaussian_kl, lambda m, v: vh.gaussian_kl(m, v), lambda m, v: alias(m, v) + 0,
                   lambda m, v: gaussian_kl(m, v)):
        expect_failure(vh.checks.check_function, "Exercise 2", copied, vh.gaussian_kl, _kl_inputs,
                       says="calls vae_helpers' gaussian_kl", forbid=["tensor("])
    expect_pass(vh.checks.check_function, "Exercise 2", by_hand, vh.gaussian_kl, _kl_inputs)
    # an equivalent package function named in forbidden is refused too; a helper the learner may use is not
    expect_failure(vh.checks.check_function, "Exercise 2", lambda m, v: vh.gaussian_kl(m, v), by_hand, _kl_inputs,
                   forbidden=(vh.gaussian_kl,), says="calls vae_helpers' gaussian_kl")
    expect_pass(vh.checks.check_function, "Exercise 2", lambda m, v: vh.gaussian_kl(m, v), by_hand, _kl_inputs)
    assert sys.getprofile() is None  # the watch is taken down after every call


def test_closed_form_cases_fail_with_their_own_message():
    zero = torch.zeros(2, 3)
    expect_failure(vh.checks.check_function, "Exercise 5", lambda m, v, e: m + v, _reparameterized, _inputs,
                   cases=[((zero, zero, torch.ones(2, 3)), torch.ones(2, 3), "with zero mean and unit variance, "
                                                                             "z must equal eps")],
                   says="must equal eps")


def test_a_notebook_module_is_reached_as_an_attribute_and_typos_are_attribute_errors():
    with pytest.raises(AttributeError):
        vh.checks.not_a_notebook
    with pytest.raises(ModuleNotFoundError):
        vh.checks.nb99
