"""A conditional VAE: the digit label y is given to both the encoder and the decoder.

Model (Kingma et al. 2014, Sohn et al. 2015)::

    p(z) = N(0, I)                      the prior does not depend on y
    p(x|z, y) = decoder([z, onehot(y)])     logits (B, 1, 28, 28)
    q(z|x, y) = N(loc, diag(exp(log_var))), (loc, log_var) = encoder([flatten(x), onehot(y)])

so the ELBO is a lower bound on log p(x|y), in nats per image::

    log p(x|y) >= E_{q(z|x,y)}[log p(x|z,y)] - KL(q(z|x,y) || p(z)).

The label enters as a one-hot vector of ``n_classes`` entries concatenated to the flattened
image (784 pixels) at the encoder's input and to z (``latent_dim`` numbers) at the decoder's
input. With the weights that read the one-hot vector set to zero, the model is exactly a
:class:`~vae_helpers.models.GaussianVAE` with the same hidden widths.

Images go in as float (B, 1, 28, 28) in [0, 1]; labels as int64 (B,) class indices
0 to n_classes - 1; codes z are (B, latent_dim). The class follows the protocol that
:func:`~vae_helpers.losses.elbo`, :func:`~vae_helpers.losses.iwae_bound` and
:func:`~vae_helpers.training.fit` use for a model with ``uses_labels = True``::

    vh.elbo(model, x, y=labels)
    vh.iwae_bound(model, x, k, y=labels)
    vh.fit(model, train.images, test.images, train_labels=train.labels, test_labels=test.labels)
"""

from typing import Optional

import torch
import torch.nn.functional as F
from torch.distributions import Independent, Normal

from .losses import ELBOParts, bernoulli_log_likelihood, elbo, gaussian_kl, gaussian_log_likelihood
from .models import (PIXELS, ImageModel, check_model_options, check_seed, hidden_widths, image_decoder, mlp,
                     check_latent_count, register_model, seeded_weights)


@register_model
class ConditionalVAE(ImageModel):
    """Gaussian VAE conditioned on a class label: q(z|x, y), p(x|z, y), p(z) = N(0, I).

    latent_dim: D. hidden_dims: widths of the encoder's hidden layers (the decoder mirrors
    them). n_classes: number of labels (10 for digits). likelihood: ``"bernoulli"`` (default)
    or ``"gaussian"`` with fixed per-pixel ``gaussian_variance``. Only the MLP architecture
    exists: the one-hot label is concatenated to the flattened image. seed: draws the initial
    weights from this seed without touching the global random state (``None``: from it).

    Networks: ``encoder``: (B, 784 + n_classes) -> (B, 2 D), the first D outputs are loc and
    the last D are log_var. ``decoder``: (B, D + n_classes) -> logits (B, 1, 28, 28). The
    first linear layer of each reads the image (or z) in its first columns and the one-hot
    label in its last ``n_classes`` columns.
    """

    uses_labels = True

    def __init__(self, latent_dim: int = 20, hidden_dims=(400,), n_classes: int = 10,
                 likelihood: str = "bernoulli", gaussian_variance: float = 0.5, seed: Optional[int] = None):
        hidden_dims = hidden_widths(hidden_dims)
        check_model_options(hidden_dims, "mlp", likelihood, gaussian_variance)
        check_latent_count("latent_dim", latent_dim)
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
            raise ValueError(f"n_classes must be a whole number >= 2, got {n_classes!r}")
        check_seed(seed)
        super().__init__(dict(latent_dim=latent_dim, hidden_dims=hidden_dims, n_classes=n_classes,
                              likelihood=likelihood, gaussian_variance=gaussian_variance, seed=seed))
        self.latent_dim, self.n_classes = latent_dim, n_classes
        with seeded_weights(seed):
            self.encoder = mlp(PIXELS + n_classes, hidden_dims, 2 * latent_dim)
            self.decoder = image_decoder("mlp", latent_dim + n_classes, hidden_dims)

    # ------------------------------------------------------------------ labels

    def check_labels(self, y: torch.Tensor, batch_size: int) -> None:
        """Raise a clear error unless y is an int64 tensor of shape (batch_size,) with values
        0 to n_classes - 1."""
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"expected labels as a torch.Tensor of int64 class indices, got {type(y).__name__}")
        if y.dtype != torch.int64:
            raise TypeError(f"expected labels of dtype torch.int64 (class indices 0-{self.n_classes - 1}), "
                            f"got {y.dtype}")
        if y.shape != (batch_size,):
            raise ValueError(f"expected labels of shape ({batch_size},), one per image, got {tuple(y.shape)}")
        if batch_size and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            raise ValueError(f"labels must be class indices 0-{self.n_classes - 1}, got values from "
                             f"{int(y.min())} to {int(y.max())}")

    def one_hot(self, y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Labels (B,) -> one-hot rows (B, n_classes) with the dtype and device of ``like``,
        after checking them against ``like``'s batch size."""
        self.check_labels(y, like.shape[0])
        return F.one_hot(y.to(like.device), self.n_classes).to(like.dtype)

    # ------------------------------------------------------------------ inference network q(z|x, y)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> tuple:
        """(B, 1, 28, 28) images and (B,) labels -> (loc, log_var), each (B, D)."""
        self.check_input(x)
        inputs = torch.cat([x.flatten(1), self.one_hot(y, x)], dim=1)
        loc, log_var = self.encoder(inputs).chunk(2, dim=-1)
        return loc, log_var

    def posterior(self, x: torch.Tensor, y: torch.Tensor) -> Independent:
        """q(z|x, y) with batch shape (B,) and event shape (D,)."""
        loc, log_var = self.encode(x, y)
        return Independent(Normal(loc, torch.exp(0.5 * log_var)), 1)

    def draw_latent(self, posterior: Independent) -> torch.Tensor:
        """Reparameterised z = loc + scale * eps, eps ~ N(0, I): (B, D), differentiable."""
        return posterior.rsample()

    def most_likely_latent(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The posterior mean loc(x, y), (B, D)."""
        return self.encode(x, y)[0]

    # ------------------------------------------------------------------ generative model p(z) p(x|z, y)

    def prior(self, batch_size: int, device=None) -> Independent:
        """p(z) = N(0, I) with batch shape (batch_size,) and event shape (D,); it ignores y."""
        zeros = torch.zeros(batch_size, self.latent_dim, device=device)
        return Independent(Normal(zeros, torch.ones_like(zeros)), 1)

    def kl_to_prior(self, posterior: Independent) -> torch.Tensor:
        """Closed-form KL(q(z|x, y) || N(0, I)) per image, (B,) nats."""
        normal = posterior.base_dist
        return gaussian_kl(normal.loc, 2 * torch.log(normal.scale))

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z (B, D) and labels (B,) -> logits (B, 1, 28, 28) of p(x|z, y)."""
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"expected codes z of shape (B, {self.latent_dim}), got {tuple(z.shape)}")
        return self.decoder(torch.cat([z, self.one_hot(y, z)], dim=1))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p(x|z, y) per image, (B,) nats (Bernoulli on the logits, or Gaussian with mean
        sigmoid(logits) and variance ``gaussian_variance``)."""
        logits = self.decode(z, y)
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(logits, x)
        return gaussian_log_likelihood(torch.sigmoid(logits), x, self.gaussian_variance)

    # ------------------------------------------------------------------ objective and helpers

    def loss_parts(self, x: torch.Tensor, y: torch.Tensor) -> ELBOParts:
        """The conditional ELBO (a bound on log p(x|y)) and its terms, batch means in nats per image."""
        return elbo(self, x, y=y)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Pixel means of p(x | z = loc(x, y), y): (B, 1, 28, 28) in [0, 1]."""
        return torch.sigmoid(self.decode(self.most_likely_latent(x, y), y))

    @torch.no_grad()
    def sample_images(self, labels: torch.Tensor, device=None) -> torch.Tensor:
        """One image per requested label: decode z ~ p(z) with label ``labels[i]``.

        labels: int64 (n,) class indices. Returns pixel means (n, 1, 28, 28) in [0, 1].
        """
        device = device or next(self.parameters()).device
        if not isinstance(labels, torch.Tensor):
            raise TypeError(f"expected labels as a torch.Tensor of int64 class indices, got {type(labels).__name__}")
        if labels.ndim != 1:
            raise ValueError(f"expected labels of shape (n,), one per image to draw, got {tuple(labels.shape)}")
        z = self.prior(labels.shape[0], device).sample()
        return torch.sigmoid(self.decode(z, labels.to(device)))

    def label_weights(self) -> tuple:
        """The two weight matrices that read the one-hot label: the encoder's first layer's last
        n_classes columns, (H_1, n_classes), and the decoder's first layer's last n_classes
        columns, (H_last, n_classes). Views: zeroing them makes the model ignore y."""
        encoder_first = self.encoder[0]
        decoder_first = self.decoder[0][0]
        return encoder_first.weight[:, PIXELS:], decoder_first.weight[:, self.latent_dim:]


__all__ = ["ConditionalVAE"]
