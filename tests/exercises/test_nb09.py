"""Notebook 09's exercises: right answers pass (float32, float64, other spellings), known wrong
methods fail with a message that names the mistake and holds no number, and nbgrader grades the
notebook as a course would."""

import numpy as np
import pytest
import torch

from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
from vae_helpers.checks import nb09


def vector_quantize(z_e, codebook):
    flat = z_e.reshape(-1, z_e.shape[-1])
    z_q = codebook[torch.cdist(flat, codebook).argmin(dim=1)].reshape(z_e.shape)
    return z_e + (z_q - z_e).detach()


def perplexity(indices, n_codes):
    counts = torch.bincount(indices.reshape(-1), minlength=n_codes).double()
    probs = counts[counts > 0] / counts.sum()
    return torch.exp(-(probs * probs.log()).sum())


# ------------------------------------------------------------------ right answers

def test_right_answers_pass():
    expect_pass(nb09.check_vector_quantize, vector_quantize)
    expect_pass(nb09.check_perplexity, perplexity)


def test_other_right_spellings_pass():
    def by_expanded_distance(z_e, codebook):
        distances = (z_e.unsqueeze(-2) - codebook).pow(2).sum(-1)
        z_q = codebook[distances.argmin(-1)]
        return z_e + (z_q - z_e).detach()

    def with_the_codebook_detached(z_e, codebook):
        z_q = codebook.detach()[torch.cdist(z_e.reshape(-1, z_e.shape[-1]), codebook).argmin(1)]
        return z_q.reshape(z_e.shape) + z_e - z_e.detach()  # the codebook gets nothing, so this is right too

    def one_element_tensor(indices, n_codes):
        return perplexity(indices, n_codes).reshape(1)

    def in_float64(z_e, codebook):
        return vector_quantize(z_e.double(), codebook.double())

    def with_numpy(indices, n_codes):
        counts = np.bincount(indices.numpy().reshape(-1), minlength=n_codes)
        probs = counts[counts > 0] / counts.sum()
        return float(np.exp(-(probs * np.log(probs)).sum()))

    def in_bits(indices, n_codes):
        probs = torch.bincount(indices.reshape(-1), minlength=n_codes).float() / indices.numel()
        entropy_bits = -(probs * torch.log2(probs.clamp_min(1e-30))).sum()
        return 2.0 ** entropy_bits

    def with_distributions(indices, n_codes):
        counts = torch.bincount(indices.reshape(-1), minlength=n_codes).double()
        return torch.distributions.Categorical(probs=counts / counts.sum()).entropy().exp()

    expect_pass(nb09.check_vector_quantize, by_expanded_distance)
    expect_pass(nb09.check_vector_quantize, with_the_codebook_detached)
    expect_pass(nb09.check_vector_quantize, in_float64)
    for spelling in (with_numpy, in_bits, with_distributions, one_element_tensor):
        expect_pass(nb09.check_perplexity, spelling)


def test_unfinished_answers_say_so():
    expect_failure(nb09.check_vector_quantize, None, says="no answer yet")

    def not_written(*arguments):
        raise NotImplementedError()

    expect_failure(nb09.check_perplexity, not_written, says="not written yet")
    expect_failure(nb09.check_perplexity, ..., says="no answer yet")


# ------------------------------------------------------------------ exercise 1: vector_quantize

def _pick(z_e, codebook, score):
    return codebook[score(z_e.reshape(-1, z_e.shape[-1]), codebook)].reshape(z_e.shape)


@pytest.mark.parametrize("wrong, says", [
    (lambda z, c: z, "unquantized"),
    (lambda z, c: z + 0.0 * c.sum(), "unquantized"),
    (lambda z, c: _pick(z, c, lambda f, b: torch.cdist(f, b).argmax(1)), "farthest"),
    (lambda z, c: _pick(z, c, lambda f, b: (f @ b.t()).argmax(1)), "dot product"),
    (lambda z, c: _pick(z, c, lambda f, b: torch.cdist(f, b).argmin(1)), "not differentiable"),
    (lambda z, c: _pick(z.detach(), c, lambda f, b: torch.cdist(f, b).argmin(1)) + 0.0 * z, "gradient"),
    (lambda z, c: c[:z.reshape(-1, z.shape[-1]).shape[0] % c.shape[0]].sum(0).expand_as(z), "wrong"),
    (lambda z, c: torch.zeros_like(z), "wrong"),
    (lambda z, c: _pick(z, c, lambda f, b: torch.cdist(f, b).argmin(1))[..., :1], "shape"),
])
def test_wrong_vector_quantizers_fail_and_say_why(wrong, says):
    expect_failure(nb09.check_vector_quantize, wrong, says=says)


def test_a_gradient_into_the_codebook_fails():
    # the right value and the identity gradient to z_e, but the decoder's gradient also reaches the codebook
    def both_ways(z_e, codebook):
        return _pick(z_e, codebook, lambda f, b: torch.cdist(f, b).argmin(1)) + z_e - z_e.detach()

    expect_failure(nb09.check_vector_quantize, both_ways, says="the codebook gets a gradient")


def test_the_hint_does_not_hold_the_code():
    message = expect_failure(nb09.check_vector_quantize, lambda z, c: _pick(z, c, lambda f, b: (f @ b.t()).argmax(1)),
                             says="dot product")
    for piece in ("argmin", "detach", "z_q - z_e", "codebook["):
        assert piece not in message, f"the failure gives away {piece!r}: {message}"


def test_the_package_quantizer_and_perplexity_are_refused():
    import vae_helpers as vh
    from vae_helpers.vq import codebook_perplexity, squared_distances
    from vae_helpers.vq import vector_quantize as package_quantize

    def by_distances(z, c):
        z_q = c[squared_distances(z, c).argmin(-1)]
        return z + (z_q - z).detach()

    def by_nearest_code(z, c):
        return z + (c[vh.vq.nearest_code(z, c)] - z).detach()

    for copied in (lambda z, c: package_quantize(z, c).straight_through,
                   lambda z, c: vh.vector_quantize(z, c).straight_through, by_distances, by_nearest_code):
        expect_failure(nb09.check_vector_quantize, copied, says="calls vae_helpers'")
    for copied in (codebook_perplexity, lambda i, k: float(vh.vq.codebook_perplexity(i, k))):
        expect_failure(nb09.check_perplexity, copied, says="calls vae_helpers'")


def test_a_copied_code_or_a_constant_fails():
    codebook_row = torch.tensor([3.0, 4.0])
    expect_failure(nb09.check_vector_quantize, lambda z_e, codebook: codebook_row, says="")
    expect_failure(nb09.check_vector_quantize, 0.5, says="expected a function")


# ------------------------------------------------------------------ exercise 2: perplexity

def _entropy(indices, n_codes):
    counts = torch.bincount(indices.reshape(-1), minlength=n_codes).double()
    probs = counts[counts > 0] / counts.sum()
    return -(probs * probs.log()).sum()


@pytest.mark.parametrize("wrong, says", [
    (_entropy, "entropy itself"),
    (lambda i, k: float(torch.unique(i).numel()), "counts the codes in use"),
    (lambda i, k: float(k), "codebook size"),
    (lambda i, k: torch.exp(-(torch.bincount(i.reshape(-1), minlength=k).double() / i.numel()
                               * torch.log(torch.bincount(i.reshape(-1), minlength=k).double() / i.numel())).sum()),
     "NaN"),
    (lambda i, k: torch.exp(_entropy(i, k)) / k, "wrong"),
    (lambda i, k: torch.exp(-_entropy(i, k)), "wrong"),
    (lambda i, k: 2.0 ** _entropy(i, k), "wrong"),
    (lambda i, k: torch.tensor([perplexity(i, k), perplexity(i, k)]), "shape"),
])
def test_wrong_perplexities_fail_and_say_why(wrong, says):
    expect_failure(nb09.check_perplexity, wrong, says=says)


def test_a_copied_number_fails():
    expect_failure(nb09.check_perplexity, lambda indices, n_codes: 6.0, says="")
    expect_failure(nb09.check_perplexity, lambda indices, n_codes: "six", says="must be a number")


# ------------------------------------------------------------------ nbgrader

def test_nbgrader_round_trip(tmp_path):
    wrong = "def perplexity(indices, n_codes):\n    return float(torch.unique(indices).numel())\n"
    nbgrader_round_trip("09_vq_vae.ipynb", 2, wrong, tmp_path)
