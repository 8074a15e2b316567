"""Checks for notebook 03's exercises (the ELBO).

Each check compares the learner's answer with a reference computed here, from the package
(``bernoulli_log_likelihood``, ``gaussian_kl``) or from closed forms that do not share the
learner's route, so no notebook cell shows a reference. Failures name the mistake, never a value.
"""

import contextlib
import io
import math

import torch
import torch.nn.functional as F

from ..losses import bernoulli_log_likelihood, gaussian_kl
from . import answer_number, check_function, check_number, random_vae_batch

__all__ = ["reference_negative_elbo", "check_negative_elbo", "check_elbo_gap", "check_bits_per_dim",
           "check_nats_per_image", "check_mse_variance"]

PIXELS = 784


# ----------------------------------------------------------------------------- exercise 1: the loss


def reference_negative_elbo(x: torch.Tensor, logits: torch.Tensor, loc: torch.Tensor,
                            log_var: torch.Tensor) -> torch.Tensor:
    """The VAE loss: -ELBO with one drawn z, summed over pixels and latent dimensions, averaged
    over the batch. x, logits: (B, 1, 28, 28); loc, log_var: (B, D). Returns shape (), nats per image."""
    return (-bernoulli_log_likelihood(logits, x) + gaussian_kl(loc, log_var)).mean()


_elbo_inputs = random_vae_batch


def _per_image_bce(x, logits):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


_ELBO_MISTAKES = (
    (lambda x, l, m, v: (_per_image_bce(x, l) / PIXELS + gaussian_kl(m, v)).mean(),
     "the reconstruction term is averaged over the pixels; the log-likelihood of an image is a sum over its "
     "784 pixels (a mean over pixels weights the KL 784 times too much)"),
    (lambda x, l, m, v: ((x - torch.sigmoid(l)) ** 2).flatten(1).sum(1).mean() + gaussian_kl(m, v).mean(),
     "this is a squared error, not the Bernoulli log-likelihood of the pixels; use the binary cross-entropy "
     "on the logits"),
    (lambda x, l, m, v: F.mse_loss(torch.sigmoid(l), x) + gaussian_kl(m, v).mean(),
     "this is a mean squared error, not the Bernoulli log-likelihood of the pixels; use the binary "
     "cross-entropy on the logits, summed over pixels"),
    (lambda x, l, m, v: _per_image_bce(x, l).mean(),
     "the KL term is missing: the negative ELBO is the reconstruction loss plus KL(q(z|x) || p(z))"),
    (lambda x, l, m, v: (_per_image_bce(x, l) - gaussian_kl(m, v)).mean(),
     "the KL term has the wrong sign: the loss adds KL(q(z|x) || p(z))"),
    (lambda x, l, m, v: -(_per_image_bce(x, l) + gaussian_kl(m, v)).mean(),
     "the sign is wrong: the loss to minimise is minus the ELBO, a positive number of nats"),
    (lambda x, l, m, v: (_per_image_bce(x, l) + gaussian_kl(m, v)).sum(),
     "it is summed over the batch; report the mean over the images of the batch (nats per image)"),
    (lambda x, l, m, v: (_per_image_bce(x, l) + gaussian_kl(m, v) / m.shape[1]).mean(),
     "the KL is averaged over the latent dimensions; it is a sum over them"),
    (lambda x, l, m, v: (_per_image_bce(x, l) + 0.5 * (m ** 2 + (2 * v).exp() - 2 * v - 1).sum(1)).mean(),
     "the KL treats log_var as the log of the standard deviation; it is the log of the variance"),
    (lambda x, l, m, v: (_per_image_bce(x, l) + 0.5 * (m ** 2 + v.exp() - v).sum(1)).mean(),
     "the KL misses its '- 1' per latent dimension (KL(N(0, 1) || N(0, 1)) must be 0)"),
    (lambda x, l, m, v: (F.binary_cross_entropy(torch.sigmoid(torch.sigmoid(l)), x, reduction="none")
                         .flatten(1).sum(1) + gaussian_kl(m, v)).mean(),
     "the sigmoid is applied twice: binary_cross_entropy_with_logits takes the logits themselves"),
)


def _check_with_cases(exercise, function, reference, make_inputs, cases, **options) -> None:
    """check_function on fresh inputs first (so a known wrong method gets its own message), then
    the closed-form cases; one success line."""
    with contextlib.redirect_stdout(io.StringIO()):
        check_function(exercise, function, reference, make_inputs, **options)
    check_function(exercise, function, reference, make_inputs, trials=0, cases=cases,
                   rtol=options.get("rtol", 1e-4), atol=options.get("atol", 1e-5), name=options.get("name"))


def check_negative_elbo(function) -> None:
    """Exercise 1: ``negative_elbo(x, logits, loc, log_var)`` -> shape (), nats per image."""
    zeros = torch.zeros(4, 1, 28, 28)
    ones_pattern = (torch.arange(4 * 784).reshape(4, 1, 28, 28) % 3 == 0).float()
    cases = [((ones_pattern, zeros, torch.zeros(4, 3), torch.zeros(4, 3)), PIXELS * math.log(2),
              "with logits 0 everywhere (every pixel 'on' with probability 1/2) and q(z|x) equal to the prior, "
              "the loss must be exactly 784 ln 2 nats per image, whatever the image: check the reduction "
              "and the KL")]
    _check_with_cases("Exercise 1", function, reference_negative_elbo, _elbo_inputs, cases, trials=4, rtol=1e-4,
                      atol=1e-3, gradient_of=(1, 2, 3), mistakes=_ELBO_MISTAKES, name="negative_elbo",
                      hint="sum the Bernoulli negative log-likelihood over the pixels of each image, add the "
                           "closed-form KL of each image, then average over the batch")


# ----------------------------------------------------------------------------- exercise 2: the gap


def _reference_gap(w, s, x, m, v):
    """log p(x) - ELBO(q) for p(z) = N(0, 1), p(x|z) = N(w z, s^2), q = N(m, v), all closed forms
    of the evidence and of the ELBO's expectations (no posterior, no KL formula)."""
    log_evidence = -0.5 * torch.log(2 * math.pi * (w ** 2 + s ** 2)) - x ** 2 / (2 * (w ** 2 + s ** 2))
    expected_log_likelihood = -0.5 * torch.log(2 * math.pi * s ** 2) - ((x - w * m) ** 2 + w ** 2 * v) / (2 * s ** 2)
    expected_log_prior = -0.5 * math.log(2 * math.pi) - (m ** 2 + v) / 2
    entropy = 0.5 * torch.log(2 * math.pi * math.e * v)
    return log_evidence - (expected_log_likelihood + expected_log_prior + entropy)


def _gap_inputs(generator: torch.Generator) -> tuple:
    n = 6
    w = 0.5 + 2.5 * torch.rand(n, generator=generator, dtype=torch.float64)
    w = torch.where(torch.rand(n, generator=generator, dtype=torch.float64) < 0.5, -w, w)
    s = 0.3 + 1.5 * torch.rand(n, generator=generator, dtype=torch.float64)
    x = 3.0 * torch.randn(n, generator=generator, dtype=torch.float64)
    m = torch.randn(n, generator=generator, dtype=torch.float64)
    v = 0.05 + 1.5 * torch.rand(n, generator=generator, dtype=torch.float64)
    return w, s, x, m, v


def _posterior(w, s, x):
    variance = 1.0 / (1.0 + w ** 2 / s ** 2)
    return variance * w * x / s ** 2, variance


def _kl_normal(m1, v1, m2, v2):
    return 0.5 * (v1 / v2 + (m1 - m2) ** 2 / v2 - 1.0 + torch.log(v2 / v1))


_GAP_MISTAKES = (
    (lambda w, s, x, m, v: _kl_normal(*_posterior(w, s, x), m, v),
     "this is KL(p(z|x) || q), the reverse direction; the gap is KL(q || p(z|x))"),
    (lambda w, s, x, m, v: _kl_normal(m, v, torch.zeros_like(m), torch.ones_like(v)),
     "this is the KL from q to the prior p(z); the gap is the KL to the posterior p(z|x)"),
    (lambda w, s, x, m, v: _kl_normal(m, v ** 2, *_posterior(w, s, x)),
     "v is q's variance, not its standard deviation"),
    (lambda w, s, x, m, v: _kl_normal(m, v, _posterior(w, s, x)[0], s ** 2 / w ** 2),
     "the posterior variance ignores the prior: its precision is the prior's precision 1 plus w^2/s^2"),
    (lambda w, s, x, m, v: _kl_normal(m, v, w * x / s ** 2, _posterior(w, s, x)[1]),
     "the posterior mean misses the posterior variance factor: complete the square in z again"),
)


def check_elbo_gap(function) -> None:
    """Exercise 2: ``elbo_gap(w, s, x, m, v)`` -> log p(x) - ELBO(q), elementwise, nats."""
    one = torch.ones(1, dtype=torch.float64)
    cases = [((2 * one, one, 3 * one, 1.2 * one, 0.2 * one), torch.zeros(1, dtype=torch.float64),
              "when q is the exact posterior the gap must be 0")]
    # The tolerance admits a correct float32 computation (about 7 significant digits); every known
    # mistake is off by far more.
    _check_with_cases("Exercise 2", function, _reference_gap, _gap_inputs, cases, trials=3, rtol=1e-4, atol=1e-5,
                      gradient_of=(3, 4), mistakes=_GAP_MISTAKES, name="elbo_gap",
                      hint="find p(z|x) by completing the square in z of log p(z) + log p(x|z), then take the "
                           "KL from q to it")


# ----------------------------------------------------------------------------- exercise 3: units

ROUNDED = 1e-3   # an answer this close (relative) but outside the tolerance was typed in rounded


def _check_unrounded(exercise: str, answer, expected: float, rtol: float, mistakes) -> None:
    """check_number, with a clear word for an answer that is right but rounded too much."""
    value = answer_number(exercise, answer)
    if rtol * abs(expected) < abs(value - expected) <= ROUNDED * abs(expected):
        raise AssertionError(f"{exercise}: your answer is close but rounded too much: compute it in code, or keep "
                             "at least six significant figures")
    check_number(exercise, answer, expected, rtol=rtol, mistakes=mistakes)



def check_bits_per_dim(answer) -> None:
    """Exercise 3, part 1: 86.76 nats per 28 x 28 image in bits per dimension."""
    expected = 86.76 / (PIXELS * math.log(2))
    _check_unrounded("Exercise 3 (bits per dimension)", answer, expected, rtol=1e-5,
                 mistakes=((86.76 / PIXELS, "that is nats per dimension; convert nats to bits too"),
                           (86.76 / math.log(2), "that is bits per image; divide by the number of dimensions too"),
                           (86.76 * math.log(2) / PIXELS, "nats become bits by dividing by ln 2, not multiplying")))


def check_nats_per_image(answer) -> None:
    """Exercise 3, part 2: 3.0 bits per dimension on 32 x 32 x 3 images in nats per image."""
    dims = 32 * 32 * 3
    expected = 3.0 * dims * math.log(2)
    _check_unrounded("Exercise 3 (nats per image)", answer, expected, rtol=1e-5,
                 mistakes=((3.0 * 32 * 32 * math.log(2), "a colour image has 3 channels: count every dimension"),
                           (3.0 * dims, "that is bits per image; convert bits to nats too"),
                           (3.0 * dims / math.log(2), "bits become nats by multiplying by ln 2, not dividing")))


# ----------------------------------------------------------------------------- exercise 4: MSE's variance


def check_mse_variance(answer) -> None:
    """Exercise 4: the s^2 at which ||x - mu||^2 / (2 s^2) equals the mean over 784 pixels of the
    squared error. Found here from a random image and reconstruction, not from a formula."""
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(1, 784, generator=generator, dtype=torch.float64)
    mean = torch.rand(1, 784, generator=generator, dtype=torch.float64)
    squared_error = (x - mean).pow(2).sum()
    expected = float(squared_error / (2 * F.mse_loss(mean, x)))
    check_number("Exercise 4", answer, expected, rtol=1e-6,
                 mistakes=((PIXELS, "a constant factor of the Gaussian's coefficient of the squared error was "
                                    "dropped: write both coefficients out in full before you equate them"),
                           (2 * PIXELS, "a constant factor of the Gaussian's coefficient of the squared error ended "
                                        "up on the wrong side: write both coefficients out in full and solve again"),
                           (1 / (2 * PIXELS), "that looks like a coefficient of the squared error, not a variance: "
                                              "solve for s^2"),
                           (1 / PIXELS, "that looks like a coefficient of the squared error, not a variance: "
                                        "solve for s^2"),
                           (0.5, "that is the variance for the squared error *summed* over pixels; the loss here "
                                 "averages over pixels")),
                 hint="equate the coefficient of the summed squared error in the two losses")
