"""Checks for notebook 07's exercises (the conditional VAE).

Each check builds fresh, randomly initialised :class:`~vae_helpers.conditional.ConditionalVAE`
models (or a scoring function with a known answer) and compares the learner's function with the
package's own computation on fresh inputs, so a copied label vector or a copied tensor cannot
pass. Failures name the mistake, never a value.
"""

import copy

import torch
import torch.nn.functional as F

from ..conditional import ConditionalVAE
from . import ExerciseNotDone, _call, check_function, fresh_generator, function_name

__all__ = ["check_decode_every_label", "check_label_posterior", "check_style_path"]

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


# ----------------------------------------------------------------------------- exercise 1: every label at the decoder

_OWNERS = {}  # id(decoder) -> a private copy of the ConditionalVAE it belongs to (for the reference)


class _CountingDecoder(torch.nn.Module):
    """The decoder handed to the learner's function: the same network, (N, D + 10) -> logits
    (N, 1, 28, 28), counting how often it is called."""

    def __init__(self, decoder: torch.nn.Module):
        super().__init__()
        self.network = decoder
        self.calls = 0

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.network(inputs)


def _decoder_inputs(generator: torch.Generator) -> tuple:
    model = _fresh_model(generator)
    decoder = _CountingDecoder(model.decoder)
    _OWNERS.clear()
    _OWNERS[id(decoder)] = copy.deepcopy(model)  # a learner who casts the decoder cannot break the reference
    batch = int(torch.randint(3, 9, (1,), generator=generator))
    return decoder, torch.randn(batch, model.latent_dim, generator=generator)


def _reference_every_label(decoder, z):
    model = _OWNERS[id(decoder)]
    z = z.to(torch.float32)
    return torch.stack([model.decode(z, torch.full((len(z),), label)) for label in range(N_CLASSES)], dim=1)


def _one_hot(labels):
    return F.one_hot(labels, N_CLASSES).float()


def _own(decoder):
    """The reference copy of ``decoder`` (the learner's function may have cast the original)."""
    return _OWNERS[id(decoder)].decoder


def _label_major(d, z):
    # decodes B*10 rows ordered label-major but reshapes them as if they were code-major
    d, batch = _own(d), len(z)
    labels = torch.arange(N_CLASSES).repeat_interleave(batch)
    logits = d(torch.cat([z.repeat(N_CLASSES, 1), _one_hot(labels)], dim=1))
    return logits.reshape(batch, N_CLASSES, 1, 28, 28)


_EVERY_LABEL_MISTAKES = (
    (lambda d, z: torch.stack([_own(d)(torch.cat([_one_hot(torch.full((len(z),), k)), z], 1)) for k in range(N_CLASSES)], 1),
     "the one-hot label comes before z; ConditionalVAE's decoder reads z in its first columns and the label "
     "in its last 10"),
    (_label_major,
     "codes and labels are paired wrongly: after decoding B x 10 rows, the reshape to (B, 10, ...) must follow "
     "the order in which you repeated z and the labels (entry [i, y] is code i decoded with label y)"),
    (lambda d, z: torch.stack([_own(d)(torch.cat([z, _one_hot(torch.full((len(z),), (k + 1) % N_CLASSES))], 1))
                               for k in range(N_CLASSES)], 1),
     "the one-hot vector marks the wrong entry: label y sets entry y (counting from 0)"),
    (lambda d, z: torch.stack([_own(d)(torch.cat([z, torch.zeros(len(z), N_CLASSES)], 1)) for k in range(N_CLASSES)], 1),
     "the label does not reach the decoder: its one-hot entries are all zero"),
)


def check_decode_every_label(function) -> None:
    """Exercise 1: ``decode_every_label(decoder, z)`` -> logits (B, 10, 1, 28, 28); entry [i, y]
    is ``ConditionalVAE.decode`` of code z[i] with label y, for the model that owns ``decoder``,
    computed with exactly one call of ``decoder`` (on all B x 10 pairs at once)."""
    exercise = "Exercise 1"
    name = function_name(exercise, function)
    decoder, z = _decoder_inputs(fresh_generator())
    _call(exercise, function, (decoder, z), name)
    if decoder.calls == 0:
        raise AssertionError(f"{exercise}: {name} never calls the decoder it is given; the logits must come from "
                             "that decoder")
    if decoder.calls > 1:
        raise AssertionError(f"{exercise}: {name} calls the decoder more than once (a loop over the labels?); "
                             "build every (code, label) pair first and decode them all in a single call")
    check_function(exercise, function, _reference_every_label, _decoder_inputs, trials=3, rtol=1e-4, atol=1e-5,
                   gradient_of=(1,), mistakes=_EVERY_LABEL_MISTAKES, name=name,
                   hint="entry [i, y] is code i decoded with label y; the decoder reads z first and the one-hot "
                        "label (floats) in its last 10 columns")


# ----------------------------------------------------------------------------- exercise 2: p(y | x) from the ELBOs


class _ScoringFunction:
    """A stand-in for ``lambda x, labels: vh.elbo(model, x, reduction="none", y=labels).elbo`` whose
    answer is known: score(x, labels)[i] = (x_i . W)[labels_i] + b[labels_i] - 150, (N,) "nats"
    (about as negative as a real ELBO, so exponentiating it directly underflows)."""

    def __init__(self, generator: torch.Generator):
        self.weights = 0.2 * torch.randn(784, N_CLASSES, generator=generator)
        self.bias = 2.0 * torch.randn(N_CLASSES, generator=generator) - 150.0
        self.calls = 0

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).to(torch.float32) @ self.weights + self.bias       # (N, 10) float32, as an ELBO

    def __call__(self, x, labels):
        self.calls += 1
        if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
            raise TypeError("elbo_given_label expects labels as an int64 tensor of class indices, one per image "
                            "(e.g. torch.full((len(x),), label))")
        if labels.shape != (x.shape[0],):
            raise ValueError("elbo_given_label expects one label per image: a tensor of shape (N,) for N images")
        return self.scores(x).gather(1, labels[:, None])[:, 0]


def _posterior_inputs(generator: torch.Generator) -> tuple:
    batch = int(torch.randint(20, 60, (1,), generator=generator))
    prior = torch.rand(N_CLASSES, generator=generator, dtype=torch.float64) + 0.2
    return _ScoringFunction(generator), _images(generator, batch), prior / prior.sum()


def _reference_posterior(score, x, prior):
    return torch.softmax(score.scores(x) + prior.log(), dim=1)


_POSTERIOR_MISTAKES = (
    (lambda s, x, p: torch.softmax(s.scores(x), dim=1),
     "the prior p(y) is missing: p(y|x) is proportional to p(y) p(x|y)"),
    (lambda s, x, p: torch.softmax(s.scores(x) + p, dim=1),
     "the prior is added to log-scale scores as a probability; add its logarithm"),
    (lambda s, x, p: torch.softmax(s.scores(x) * p, dim=1),
     "the ELBOs are multiplied by the prior; on the log scale the prior's logarithm is added"),
    (lambda s, x, p: torch.log_softmax(s.scores(x) + p.log(), dim=1),
     "these are log probabilities; return the probabilities themselves"),
    (lambda s, x, p: torch.softmax(s.scores(x) + p.log(), dim=0),
     "it is normalised over the images; each image's ten probabilities must sum to 1 (normalise over labels)"),
    (lambda s, x, p: s.scores(x).exp() * p / (s.scores(x).exp() * p).sum(1, keepdim=True),
     "exponentiating ELBOs of about -100 nats underflows to 0/0; subtract each image's largest value first "
     "(torch.softmax or torch.logsumexp do this)"),
)


def check_label_posterior(function) -> None:
    """Exercise 2: ``label_posterior(elbo_given_label, x, prior)`` -> (N, 10) probabilities,
    p(y|x) proportional to prior[y] exp(elbo_given_label(x, y for every image))."""
    exercise = "Exercise 2"
    if function is None or function is Ellipsis:
        raise ExerciseNotDone(f"{exercise}: no answer yet; assign your function")
    check_function(exercise, function, _reference_posterior, _posterior_inputs, trials=4, rtol=1e-4, atol=1e-6,
                   mistakes=_POSTERIOR_MISTAKES, name="label_posterior",
                   hint="call elbo_given_label once per label 0-9 with that label for every image, stack the ten "
                        "ELBOs of each image into (N, 10), add log p(y), and normalise over the labels on the log "
                        "scale")


# ----------------------------------------------------------------------------- exercise 3: a path between two styles


def _path_inputs(generator: torch.Generator) -> tuple:
    model = _fresh_model(generator)
    y_a, y_b, label = (int(v) for v in torch.randint(0, N_CLASSES, (3,), generator=generator))
    label = (y_a + 1 + label % (N_CLASSES - 1)) % N_CLASSES  # differs from y_a
    n_steps = int(torch.randint(3, 8, (1,), generator=generator))
    return (model, _images(generator, 1), torch.tensor([y_a]), _images(generator, 1), torch.tensor([y_b]),
            label, n_steps)


@torch.no_grad()
def _path(model, x_a, code_label_a, x_b, code_label_b, label, t, means=True):
    z_a = model.most_likely_latent(x_a, code_label_a)
    z_b = model.most_likely_latent(x_b, code_label_b)
    z = (1 - t[:, None]) * z_a + t[:, None] * z_b
    logits = model.decode(z, torch.full((len(t),), label))
    return torch.sigmoid(logits) if means else logits


def _reference_path(model, x_a, y_a, x_b, y_b, label, n_steps):
    return _path(model, x_a, y_a, x_b, y_b, label, torch.linspace(0, 1, n_steps))


_PATH_MISTAKES = (
    (lambda m, xa, ya, xb, yb, label, n: _path(m, xa, torch.tensor([label]), xb, torch.tensor([label]), label,
                                               torch.linspace(0, 1, n)),
     "the images are encoded with the target label; each style code comes from q(z|x, y) with the image's own "
     "label"),
    (lambda m, xa, ya, xb, yb, label, n: _path(m, xa, ya, xb, yb, label, torch.linspace(0, 1, n + 2)[1:-1]),
     "the path leaves out its ends; the first image decodes x_a's code and the last x_b's code"),
    (lambda m, xa, ya, xb, yb, label, n: _path(m, xa, ya, xb, yb, label, torch.linspace(1, 0, n)),
     "the path runs backwards; it starts at x_a's code and ends at x_b's"),
    (lambda m, xa, ya, xb, yb, label, n: _path(m, xa, ya, xb, yb, label, torch.linspace(0, 1, n), means=False),
     "these are logits; the pixel means are sigmoid(logits), in [0, 1]"),
    (lambda m, xa, ya, xb, yb, label, n: _path(m, xa, ya, xb, yb, ya.item(), torch.linspace(0, 1, n)),
     "the codes are decoded with x_a's own label; decode them with the label asked for"),
)


def check_style_path(function) -> None:
    """Exercise 3: ``style_path(model, x_a, y_a, x_b, y_b, label, n_steps)`` -> pixel means
    (n_steps, 1, 28, 28): the posterior-mean codes of x_a (with y_a) and x_b (with y_b), mixed
    linearly in n_steps evenly spaced steps from x_a's to x_b's, each decoded with ``label``."""
    check_function("Exercise 3", function, _reference_path, _path_inputs, trials=3, rtol=1e-4, atol=1e-5,
                   mistakes=_PATH_MISTAKES, name="style_path",
                   hint="encode each image with its own label and take the posterior mean; mix the two codes as "
                        "(1 - t) z_a + t z_b for n_steps values of t evenly spaced from 0 to 1 (both ends "
                        "included); decode every mixed code with the given label and apply the sigmoid")
