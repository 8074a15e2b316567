"""The models of the series: an autoencoder, a Gaussian VAE (MLP or convolutional) and a
categorical VAE with Gumbel-Softmax latents.

Each keeps the inference network q(z|x) (``self.encoder``) and the generative model
p(x|z) p(z) (``self.decoder`` and ``prior``) as separately named pieces. Decoders output
logits of shape (B, 1, 28, 28); images go in as float (B, 1, 28, 28) in [0, 1].

One-liners for the seeds' configurations::

    GaussianVAE()                                   # 784-400-20 (seed 000, pytorch/examples)
    GaussianVAE(latent_dim=2, hidden_dims=(256,))   # 784-256-2 (seed 004)
    GaussianVAE(latent_dim=2, hidden_dims=(256, 128))  # 784-256-128-2 (seed 001)
    GaussianVAE(architecture="conv")                # convolutional encoder and decoder
    CategoricalVAE()                                # 30 x 10 categorical, 784-512-256 (seed 002)

Every model takes ``seed``: its initial weights are then drawn from that seed (the same
weights as ``torch.manual_seed(seed)`` followed by the unseeded build) without touching the
global random state; ``None`` (default) draws them from the global generator.
"""

import contextlib
import math
from typing import Optional

import torch
from torch import nn
from torch.distributions import Independent, Normal, OneHotCategorical

from .data import check_pixel_values
from .gumbel import check_temperature, gumbel_softmax
from .losses import (ELBOParts, bernoulli_log_likelihood, categorical_kl_to_uniform, elbo,
                     gaussian_kl, gaussian_log_likelihood)

IMAGE_SHAPE = (1, 28, 28)
PIXELS = 784
LIKELIHOODS = ("bernoulli", "gaussian")
ARCHITECTURES = ("mlp", "conv")
CONV_CHANNELS = (32, 64)
CONV_FEATURES = 64 * 7 * 7


def check_batch(x: torch.Tensor) -> None:
    """Raise a clear error unless x is a non-empty float tensor of shape (B, 1, 28, 28).

    Checks only what the host knows without reading the tensor (type, dtype, shape); the pixel
    values are checked by :meth:`ImageModel.check_input`."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor of images, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"expected float pixels in [0, 1], got dtype {x.dtype}; divide uint8 images by 255 "
                        "(vh.to_unit_interval)")
    if x.ndim != 4 or tuple(x.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"expected images of shape (B, 1, 28, 28), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError("the batch is empty: expected images of shape (B, 1, 28, 28) with B >= 1, got B = 0")


def _autocast_enabled(device_type: str) -> bool:
    """Whether autocast is on for ``device_type`` (torch < 2.4 has no argument and a CPU variant)."""
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:
        return torch.is_autocast_cpu_enabled() if device_type == "cpu" else torch.is_autocast_enabled()


def hidden_widths(hidden_dims) -> tuple:
    """``hidden_dims`` as a tuple of positive ints, or a ``ValueError`` that says what was expected."""
    if isinstance(hidden_dims, (int, str)) or not hasattr(hidden_dims, "__iter__"):
        raise ValueError(f"hidden_dims must be a sequence of layer widths such as (400,) or (512, 256), "
                         f"got {hidden_dims!r}")
    return tuple(hidden_dims)


def check_latent_count(name: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is a positive whole number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")


def check_sample_count(n, what: str = "images") -> None:
    """Raise ``ValueError`` unless ``n``, a number of ``what`` to draw, is a whole number >= 0."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n, the number of {what} to draw, must be a whole number >= 0, got {n!r}")


def check_codes(z: torch.Tensor, event_shape: tuple) -> None:
    """Raise ``ValueError`` unless codes ``z`` are a tensor of shape (B, *event_shape)."""
    if not isinstance(z, torch.Tensor) or tuple(z.shape[1:]) != tuple(event_shape) or z.ndim != 1 + len(event_shape):
        wanted = ", ".join(["B", *map(str, event_shape)])
        raise ValueError(f"expected codes z of shape ({wanted}), got {tuple(getattr(z, 'shape', ())) or type(z).__name__}")


def check_seed(seed) -> None:
    """Raise ``ValueError`` unless ``seed`` is ``None`` or a whole number >= 0 (not a bool)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be a whole number >= 0 or None, got {seed!r}")


@contextlib.contextmanager
def seeded_weights(seed: Optional[int]):
    """Inside this block, CPU random draws (the initial weights) come from ``seed``; the global
    CPU generator is restored afterwards, and no other device's generator is touched. With
    ``seed=None`` the block draws from the global generator as usual."""
    check_seed(seed)
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        yield


def mlp(in_features: int, hidden_dims, out_features: int) -> nn.Sequential:
    """Linear layers with ReLU between them and none after the last (its output is logits
    or parameters, never squashed): in -> hidden_dims[0] -> ... -> out."""
    widths = [in_features, *hidden_dims, out_features]
    layers = []
    for i, (width_in, width_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(width_in, width_out))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def image_encoder(architecture: str, hidden_dims, out_features: int) -> nn.Sequential:
    """(B, 1, 28, 28) -> (B, out_features). MLP: flatten then :func:`mlp`. Conv: two stride-2
    4x4 convolutions (28 -> 14 -> 7 pixels, 32 and 64 channels), then an MLP head."""
    if architecture == "mlp":
        return nn.Sequential(nn.Flatten(), mlp(PIXELS, hidden_dims, out_features))
    return nn.Sequential(
        nn.Conv2d(1, CONV_CHANNELS[0], 4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(CONV_CHANNELS[0], CONV_CHANNELS[1], 4, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), mlp(CONV_FEATURES, hidden_dims, out_features),
    )


def image_decoder(architecture: str, in_features: int, hidden_dims) -> nn.Sequential:
    """(B, in_features) -> logits (B, 1, 28, 28), mirroring :func:`image_encoder`."""
    hidden_dims = tuple(reversed(hidden_dims))
    if architecture == "mlp":
        return nn.Sequential(mlp(in_features, hidden_dims, PIXELS), nn.Unflatten(1, IMAGE_SHAPE))
    return nn.Sequential(
        mlp(in_features, hidden_dims, CONV_FEATURES), nn.ReLU(), nn.Unflatten(1, (CONV_CHANNELS[1], 7, 7)),
        nn.ConvTranspose2d(CONV_CHANNELS[1], CONV_CHANNELS[0], 4, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(CONV_CHANNELS[0], 1, 4, stride=2, padding=1),
    )


def check_model_options(hidden_dims, architecture, likelihood, gaussian_variance):
    """Raise ``ValueError`` naming the first bad constructor option of a model."""
    if not hidden_dims or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in hidden_dims):
        raise ValueError(f"hidden_dims must be a non-empty tuple of positive widths, got {hidden_dims!r}")
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    if likelihood not in LIKELIHOODS:
        raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if (isinstance(gaussian_variance, bool) or not isinstance(gaussian_variance, (int, float))
            or not (math.isfinite(gaussian_variance) and gaussian_variance > 0)):
        raise ValueError(f"gaussian_variance must be a finite number > 0, got {gaussian_variance!r}")


class ImageModel(nn.Module):
    """What every model here shares: its config (for checkpoints), the likelihood
    p(x|z) of its decoder, and helpers to reconstruct and to sample images."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = dict(config)
        self.likelihood = config.get("likelihood", "bernoulli")
        self.gaussian_variance = config.get("gaussian_variance", 0.5)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image, (B,) nats. Bernoulli on the decoder's logits, or a Gaussian
        with mean sigmoid(logits) and the fixed variance ``gaussian_variance``."""
        logits = self.decode(z)
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(logits, x)
        return gaussian_log_likelihood(torch.sigmoid(logits), x, self.gaussian_variance)

    uses_labels = False  # a conditional model sets True: fit then calls loss_parts(x, y)

    def forward(self, x: torch.Tensor, *condition) -> ELBOParts:
        """``model(x)`` is ``model.loss_parts(x)``: the ELBO and its terms, batch means in nats per
        image (an autoencoder's kl is 0). A conditional model takes the labels too: ``model(x, y)``."""
        if self.uses_labels and not condition:
            raise ValueError(f"{type(self).__name__} is conditioned on labels: call model(x, y) with y int64 (B,)")
        return self.loss_parts(x, *condition)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a clear error unless ``x`` is a batch this model can score: float (B, 1, 28, 28)
        with B >= 1, the dtype of the model's weights, and pixels in [0, 1] (see
        :func:`~vae_helpers.data.check_pixel_values`). Pixel values are read on every CPU batch;
        on a GPU only in the first batch the model sees, so that training does not wait on them."""
        check_batch(x)
        weights_dtype = next(self.parameters()).dtype
        if x.dtype != weights_dtype and not _autocast_enabled(x.device.type):
            raise TypeError(f"the images are {x.dtype} but the model's weights are {weights_dtype}: "
                            f"convert the images with x.to({weights_dtype})")
        if x.device.type == "cpu" or not getattr(self, "_pixels_checked", False):
            if x.device.type == "cuda" and torch.cuda.is_current_stream_capturing():
                return
            check_pixel_values(x)
            self._pixels_checked = True

    def evaluation_parts(self, x: torch.Tensor, *condition) -> dict:
        """Named ELBO figures (batch means) that ``fit`` records on the test set."""
        return {"": self.loss_parts(x, *condition)}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel means of p(x | z = the encoder's most likely code for x): (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decode(self.most_likely_latent(x)))


class Autoencoder(ImageModel):
    """A deterministic autoencoder: z = encoder(x), logits = decoder(z).

    Trained on reconstruction alone (the Bernoulli negative log-likelihood, in nats per
    image), so its latent space has no prior to sample from: that is the lesson of notebook 02.
    """

    def __init__(self, latent_dim: int = 2, hidden_dims=(400,), architecture: str = "mlp",
                 seed: Optional[int] = None):
        hidden_dims = hidden_widths(hidden_dims)
        check_model_options(hidden_dims, architecture, "bernoulli", 1.0)
        check_latent_count("latent_dim", latent_dim)
        check_seed(seed)
        super().__init__(dict(latent_dim=latent_dim, hidden_dims=hidden_dims, architecture=architecture, seed=seed))
        self.latent_dim = latent_dim
        with seeded_weights(seed):
            self.encoder = image_encoder(architecture, hidden_dims, latent_dim)
            self.decoder = image_decoder(architecture, latent_dim, hidden_dims)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> codes (B, latent_dim)."""
        self.check_input(x)
        return self.encoder(x)

    most_likely_latent = encode

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """codes (B, latent_dim) -> logits (B, 1, 28, 28)."""
        check_codes(z, (self.latent_dim,))
        return self.decoder(z)

    def loss_parts(self, x: torch.Tensor) -> ELBOParts:
        """Reconstruction log-likelihood only (kl = 0), batch means in nats per image."""
        log_likelihood = self.log_likelihood(x, self.encode(x)).mean()
        return ELBOParts(log_likelihood, log_likelihood, torch.zeros_like(log_likelihood))


class GaussianVAE(ImageModel):
    """VAE with q(z|x) = N(loc(x), diag(exp(log_var(x)))) and prior p(z) = N(0, I).

    Images go in as float (B, 1, 28, 28) in [0, 1]; codes z are (B, D); the decoder returns
    logits (B, 1, 28, 28); every loss term is in nats per image.

    latent_dim: D. hidden_dims: widths of the encoder's hidden layers (the decoder mirrors
    them). architecture: ``"mlp"`` or ``"conv"``. likelihood: ``"bernoulli"`` (default) or
    ``"gaussian"`` with fixed per-pixel ``gaussian_variance`` (0.5 makes -log p(x|z) equal the
    seeds' summed squared error plus a constant). seed: draws the initial weights from this seed
    without touching the global random state (see the module docstring).
    """

    def __init__(self, latent_dim: int = 20, hidden_dims=(400,), architecture: str = "mlp",
                 likelihood: str = "bernoulli", gaussian_variance: float = 0.5, seed: Optional[int] = None):
        hidden_dims = hidden_widths(hidden_dims)
        check_model_options(hidden_dims, architecture, likelihood, gaussian_variance)
        check_latent_count("latent_dim", latent_dim)
        check_seed(seed)
        super().__init__(dict(latent_dim=latent_dim, hidden_dims=hidden_dims, architecture=architecture,
                              likelihood=likelihood, gaussian_variance=gaussian_variance, seed=seed))
        self.latent_dim = latent_dim
        with seeded_weights(seed):
            self.encoder = image_encoder(architecture, hidden_dims, 2 * latent_dim)
            self.decoder = image_decoder(architecture, latent_dim, hidden_dims)

    def encode(self, x: torch.Tensor) -> tuple:
        """(B, 1, 28, 28) -> (loc, log_var), each (B, D)."""
        self.check_input(x)
        loc, log_var = self.encoder(x).chunk(2, dim=-1)
        return loc, log_var

    def posterior(self, x: torch.Tensor) -> Independent:
        """q(z|x) as a distribution with batch shape (B,) and event shape (D,)."""
        loc, log_var = self.encode(x)
        return Independent(Normal(loc, torch.exp(0.5 * log_var), validate_args=False), 1, validate_args=False)

    def prior(self, batch_size: int, device=None) -> Independent:
        """p(z) = N(0, I) with batch shape (batch_size,) and event shape (D,)."""
        zeros = torch.zeros(batch_size, self.latent_dim, device=device)
        return Independent(Normal(zeros, torch.ones_like(zeros), validate_args=False), 1, validate_args=False)

    def draw_latent(self, posterior: Independent) -> torch.Tensor:
        """Reparameterised z = loc + scale * eps, eps ~ N(0, I): (B, D), differentiable."""
        return posterior.rsample()

    def kl_to_prior(self, posterior: Independent) -> torch.Tensor:
        """Closed-form KL(q(z|x) || N(0, I)) per image, (B,) nats."""
        normal = posterior.base_dist
        return gaussian_kl(normal.loc, 2 * torch.log(normal.scale))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, D) -> logits (B, 1, 28, 28) of p(x|z)."""
        check_codes(z, (self.latent_dim,))
        return self.decoder(z)

    def most_likely_latent(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean loc(x), (B, D)."""
        return self.encode(x)[0]

    def loss_parts(self, x: torch.Tensor) -> ELBOParts:
        """The ELBO and its terms, batch means in nats per image."""
        return elbo(self, x)

    @torch.no_grad()
    def sample_images(self, n: int, device=None) -> torch.Tensor:
        """Decode n draws z ~ p(z): pixel means (n, 1, 28, 28) in [0, 1]."""
        check_sample_count(n)
        device = device or next(self.parameters()).device
        return torch.sigmoid(self.decode(self.prior(n, device).sample()))


class CategoricalVAE(ImageModel):
    """VAE whose latent code is ``n_latents`` categorical variables of ``n_classes`` classes.

    q(z|x): independent categoricals with logits (B, N, K) straight from the encoder (no
    ReLU on them, unlike seed 002). p(z): uniform. Training draws the relaxed sample
    gumbel_softmax(logits, temperature, hard); ``discrete=True`` draws an exact one-hot
    sample instead (the unrelaxed objective).
    """

    def __init__(self, n_latents: int = 30, n_classes: int = 10, hidden_dims=(512, 256), hard: bool = False,
                 temperature: float = 1.0, likelihood: str = "bernoulli", gaussian_variance: float = 0.5,
                 seed: Optional[int] = None):
        hidden_dims = hidden_widths(hidden_dims)
        check_model_options(hidden_dims, "mlp", likelihood, gaussian_variance)
        check_latent_count("n_latents", n_latents)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be a whole number >= 2, got {n_classes!r}")
        if not isinstance(hard, bool):
            raise ValueError(f"hard must be True or False, got {hard!r}")
        check_temperature(temperature, "temperature")
        check_seed(seed)
        super().__init__(dict(n_latents=n_latents, n_classes=n_classes, hidden_dims=hidden_dims, hard=hard,
                              temperature=temperature, likelihood=likelihood, gaussian_variance=gaussian_variance,
                              seed=seed))
        self.n_latents, self.n_classes, self.hard = n_latents, n_classes, hard
        self.temperature = temperature
        with seeded_weights(seed):
            self.encoder = image_encoder("mlp", hidden_dims, n_latents * n_classes)
            self.decoder = image_decoder("mlp", n_latents * n_classes, hidden_dims)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> logits (B, N, K)."""
        self.check_input(x)
        return self.encoder(x).view(-1, self.n_latents, self.n_classes)

    def posterior(self, x: torch.Tensor) -> Independent:
        """q(z|x): batch shape (B,), event shape (N, K) of one-hot vectors."""
        return Independent(OneHotCategorical(logits=self.encode(x), validate_args=False), 1, validate_args=False)

    def prior(self, batch_size: int, device=None) -> Independent:
        """Uniform p(z) over the K classes of each of the N variables."""
        probs = torch.full((batch_size, self.n_latents, self.n_classes), 1.0 / self.n_classes, device=device)
        return Independent(OneHotCategorical(probs=probs, validate_args=False), 1, validate_args=False)

    def draw_latent(self, posterior: Independent, discrete: bool = False) -> torch.Tensor:
        """z (B, N, K): a Gumbel-Softmax sample at ``self.temperature`` (straight-through
        one-hot when ``hard``), or an exact one-hot sample when ``discrete``."""
        if discrete:
            return posterior.sample()
        return gumbel_softmax(posterior.base_dist.logits, self.temperature, self.hard)

    def kl_to_prior(self, posterior: Independent) -> torch.Tensor:
        """Closed-form KL(q(z|x) || uniform) summed over the N variables, (B,) nats."""
        return categorical_kl_to_uniform(posterior.base_dist.logits)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (B, N, K) one-hot or relaxed -> logits (B, 1, 28, 28)."""
        check_codes(z, (self.n_latents, self.n_classes))
        return self.decoder(z.flatten(1))

    def most_likely_latent(self, x: torch.Tensor) -> torch.Tensor:
        """One-hot argmax of each variable's posterior, (B, N, K)."""
        logits = self.encode(x)
        return torch.zeros_like(logits).scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)

    def loss_parts(self, x: torch.Tensor, discrete=None) -> ELBOParts:
        """The ELBO, relaxed while training and discrete (exact one-hot z) in eval mode
        unless ``discrete`` says otherwise; batch means in nats per image."""
        return elbo(self, x, discrete=(not self.training) if discrete is None else discrete)

    def evaluation_parts(self, x: torch.Tensor) -> dict:
        """Both objectives: the discrete one (the honest figure) and the relaxed one."""
        return {"": self.loss_parts(x, discrete=True), "relaxed": self.loss_parts(x, discrete=False)}

    @torch.no_grad()
    def sample_images(self, n: int, device=None) -> torch.Tensor:
        """Decode n one-hot codes drawn from the uniform prior: (n, 1, 28, 28) in [0, 1]."""
        check_sample_count(n)
        device = device or next(self.parameters()).device
        return torch.sigmoid(self.decode(self.prior(n, device).sample()))


MODEL_CLASSES = {}


def register_model(cls):
    """Make ``cls`` loadable by ``load_checkpoint`` (by class name); usable as a decorator."""
    MODEL_CLASSES[cls.__name__] = cls
    return cls


for _model_class in (Autoencoder, GaussianVAE, CategoricalVAE):
    register_model(_model_class)
