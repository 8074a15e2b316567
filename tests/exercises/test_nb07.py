"""Notebook 07's exercises: right answers pass (other spellings, float64), known wrong methods,
copied label vectors and constants fail with a message that names the mistake and holds no
number, and nbgrader grades the notebook as a course would."""

import pytest
import torch
import torch.nn.functional as F

from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
from vae_helpers.checks import nb07
from vae_helpers.data import load_dataset


def decode_with_label(decoder, z, y):
    return decoder(torch.cat([z, F.one_hot(y, 10).float()], dim=1))


def classify_by_elbo(elbo_given_label, x):
    elbos = torch.stack([elbo_given_label(x, torch.full((x.shape[0],), label)) for label in range(10)], dim=1)
    return elbos.argmax(1)


def restyle(model, x, y, new_y):
    with torch.no_grad():
        return torch.sigmoid(model.decode(model.most_likely_latent(x, y), new_y))


# ------------------------------------------------------------------ right answers

def test_right_answers_pass():
    expect_pass(nb07.check_decode_with_label, decode_with_label)
    expect_pass(nb07.check_classify_by_elbo, classify_by_elbo)
    expect_pass(nb07.check_restyle, restyle)


def test_other_right_spellings_pass():
    def decode_in_float64(decoder, z, y):
        one_hot = torch.zeros(len(y), 10)
        one_hot[torch.arange(len(y)), y] = 1.0
        return decoder(torch.cat([z, one_hot], 1)).double()

    def classify_with_a_loop(elbo_given_label, x):
        best = torch.full((x.shape[0],), -float("inf"))
        predictions = torch.zeros(x.shape[0], dtype=torch.long)
        for label in range(10):
            elbo = elbo_given_label(x, torch.full((x.shape[0],), label, dtype=torch.int64))
            predictions = torch.where(elbo > best, torch.tensor(label), predictions)
            best = torch.maximum(best, elbo)
        return predictions.double()

    def restyle_by_hand(model, x, y, new_y):
        loc, _ = model.encode(x, y)
        return torch.sigmoid(model.decode(loc, new_y)).double()

    expect_pass(nb07.check_decode_with_label, decode_in_float64)
    expect_pass(nb07.check_classify_by_elbo, classify_with_a_loop)
    expect_pass(nb07.check_restyle, restyle_by_hand)


def test_numpy_answers_are_refused_clearly():
    expect_failure(nb07.check_classify_by_elbo, lambda s, x: classify_by_elbo(s, x).numpy(), says="torch.Tensor")
    expect_failure(nb07.check_restyle, lambda m, x, y, n: restyle(m, x, y, n).numpy(), says="torch.Tensor")


def test_unfinished_answers_say_so():
    def not_written(*arguments):
        raise NotImplementedError()

    for check in (nb07.check_decode_with_label, nb07.check_classify_by_elbo, nb07.check_restyle):
        expect_failure(check, None, says="no answer yet")
        expect_failure(check, not_written, says="not written yet")


# ------------------------------------------------------------------ exercise 1: the label at the decoder

@pytest.mark.parametrize("wrong, says", [
    (lambda d, z, y: d(torch.cat([F.one_hot(y, 10).float(), z], 1)), "comes before z"),
    (lambda d, z, y: d(torch.cat([z, F.one_hot((y + 1) % 10, 10).float()], 1)), "wrong entry"),
    (lambda d, z, y: d(torch.cat([z, torch.zeros(len(y), 10)], 1)), "does not reach the decoder"),
    (lambda d, z, y: d(torch.cat([z, y[:, None].float()], 1)), "raised"),
    (lambda d, z, y: d(torch.cat([z.detach(), F.one_hot(y, 10).float()], 1)), "no gradient"),
])
def test_wrong_decoder_inputs_are_named(wrong, says):
    expect_failure(nb07.check_decode_with_label, wrong, says=says)


# ------------------------------------------------------------------ exercise 2: the ELBO classifier

def test_copied_labels_fail():
    test = load_dataset("mnist", "test")
    copied = test.labels[:200]
    expect_failure(nb07.check_classify_by_elbo, lambda elbo_given_label, x: copied, says="shape")
    expect_failure(nb07.check_classify_by_elbo,
                   lambda elbo_given_label, x: test.labels[:x.shape[0]], says="not within the tolerance")
    expect_failure(nb07.check_classify_by_elbo,
                   lambda elbo_given_label, x: torch.zeros(x.shape[0], dtype=torch.long), says="Exercise 2")


@pytest.mark.parametrize("wrong, says", [
    (lambda s, x: torch.stack([s(x, torch.full((len(x),), k)) for k in range(10)], 1).argmin(1), "lowest ELBO"),
    (lambda s, x: torch.stack([s(x, torch.full((len(x),), k)) for k in range(10)], 1).max(1).values,
     "not the label"),
    (lambda s, x: torch.stack([s(x, torch.tensor(k)) for k in range(10)], 1).argmax(1), "one label per image"),
    (lambda s, x: torch.stack([s(x, torch.full((len(x),), float(k))) for k in range(10)], 1).argmax(1), "int64"),
])
def test_wrong_classifiers_are_named(wrong, says):
    expect_failure(nb07.check_classify_by_elbo, wrong, says=says)


# ------------------------------------------------------------------ exercise 3: restyle

@pytest.mark.parametrize("wrong, says", [
    (lambda m, x, y, n: torch.sigmoid(m.decode(m.most_likely_latent(x, n), n)), "encoded with the new label"),
    (lambda m, x, y, n: m.decode(m.most_likely_latent(x, y), n), "logits"),
    (lambda m, x, y, n: torch.sigmoid(m.decode(m.most_likely_latent(x, y), y)), "own label"),
    (lambda m, x, y, n: torch.sigmoid(m.decode(m.posterior(x, y).sample(), n)), "Exercise 3"),
    (lambda m, x, y, n: torch.full((len(y), 1, 28, 28), 0.5), "Exercise 3"),
])
def test_wrong_restyles_are_named(wrong, says):
    expect_failure(nb07.check_restyle, wrong, says=says)


# ------------------------------------------------------------------ nbgrader

def test_nbgrader_round_trip(tmp_path):
    wrong = ("def classify_by_elbo(elbo_given_label, x):\n"
             "    elbos = torch.stack([elbo_given_label(x, torch.full((x.shape[0],), label)) for label in range(10)], 1)\n"
             "    return elbos.argmin(1)\n")
    nbgrader_round_trip("07_conditional_vae.ipynb", 2, wrong, tmp_path)
