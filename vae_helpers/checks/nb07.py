"""Checks for notebook 07's exercises (the conditional VAE).

Each check builds fresh, randomly initialised :class:`~vae_helpers.conditional.ConditionalVAE`
models (or a scoring function with a known answer) and compares the learner's function with the
package's own computation on fresh inputs, so a copied label vector or a copied tensor cannot
pass. Failures name the mistake, never a value.
"""

import torch
import torch.nn.functional as F

from ..conditional import ConditionalVAE
from . import ExerciseNotDone, check_function

__all__ = ["check_decode_with_label", "check_classify_by_elbo", "check_restyle"]

N_CLASSES = 10


def _fresh_model(generator: torch.Generator, latent_dim=None) -> ConditionalVAE:
    """A ConditionalVAE with random sizes and weights drawn from ``generator``."""
    if latent_dim is None:
        latent_dim = int(torch.randint(2, 7, (1,), generator=generator))
    hidden = int(torch.randint(8, 33, (1,), generator=generator))
    model = ConditionalVAE(latent_dim=latent_dim, hidden_dims=(hidden,))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.3 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def _labels(generator: torch.Generator, batch: int) -> torch.Tensor:
    return torch.randint(0, N_CLASSES, (batch,), generator=generator)


def _images(generator: torch.Generator, batch: int) -> torch.Tensor:
    return torch.bernoulli(torch.rand(batch, 1, 28, 28, generator=generator), generator=generator)


# ----------------------------------------------------------------------------- exercise 1: the decoder's input

_OWNERS = {}  # id(decoder) -> the ConditionalVAE it belongs to (for the reference)


def _decoder_inputs(generator: torch.Generator) -> tuple:
    model = _fresh_model(generator)
    _OWNERS.clear()
    _OWNERS[id(model.decoder)] = model
    batch = int(torch.randint(3, 9, (1,), generator=generator))
    return model.decoder, torch.randn(batch, model.latent_dim, generator=generator), _labels(generator, batch)


def _reference_decode(decoder, z, y):
    return _OWNERS[id(decoder)].decode(z, y)


_DECODER_MISTAKES = (
    (lambda d, z, y: d(torch.cat([F.one_hot(y, N_CLASSES).float(), z], dim=1)),
     "the one-hot label comes before z; ConditionalVAE's decoder reads z in its first columns and the label "
     "in its last 10"),
    (lambda d, z, y: d(torch.cat([z, F.one_hot((y + 1) % N_CLASSES, N_CLASSES).float()], dim=1)),
     "the one-hot vector marks the wrong entry: label y sets entry y (counting from 0)"),
    (lambda d, z, y: d(torch.cat([z, torch.zeros(len(y), N_CLASSES)], dim=1)),
     "the label does not reach the decoder: its one-hot entries are all zero"),
)


def check_decode_with_label(function) -> None:
    """Exercise 1: ``decode_with_label(decoder, z, y)`` -> logits (B, 1, 28, 28), the same as
    ``ConditionalVAE.decode(z, y)`` for the model that owns ``decoder``."""
    check_function("Exercise 1", function, _reference_decode, _decoder_inputs, trials=3, rtol=1e-4, atol=1e-5,
                   gradient_of=(1,), mistakes=_DECODER_MISTAKES, name="decode_with_label",
                   hint="turn y into a one-hot float vector of 10 entries, concatenate it after z along the "
                        "feature dimension, and apply the decoder")


# ----------------------------------------------------------------------------- exercise 2: classify by the ELBO


class _ScoringFunction:
    """A stand-in for ``lambda x, labels: vh.elbo(model, x, reduction="none", y=labels).elbo`` whose
    answer is known: score(x, labels)[i] = (x_i . W)[labels_i] + b[labels_i], (N,) "nats"."""

    def __init__(self, generator: torch.Generator):
        self.weights = torch.randn(784, N_CLASSES, generator=generator)
        self.bias = 5.0 * torch.randn(N_CLASSES, generator=generator)
        self.calls = 0

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).to(torch.float32) @ self.weights + self.bias       # (N, 10)

    def __call__(self, x, labels):
        self.calls += 1
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
            raise TypeError("elbo_given_label expects labels as an int64 tensor of class indices, one per image "
                            "(e.g. torch.full((len(x),), label))")
        if labels.shape != (x.shape[0],):
            raise ValueError("elbo_given_label expects one label per image: a tensor of shape (N,) for N images")
        return self.scores(x).gather(1, labels[:, None])[:, 0]


def _classify_inputs(generator: torch.Generator) -> tuple:
    batch = int(torch.randint(20, 60, (1,), generator=generator))
    return _ScoringFunction(generator), _images(generator, batch)


def _reference_classify(score, x):
    return score.scores(x).argmax(1)


_CLASSIFY_MISTAKES = (
    (lambda s, x: s.scores(x).argmin(1), "it picks the label with the lowest ELBO; the prediction is the label "
                                         "under which the image is most likely, the highest ELBO"),
    (lambda s, x: s.scores(x).softmax(1).max(1).values, "it returns the largest probability or ELBO, not the "
                                                       "label (the argmax) that achieves it"),
    (lambda s, x: s.scores(x).max(1).values, "it returns the largest ELBO, not the label (the argmax) that "
                                             "achieves it"),
)


def check_classify_by_elbo(function) -> None:
    """Exercise 2: ``classify_by_elbo(elbo_given_label, x)`` -> (N,) predicted labels, the argmax
    over y = 0..9 of ``elbo_given_label(x, labels=y for every image)``."""
    exercise = "Exercise 2"
    if function is None or function is Ellipsis:
        raise ExerciseNotDone(f"{exercise}: no answer yet; assign your function")
    check_function(exercise, function, _reference_classify, _classify_inputs, trials=4, rtol=0, atol=1e-6,
                   mistakes=_CLASSIFY_MISTAKES, name="classify_by_elbo",
                   hint="call elbo_given_label once per label 0-9 with that label for every image, stack the "
                        "ten ELBOs of each image, and take the label with the largest")


# ----------------------------------------------------------------------------- exercise 3: same style, other digit


def _restyle_inputs(generator: torch.Generator) -> tuple:
    model = _fresh_model(generator, latent_dim=2)
    batch = int(torch.randint(3, 9, (1,), generator=generator))
    y = _labels(generator, batch)
    new_y = (y + torch.randint(1, N_CLASSES, (batch,), generator=generator)) % N_CLASSES
    return model, _images(generator, batch), y, new_y


@torch.no_grad()
def _reference_restyle(model, x, y, new_y):
    return torch.sigmoid(model.decode(model.most_likely_latent(x, y), new_y))


_RESTYLE_MISTAKES = (
    (lambda m, x, y, n: torch.sigmoid(m.decode(m.most_likely_latent(x, n), n)),
     "the image is encoded with the new label; its style code comes from q(z|x, y) with its own label y"),
    (lambda m, x, y, n: m.decode(m.most_likely_latent(x, y), n),
     "these are logits; the pixel means are sigmoid(logits), in [0, 1]"),
    (lambda m, x, y, n: torch.sigmoid(m.decode(m.most_likely_latent(x, y), y)),
     "the code is decoded with the image's own label; decode it with the new label"),
    (lambda m, x, y, n: torch.sigmoid(m.decode(torch.zeros(len(y), m.latent_dim), n)),
     "the code is the prior's mean, not the image's: encode the image first"),
)


def check_restyle(function) -> None:
    """Exercise 3: ``restyle(model, x, y, new_y)`` -> pixel means (B, 1, 28, 28): the image's
    posterior mean code under its own label, decoded with ``new_y``."""
    check_function("Exercise 3", function, _reference_restyle, _restyle_inputs, trials=3, rtol=1e-4, atol=1e-5,
                   mistakes=_RESTYLE_MISTAKES, name="restyle",
                   hint="encode with the image's own label, take the posterior mean (not a draw), decode with the "
                        "new label, and apply the sigmoid")
