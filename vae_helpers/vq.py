"""Vector quantization and the VQ-VAE (van den Oord et al. 2017), with the tools to keep a
codebook in use: EMA codebook updates, codebook perplexity and a dead-code reset.

Shapes: encoder outputs z_e are (..., D) vectors (the model's are (B, 7, 7, D)), a codebook is
(K, D), code indices are int64 (...,) in [0, K). Loss terms are in nats per image (squared
distances summed over the D dimensions and the 7 x 7 positions, averaged over the batch).

The model is a VAE whose q(z|x) puts all its mass on one code per position and whose prior is
uniform over the K codes, so KL(q || p) = 49 log K nats per image, a constant: training it is
training the reconstruction term plus the codebook and commitment terms
(``VQParts.extra_loss``, which ``fit`` adds to the loss).

``quantizer="gumbel"`` replaces the nearest-code lookup by a Gumbel-Softmax (soft, sampled)
assignment to the same codebook, with logits -||z_e - e_k||^2 and the KL of that categorical
q to the uniform prior (Jang et al. 2017; the DALL-E dVAE); it is evaluated on its most likely
code, like VQ.
"""

import math
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .gumbel import gumbel_softmax
from .losses import ELBOParts, bernoulli_log_likelihood
from .models import ImageModel, check_latent_count, check_sample_count, check_seed, register_model, seeded_weights

GRID = (7, 7)
USAGE_DECAY = 0.9  # running usage of each code, for the dead-code reset: about 10 batches of memory
QUANTIZERS = ("vq", "gumbel")
CODEBOOK_UPDATES = ("loss", "ema")


class Quantized(NamedTuple):
    """What :func:`vector_quantize` returns.

    straight_through: z_e + (z_q - z_e).detach(), (..., D): the value of z_q with the gradient
    of z_e (identity Jacobian), what the decoder gets.
    quantized: z_q = codebook[indices], (..., D), differentiable in the codebook only.
    indices: int64 (...,), the nearest code of each vector.
    """

    straight_through: torch.Tensor
    quantized: torch.Tensor
    indices: torch.Tensor


def squared_distances(z_e: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """||z_e - e_k||^2 for every vector and code: (..., D), (K, D) -> (..., K)."""
    flat = z_e.reshape(-1, z_e.shape[-1])
    distances = (flat.pow(2).sum(-1, keepdim=True) - 2 * flat @ codebook.t()
                 + codebook.pow(2).sum(-1)).clamp_min(0)
    return distances.reshape(*z_e.shape[:-1], codebook.shape[0])


def nearest_code(z_e: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the codebook row closest in Euclidean distance: (..., D), (K, D) -> int64 (...,)."""
    return squared_distances(z_e, codebook).argmin(-1)


def vector_quantize(z_e: torch.Tensor, codebook: torch.Tensor) -> Quantized:
    """Replace each D-vector of z_e (..., D) by its nearest codebook row (K, D).

    The lookup has no useful gradient (argmin is piecewise constant), so the decoder gets the
    straight-through value z_e + (z_q - z_e).detach(): forward it equals z_q, backward it is
    the identity to z_e. See :class:`Quantized`.
    """
    if z_e.shape[-1] != codebook.shape[-1]:
        raise ValueError(f"z_e has vectors of size {z_e.shape[-1]} but the codebook's rows have size "
                         f"{codebook.shape[-1]}")
    indices = nearest_code(z_e, codebook)
    quantized = codebook[indices]
    return Quantized(z_e + (quantized - z_e).detach(), quantized, indices)


def code_counts(indices: torch.Tensor, n_codes: int) -> torch.Tensor:
    """How many of ``indices`` (int64, any shape) pick each code: float32 (K,). Unlike
    ``torch.bincount`` it never reads the indices on the host (safe inside a CUDA graph)."""
    flat = indices.reshape(-1)
    ones = torch.ones(flat.shape, device=flat.device)
    return torch.zeros(n_codes, device=flat.device).scatter_add_(0, flat, ones)


def codebook_perplexity(indices: torch.Tensor, n_codes: int) -> torch.Tensor:
    """exp(H) of the codes' empirical frequencies, H = -sum_k p_k log p_k (nats): a float ()
    between 1 (one code used) and K = ``n_codes`` (all codes used equally often).

    indices: int64 tensor of any shape with values in [0, n_codes)."""
    counts = torch.bincount(indices.reshape(-1), minlength=n_codes).to(torch.float64)
    probs = counts / counts.sum()
    entropy = -(probs * torch.log(probs.clamp_min(1e-300))).sum()
    return torch.exp(entropy)


def dead_codes(indices: torch.Tensor, n_codes: int) -> torch.Tensor:
    """Bool (K,): True for the codes that no index in ``indices`` uses."""
    return torch.bincount(indices.reshape(-1), minlength=n_codes) == 0


def ema_codebook_update(cluster_size: torch.Tensor, embed_sum: torch.Tensor, z_e: torch.Tensor,
                        indices: torch.Tensor, decay: float, epsilon: float = 1e-5) -> tuple:
    """One exponential-moving-average codebook step (van den Oord et al. 2017, appendix A.1).

    cluster_size N (K,), embed_sum m (K, D): the running averages. z_e (..., D) and their codes
    indices (...,). With n_k the number of vectors assigned to code k in this batch:
        N_k <- decay N_k + (1 - decay) n_k
        m_k <- decay m_k + (1 - decay) sum_{i: code i = k} z_e_i
        codebook_k = m_k / N~_k,  N~_k = (N_k + eps) / (n + K eps) * n,  n = sum_k N_k
    (Laplace smoothing keeps an unused code from dividing by 0). Returns the new
    (cluster_size, embed_sum, codebook); nothing is changed in place.
    """
    n_codes = cluster_size.shape[0]
    flat = z_e.detach().reshape(-1, z_e.shape[-1]).to(embed_sum.dtype)
    counts = code_counts(indices, n_codes).to(cluster_size.dtype)
    sums = torch.zeros_like(embed_sum).index_add_(0, indices.reshape(-1), flat)
    cluster_size = decay * cluster_size + (1 - decay) * counts
    embed_sum = decay * embed_sum + (1 - decay) * sums
    total = cluster_size.sum()
    smoothed = (cluster_size + epsilon) / (total + n_codes * epsilon) * total
    return cluster_size, embed_sum, embed_sum / smoothed.unsqueeze(1)


def replace_dead_codes(codebook: torch.Tensor, dead: torch.Tensor, z_e: torch.Tensor,
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Move every code marked in ``dead`` (bool (K,)) onto an encoder output drawn at random
    from z_e (..., D), so that it wins at least that vector next time (Dhariwal et al. 2020,
    Jukebox; lucidrains' vector-quantize-pytorch). Returns a new (K, D) codebook. Runs without
    reading ``dead`` on the host (no device synchronisation)."""
    flat = z_e.detach().reshape(-1, z_e.shape[-1]).to(codebook.dtype)
    picks = torch.randint(flat.shape[0], (codebook.shape[0],), device=flat.device, generator=generator)
    return torch.where(dead.unsqueeze(1), flat[picks], codebook)


class VQParts(NamedTuple):
    """The ELBO terms of a VQ-VAE (batch means, nats per image) and the rest of its loss.

    elbo = log_likelihood - kl, kl = 49 log K (the uniform prior) in eval mode, or the Gumbel
    model's KL(q || uniform) while training. extra_loss: codebook term + beta * commitment term
    (VQ), added to the training loss by ``fit``; it is not part of the ELBO.
    codebook_loss: ||sg[z_e] - z_q||^2; commitment_loss: ||z_e - sg[z_q]||^2 (summed over D and
    the 49 positions). indices: int64 (B, 7, 7), the codes of the batch.
    """

    elbo: torch.Tensor
    log_likelihood: torch.Tensor
    kl: torch.Tensor
    extra_loss: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor
    indices: torch.Tensor

    @property
    def neg_elbo(self) -> torch.Tensor:
        return -self.elbo

    @property
    def reconstruction_loss(self) -> torch.Tensor:
        return -self.log_likelihood


class VQVAE(ImageModel):
    """VQ-VAE on 28 x 28 digits: a conv encoder to a 7 x 7 grid of D-vectors, a codebook of K
    codes, a conv decoder to Bernoulli logits (B, 1, 28, 28).

    n_codes: K. code_dim: D. channels: widths of the two stride-2 convolutions.
    beta: weight of the commitment term (0.25 in the paper). codebook_weight: weight of the
    codebook term (ignored with EMA updates). reconstruction_weight: weight of the
    reconstruction term in the training loss (1; 0 only to show what it does).
    codebook_update: ``"loss"`` (the codebook term trains the codebook by gradient) or
    ``"ema"`` (exponential moving averages with ``ema_decay``; see :func:`ema_codebook_update`).
    dead_code_threshold: while training, a code whose running usage (an EMA of its assignments
    per image, decay ``USAGE_DECAY``; a fair share is 49 / K) falls below this many vectors is moved onto a random encoder
    output of the batch; 0 turns the reset off. quantizer: ``"vq"`` or ``"gumbel"`` (see the
    module docstring); ``temperature`` is the Gumbel-Softmax tau (``fit(temperature=...)``
    sets it). init_scale: the codebook starts uniform in [-init_scale, init_scale]
    (default 1/K, as in the reference implementations). seed: draws the initial weights and
    codebook from this seed without touching the global random state (``None``: from it).
    """

    def __init__(self, n_codes: int = 64, code_dim: int = 16, channels=(32, 64), beta: float = 0.25,
                 codebook_weight: float = 1.0, reconstruction_weight: float = 1.0, codebook_update: str = "loss",
                 ema_decay: float = 0.99, dead_code_threshold: float = 0.0, quantizer: str = "vq",
                 temperature: float = 1.0, init_scale: Optional[float] = None, seed: Optional[int] = None):
        check_latent_count("n_codes", n_codes)
        check_latent_count("code_dim", code_dim)
        if (not isinstance(channels, (tuple, list)) or len(channels) != 2
                or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels)):
            raise ValueError(f"channels must be two positive widths such as (32, 64), got {channels!r}")
        channels = tuple(channels)
        if n_codes < 2:
            raise ValueError(f"n_codes must be >= 2, got {n_codes}")
        if quantizer not in QUANTIZERS:
            raise ValueError(f"quantizer must be one of {QUANTIZERS}, got {quantizer!r}")
        if codebook_update not in CODEBOOK_UPDATES:
            raise ValueError(f"codebook_update must be one of {CODEBOOK_UPDATES}, got {codebook_update!r}")
        for name, value in (("beta", beta), ("codebook_weight", codebook_weight),
                            ("reconstruction_weight", reconstruction_weight),
                            ("dead_code_threshold", dead_code_threshold)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if quantizer == "gumbel" and codebook_update == "ema":
            raise ValueError("the Gumbel quantizer trains its codebook by gradient: use codebook_update='loss'")
        if not 0 < ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), got {ema_decay!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        check_seed(seed)
        if init_scale is not None and (isinstance(init_scale, bool) or not isinstance(init_scale, (int, float))
                                       or not (math.isfinite(init_scale) and init_scale > 0)):
            raise ValueError(f"init_scale must be a finite number > 0 or None, got {init_scale!r}")
        init_scale = 1.0 / n_codes if init_scale is None else float(init_scale)
        super().__init__(dict(n_codes=n_codes, code_dim=code_dim, channels=channels, beta=beta,
                              codebook_weight=codebook_weight, reconstruction_weight=reconstruction_weight,
                              codebook_update=codebook_update, ema_decay=ema_decay,
                              dead_code_threshold=dead_code_threshold, quantizer=quantizer,
                              temperature=temperature, init_scale=init_scale, seed=seed))
        self.n_codes, self.code_dim, self.beta = n_codes, code_dim, beta
        self.codebook_weight, self.reconstruction_weight = codebook_weight, reconstruction_weight
        self.codebook_update, self.ema_decay, self.quantizer = codebook_update, ema_decay, quantizer
        self.dead_code_threshold, self.temperature = dead_code_threshold, temperature
        with seeded_weights(seed):
            wide, narrow = channels[1], channels[0]
            self.encoder = nn.Sequential(
                nn.Conv2d(1, narrow, 4, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(narrow, wide, 4, stride=2, padding=1), nn.ReLU(),
                nn.Conv2d(wide, code_dim, 1),
            )
            self.decoder = nn.Sequential(
                nn.Conv2d(code_dim, wide, 3, padding=1), nn.ReLU(),
                nn.ConvTranspose2d(wide, narrow, 4, stride=2, padding=1), nn.ReLU(),
                nn.ConvTranspose2d(narrow, 1, 4, stride=2, padding=1),
            )
            codebook = torch.empty(n_codes, code_dim).uniform_(-init_scale, init_scale)
        if codebook_update == "ema":
            self.register_buffer("codebook", codebook)
            self.register_buffer("cluster_size", torch.zeros(n_codes))
            self.register_buffer("embed_sum", codebook.clone())
        else:
            self.codebook = nn.Parameter(codebook)
        self.register_buffer("usage", torch.full((n_codes,), GRID[0] * GRID[1] / n_codes))

    @property
    def latent_kl(self) -> float:
        """KL(q(z|x) || uniform) of a one-hot q: 49 log K nats per image."""
        return GRID[0] * GRID[1] * math.log(self.n_codes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) -> z_e (B, 7, 7, D)."""
        self.check_input(x)
        return self.encoder(x).permute(0, 2, 3, 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z_q (B, 7, 7, D) -> logits (B, 1, 28, 28)."""
        return self.decoder(z.permute(0, 3, 1, 2))

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The code grid of each image: (B, 1, 28, 28) -> int64 (B, 7, 7)."""
        return nearest_code(self.encode(x), self.codebook)

    def most_likely_latent(self, x: torch.Tensor) -> torch.Tensor:
        """z_q (B, 7, 7, D): the nearest codes (for the Gumbel quantizer, its most likely ones)."""
        return self.codebook[self.codes(x)]

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Pixel means of p(x | codes): int64 (B, 7, 7) -> (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decode(self.codebook[codes]))

    @torch.no_grad()
    def sample_images(self, n: int, device=None) -> torch.Tensor:
        """Decode n code grids drawn from the uniform prior: pixel means (n, 1, 28, 28)."""
        check_sample_count(n)
        device = device or self.codebook.device
        return self.decode_codes(torch.randint(self.n_codes, (n, *GRID), device=device))

    def _train_codebook_buffers(self, z_e: torch.Tensor, indices: torch.Tensor) -> None:
        """EMA updates and dead-code resets of one training batch (in place, no host sync)."""
        with torch.no_grad():
            counts = code_counts(indices, self.n_codes).to(self.usage.dtype)
            self.usage.mul_(USAGE_DECAY).add_((1 - USAGE_DECAY) * counts / z_e.shape[0])
            if self.codebook_update == "ema":
                cluster_size, embed_sum, codebook = ema_codebook_update(
                    self.cluster_size, self.embed_sum, z_e, indices, self.ema_decay)
                self.cluster_size.copy_(cluster_size)
                self.embed_sum.copy_(embed_sum)
                self.codebook.copy_(codebook)
            if self.dead_code_threshold > 0:
                dead = self.usage < self.dead_code_threshold
                new_codebook = replace_dead_codes(self.codebook, dead, z_e)
                self.codebook.copy_(new_codebook)
                fair_share = GRID[0] * GRID[1] / self.n_codes
                self.usage.copy_(torch.where(dead, torch.full_like(self.usage, fair_share), self.usage))
                if self.codebook_update == "ema":  # restart the moving averages at the new code
                    self.cluster_size.copy_(torch.where(dead, torch.ones_like(self.cluster_size), self.cluster_size))
                    self.embed_sum.copy_(torch.where(dead.unsqueeze(1), new_codebook, self.embed_sum))

    def loss_parts(self, x: torch.Tensor) -> VQParts:
        """The ELBO terms and the VQ loss terms of a batch (see :class:`VQParts`). In training
        mode it also updates the EMA codebook and resets dead codes (when switched on)."""
        z_e = self.encode(x)
        if self.quantizer == "gumbel":
            return self._gumbel_parts(x, z_e)
        straight_through, quantized, indices = vector_quantize(z_e, self.codebook)
        log_likelihood = bernoulli_log_likelihood(self.decode(straight_through), x).mean()
        codebook_loss = (z_e.detach() - quantized).pow(2).sum((1, 2, 3)).mean()
        commitment_loss = (z_e - quantized.detach()).pow(2).sum((1, 2, 3)).mean()
        extra = self.beta * commitment_loss + (1 - self.reconstruction_weight) * log_likelihood  # fit adds -log_likelihood
        if self.codebook_update == "loss":
            extra = extra + self.codebook_weight * codebook_loss
        if self.training:
            self._train_codebook_buffers(z_e, indices)
        kl = torch.full_like(log_likelihood, self.latent_kl)
        return VQParts(log_likelihood - kl, log_likelihood, kl, extra, codebook_loss.detach(),
                       commitment_loss.detach(), indices)

    def _gumbel_parts(self, x: torch.Tensor, z_e: torch.Tensor) -> VQParts:
        logits = -squared_distances(z_e, self.codebook)
        if self.training:
            weights = gumbel_softmax(logits, self.temperature)
            log_q = F.log_softmax(logits, -1)
            kl = (log_q.exp() * (log_q + math.log(self.n_codes))).sum(-1).sum((1, 2))
            indices = logits.argmax(-1)
        else:
            indices = logits.argmax(-1)
            weights = F.one_hot(indices, self.n_codes).to(z_e.dtype)
            kl = torch.full((x.shape[0],), self.latent_kl, device=x.device, dtype=z_e.dtype)
        log_likelihood = bernoulli_log_likelihood(self.decode(weights @ self.codebook), x).mean()
        kl = kl.mean()
        zero = torch.zeros_like(log_likelihood)
        if self.training:
            self._train_codebook_buffers(z_e, indices)
        return VQParts(log_likelihood - kl, log_likelihood, kl, zero, zero, zero, indices)

    def evaluation_parts(self, x: torch.Tensor) -> dict:
        return {"": ELBOParts(*self.loss_parts(x)[:3])}


register_model(VQVAE)


def codebook_fingerprint(model: "VQVAE") -> str:
    """A short hex digest of ``model``'s codebook values (float32 bytes): two models share it only
    if their codebooks are equal, so a code prior can record which VQ-VAE's codes it models."""
    import hashlib

    values = model.codebook.detach().to("cpu", torch.float32).contiguous()
    return hashlib.sha256(values.numpy().tobytes()).hexdigest()[:16]


@torch.no_grad()
def encode_codes(model: VQVAE, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The code grids of float images (N, 1, 28, 28) in [0, 1]: int64 (N, 7, 7) on the CPU."""
    was_training = model.training
    model.eval()
    device = model.codebook.device
    chunks = [model.codes(images[start:start + batch_size].to(device)).cpu()
              for start in range(0, images.shape[0], batch_size)]
    model.train(was_training)
    return torch.cat(chunks)


@torch.no_grad()
def codebook_usage(model: VQVAE, images: torch.Tensor) -> dict:
    """Codebook use on float images (N, 1, 28, 28): {``perplexity`` (1 to K), ``used`` (codes
    chosen at least once), ``dead`` (K - used)}."""
    indices = encode_codes(model, images)
    used = int((~dead_codes(indices, model.n_codes)).sum())
    return dict(perplexity=float(codebook_perplexity(indices, model.n_codes)), used=used,
                dead=model.n_codes - used)
