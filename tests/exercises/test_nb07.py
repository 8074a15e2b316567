"""Notebook 07's exercises: right answers pass (other spellings, float64), known wrong methods,
copied label vectors and constants fail with a message that names the mistake and holds no
number, and nbgrader grades the notebook as a course would."""

import pytest
import torch
import torch.nn.functional as F

from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
from vae_helpers.checks import nb07
from vae_helpers.data import load_dataset


def decode_every_label(decoder, z, label_first=False, shift=0, zero_label=False):
    """One decoder call on all B x 10 (code, label) pairs, code-major; the keywords make known mistakes."""
    batch = len(z)
    labels = (torch.arange(10).repeat(batch) + shift) % 10
    one_hot = F.one_hot(labels, 10).to(z.dtype) * (0.0 if zero_label else 1.0)
    codes = z.repeat_interleave(10, 0)
    inputs = torch.cat([one_hot, codes] if label_first else [codes, one_hot], 1)
    return decoder(inputs).reshape(batch, 10, 1, 28, 28)


def decode_label_by_label(decoder, z):
    return torch.stack([decoder(torch.cat([z, F.one_hot(torch.full((len(z),), k), 10).float()], 1))
                        for k in range(10)], dim=1)


def _elbos(elbo_given_label, x):
    return torch.stack([elbo_given_label(x, torch.full((x.shape[0],), label)) for label in range(10)], dim=1)


def label_posterior(elbo_given_label, x, prior):
    return torch.softmax(_elbos(elbo_given_label, x) + prior.log(), dim=1)


def _path(model, x_a, y_a, x_b, y_b, label, t):
    with torch.no_grad():
        z_a, z_b = model.most_likely_latent(x_a, y_a), model.most_likely_latent(x_b, y_b)
        z = (1 - t[:, None]) * z_a + t[:, None] * z_b
        return torch.sigmoid(model.decode(z, torch.full((len(t),), label)))


def style_path(model, x_a, y_a, x_b, y_b, label, n_steps):
    return _path(model, x_a, y_a, x_b, y_b, label, torch.linspace(0, 1, n_steps))


# ------------------------------------------------------------------ right answers

def test_right_answers_pass():
    expect_pass(nb07.check_decode_every_label, decode_every_label)
    expect_pass(nb07.check_label_posterior, label_posterior)
    expect_pass(nb07.check_style_path, style_path)


def test_other_right_spellings_pass():
    def decode_in_one_batch_float64(decoder, z):
        batch = len(z)
        one_hot = torch.eye(10).repeat(batch, 1)                      # code-major: code i, labels 0-9
        logits = decoder(torch.cat([z.repeat_interleave(10, 0), one_hot], 1))
        return logits.reshape(batch, 10, 1, 28, 28).double()

    def posterior_with_logsumexp(elbo_given_label, x, prior):
        joint = _elbos(elbo_given_label, x) + prior.log()
        return (joint - torch.logsumexp(joint, 1, keepdim=True)).exp().float()

    def path_with_a_loop(model, x_a, y_a, x_b, y_b, label, n_steps):
        loc_a, _ = model.encode(x_a, y_a)
        loc_b, _ = model.encode(x_b, y_b)
        images = [torch.sigmoid(model.decode(loc_a + (step / (n_steps - 1)) * (loc_b - loc_a),
                                             torch.tensor([label]))) for step in range(n_steps)]
        return torch.cat(images).detach().double()

    expect_pass(nb07.check_decode_every_label, decode_in_one_batch_float64)
    expect_pass(nb07.check_label_posterior, posterior_with_logsumexp)
    expect_pass(nb07.check_style_path, path_with_a_loop)


def test_numpy_answers_are_refused_clearly():
    expect_failure(nb07.check_label_posterior, lambda s, x, p: label_posterior(s, x, p).numpy(), says="torch.Tensor")
    expect_failure(nb07.check_style_path, lambda *a: style_path(*a).numpy(), says="torch.Tensor")


def test_unfinished_answers_say_so():
    def not_written(*arguments):
        raise NotImplementedError()

    for check in (nb07.check_decode_every_label, nb07.check_label_posterior, nb07.check_style_path):
        expect_failure(check, None, says="no answer yet")
        expect_failure(check, not_written, says="not written yet")


# ------------------------------------------------------------------ exercise 1: every label at the decoder

def _label_major(d, z):
    batch = len(z)
    labels = torch.arange(10).repeat_interleave(batch)
    return d(torch.cat([z.repeat(10, 1), F.one_hot(labels, 10).float()], 1)).reshape(batch, 10, 1, 28, 28)


@pytest.mark.parametrize("wrong, says", [
    (decode_label_by_label, "calls the decoder more than once"),   # the loop of section 8's cell
    (lambda d, z: torch.zeros(len(z), 10, 1, 28, 28), "never calls the decoder"),
    (lambda d, z: decode_every_label(d, z, label_first=True), "comes before z"),
    (_label_major, "paired wrongly"),
    (lambda d, z: decode_every_label(d, z, shift=1), "wrong entry"),
    (lambda d, z: decode_every_label(d, z, zero_label=True), "does not reach the decoder"),
    (lambda d, z: decode_every_label(d, z).transpose(0, 1), "shape"),
    (lambda d, z: d(torch.cat([z, torch.zeros(len(z), 1)], 1)), "raised"),
    (lambda d, z: decode_every_label(d, z.detach()), "no gradient"),
])
def test_wrong_decoder_inputs_are_named(wrong, says):
    expect_failure(nb07.check_decode_every_label, wrong, says=says)


# ------------------------------------------------------------------ exercise 2: p(y | x)

def test_copied_or_constant_answers_fail():
    test = load_dataset("mnist", "test")
    copied = F.one_hot(test.labels[:200], 10).float()
    expect_failure(nb07.check_label_posterior, lambda s, x, p: copied, says="shape")
    expect_failure(nb07.check_label_posterior, lambda s, x, p: F.one_hot(test.labels[:len(x)], 10).float(),
                   says="Exercise 2")
    expect_failure(nb07.check_label_posterior, lambda s, x, p: torch.full((len(x), 10), 0.1), says="Exercise 2")
    expect_failure(nb07.check_label_posterior, lambda s, x, p: p.expand(len(x), 10), says="Exercise 2")


@pytest.mark.parametrize("wrong, says", [
    (lambda s, x, p: torch.softmax(_elbos(s, x), 1), "prior p(y) is missing"),
    (lambda s, x, p: torch.softmax(_elbos(s, x) + p, 1), "its logarithm"),
    (lambda s, x, p: torch.log_softmax(_elbos(s, x) + p.log(), 1), "log probabilities"),
    (lambda s, x, p: torch.softmax(_elbos(s, x) + p.log(), 0), "normalised over the images"),
    (lambda s, x, p: _elbos(s, x).exp() * p / (_elbos(s, x).exp() * p).sum(1, keepdim=True), "division by 0"),
    (lambda s, x, p: torch.softmax(-_elbos(s, x) + p.log(), 1), "Exercise 2"),
    (lambda s, x, p: torch.softmax(torch.stack([s(x, torch.tensor(k)) for k in range(10)], 1) + p.log(), 1),
     "one label per image"),
    (lambda s, x, p: torch.softmax(torch.stack([s(x, torch.full((len(x),), float(k))) for k in range(10)], 1), 1),
     "int64"),
])
def test_wrong_posteriors_are_named(wrong, says):
    expect_failure(nb07.check_label_posterior, wrong, says=says)


# ------------------------------------------------------------------ exercise 3: a path between two styles

@pytest.mark.parametrize("wrong, says", [
    (lambda m, xa, ya, xb, yb, label, n: _path(m, xa, torch.tensor([label]), xb, torch.tensor([label]), label,
                                               torch.linspace(0, 1, n)), "target label"),
    (lambda m, xa, ya, xb, yb, label, n: _path(m, xa, ya, xb, yb, label, torch.linspace(0, 1, n + 2)[1:-1]),
     "leaves out its ends"),
    (lambda m, xa, ya, xb, yb, label, n: _path(m, xa, ya, xb, yb, label, torch.linspace(1, 0, n)), "backwards"),
    (lambda m, xa, ya, xb, yb, label, n: style_path(m, xa, ya, xb, yb, label, n) * 0 + m.decode(m.most_likely_latent(xa, ya).detach().expand(n, -1) * torch.linspace(1, 0, n)[:, None] + m.most_likely_latent(xb, yb).detach() * torch.linspace(0, 1, n)[:, None], torch.full((n,), label)).detach(), "logits"),
    (lambda m, xa, ya, xb, yb, label, n: _path(m, xa, ya, xb, yb, ya.item(), torch.linspace(0, 1, n)),
     "own label"),
    (lambda m, xa, ya, xb, yb, label, n: torch.sigmoid(m.decode(m.posterior(xa, ya).sample().expand(n, -1),
                                                                torch.full((n,), label))), "Exercise 3"),
    (lambda m, xa, ya, xb, yb, label, n: torch.full((n, 1, 28, 28), 0.5), "Exercise 3"),
])
def test_wrong_paths_are_named(wrong, says):
    expect_failure(nb07.check_style_path, wrong, says=says)


# ------------------------------------------------------------------ nbgrader

def test_nbgrader_round_trip(tmp_path):
    wrong = ("def label_posterior(elbo_given_label, x, prior):\n"
             "    labels = [torch.full((x.shape[0],), label, dtype=torch.int64) for label in range(10)]\n"
             "    return torch.softmax(torch.stack([elbo_given_label(x, y) for y in labels], 1), dim=1)\n")
    nbgrader_round_trip("07_conditional_vae.ipynb", 2, wrong, tmp_path)
