"""A learned prior over a VQ-VAE's code grids: a small PixelCNN (van den Oord et al. 2016).

p(c) = prod_{i} p(c_i | c_<i) over the H x W positions in raster order (row by row, left to
right), each factor a categorical over the K codes. Masked convolutions make the logits at
position i depend only on earlier positions, so one forward pass gives every factor and
``log_prob`` is exact; ``sample`` draws the positions one after another.

Shapes: code grids are int64 (B, H, W) with values in [0, K); log-probabilities are (B,) nats
per grid. With the uniform prior a grid costs H W log K nats; a trained prior costs fewer.
"""

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .gumbel import check_temperature
from .models import check_latent_count, check_sample_count, check_seed, register_model, seeded_weights
from .settings import by_mode


class MaskedConv2d(nn.Conv2d):
    """A square convolution that sees only earlier positions in raster order.

    mask_type ``"A"`` (first layer) hides the centre too, ``"B"`` (later layers) lets a
    position see its own features, which by then hold only earlier positions' codes."""

    def __init__(self, mask_type: str, in_channels: int, out_channels: int, kernel_size: int):
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        mask = torch.ones_like(self.weight)
        centre = kernel_size // 2
        mask[:, :, centre, centre + (mask_type == "B"):] = 0
        mask[:, :, centre + 1:] = 0
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class CodePrior(nn.Module):
    """PixelCNN prior over (H, W) grids of K codes.

    n_codes: K. height, width: the grid (7 x 7 for the series' VQ-VAE). channels: width of the
    hidden layers. layers: masked 3 x 3 residual blocks after the first 7 x 7 mask-A layer.
    seed: draws the initial weights from this seed without touching the global random state
    (``None``: from it). fitted_to: the :func:`vae_helpers.vq.codebook_fingerprint` of the VQ-VAE
    whose codes the prior models (kept in checkpoints, so that a prior is not scored against
    another model's codes); ``None`` for a prior not tied to one model.
    """

    def __init__(self, n_codes: int, height: int = 7, width: int = 7, channels: int = 64, layers: int = 4,
                 seed: Optional[int] = None, fitted_to: Optional[str] = None):
        super().__init__()
        for name, value in (("n_codes", n_codes), ("height", height), ("width", width),
                            ("channels", channels), ("layers", layers)):
            check_latent_count(name, value)
        check_seed(seed)
        if fitted_to is not None and not isinstance(fitted_to, str):
            raise TypeError(f"fitted_to must be a codebook fingerprint (a str) or None, got {type(fitted_to).__name__}")
        self.fitted_to = fitted_to
        self.config = dict(n_codes=n_codes, height=height, width=width, channels=channels, layers=layers, seed=seed,
                           fitted_to=fitted_to)
        self.n_codes, self.height, self.width = n_codes, height, width
        with seeded_weights(seed):
            self.embed = nn.Embedding(n_codes, channels)
            self.first = MaskedConv2d("A", channels, channels, 7)
            self.blocks = nn.ModuleList(
                nn.Sequential(nn.ReLU(), MaskedConv2d("B", channels, channels, 3), nn.ReLU(),
                              nn.Conv2d(channels, channels, 1))
                for _ in range(layers))
            self.out = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, n_codes, 1))

    def check_fits(self, model, prior_name: str = "the prior", model_name: str = "the VQ-VAE") -> None:
        """Raise ``ValueError`` unless this prior models ``model``'s codes: the same number of codes
        K and a recorded ``fitted_to`` equal to the model's codebook fingerprint."""
        from .vq import codebook_fingerprint

        if self.n_codes != model.n_codes:
            raise ValueError(f"{prior_name} is a prior over {self.n_codes} codes, but {model_name} has {model.n_codes}")
        if self.fitted_to is None:
            raise ValueError(f"{prior_name} does not record which VQ-VAE's codes it models, so it cannot be "
                             f"checked against {model_name}")
        if self.fitted_to != codebook_fingerprint(model):
            raise ValueError(f"{prior_name} was fitted to the codes of another VQ-VAE (codebook {self.fitted_to}), "
                             f"not to {model_name} (codebook {codebook_fingerprint(model)})")

    def check_codes(self, codes: torch.Tensor) -> None:
        """Raise a clear error unless ``codes`` is int64 (B, H, W) with values in [0, K)."""
        if not isinstance(codes, torch.Tensor) or codes.dtype != torch.long:
            raise TypeError(f"expected int64 code grids, got {getattr(codes, 'dtype', type(codes).__name__)}")
        if codes.ndim != 3 or tuple(codes.shape[1:]) != (self.height, self.width):
            raise ValueError(f"expected code grids of shape (B, {self.height}, {self.width}), got {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.n_codes):
            raise ValueError(f"codes must lie in [0, {self.n_codes}), got values from {int(codes.min())} "
                             f"to {int(codes.max())}")

    def logits(self, codes: torch.Tensor) -> torch.Tensor:
        """Logits of p(c_i | c_<i) at every position: int64 (B, H, W) -> (B, K, H, W)."""
        h = self.first(self.embed(codes).permute(0, 3, 1, 2))
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """``prior(codes)`` is ``prior.log_prob(codes)``: int64 (B, H, W) -> (B,) nats per grid."""
        return self.log_prob(codes)

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """log p(c) = sum_i log p(c_i | c_<i): int64 (B, H, W) -> (B,) nats per grid."""
        self.check_codes(codes)
        return -F.cross_entropy(self.logits(codes), codes, reduction="none").sum((1, 2))

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None, temperature: float = 1.0) -> torch.Tensor:
        """n grids drawn position by position from p(c): int64 (n, H, W) on the prior's device.
        ``temperature`` divides the logits (1: the model's own distribution)."""
        check_sample_count(n, "grids")
        check_temperature(temperature, "temperature")
        device = self.embed.weight.device
        codes = torch.zeros(n, self.height, self.width, dtype=torch.long, device=device)
        was_training = self.training
        self.eval()
        for row in range(self.height):
            for column in range(self.width):
                probs = F.softmax(self.logits(codes)[:, :, row, column] / temperature, dim=-1)
                codes[:, row, column] = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(device)
        self.train(was_training)
        return codes

    @property
    def uniform_nats(self) -> float:
        """-log p(c) of every grid under the uniform prior: H W log K nats."""
        return self.height * self.width * math.log(self.n_codes)


register_model(CodePrior)


@torch.no_grad()
def mean_nll(prior: CodePrior, codes: torch.Tensor, batch_size: int = 1000) -> float:
    """-(1/N) sum_n log p(c_n) over int64 grids (N, H, W): nats per grid."""
    was_training = prior.training
    prior.eval()
    device = prior.embed.weight.device
    total = sum(float(-prior.log_prob(codes[start:start + batch_size].to(device)).sum())
                for start in range(0, codes.shape[0], batch_size))
    prior.train(was_training)
    return total / codes.shape[0]


def fit_code_prior(prior: CodePrior, train_codes: torch.Tensor, test_codes: Optional[torch.Tensor] = None, *,
                   epochs: int = 10, batch_size: int = 128, learning_rate: float = 1e-3, seed: int = 0) -> list:
    """Train ``prior`` by maximum likelihood (Adam) on int64 grids (N, H, W).

    epochs: full passes (capped at 2 in smoke mode). Returns one dict per epoch with
    ``train_nll`` (mean over the epoch's batches) and, with ``test_codes``, ``test_nll``, both
    in nats per grid.
    """
    prior.check_codes(train_codes)
    if train_codes.shape[0] == 0:
        raise ValueError("train_codes is empty (0 grids): there is nothing to train on")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a whole number >= 0, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or not (
            math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
    epochs = by_mode(full=epochs, smoke=min(epochs, 2))
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    device = prior.embed.weight.device
    optimizer = torch.optim.Adam(prior.parameters(), lr=learning_rate)
    rows = []
    for epoch in range(1, epochs + 1):
        prior.train()
        order = torch.randperm(train_codes.shape[0], generator=generator)
        total = torch.zeros((), device=device)
        for start in range(0, len(order), batch_size):
            batch = train_codes[order[start:start + batch_size]].to(device)
            loss = -prior.log_prob(batch).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * batch.shape[0]
        row = dict(epoch=epoch, train_nll=float(total) / train_codes.shape[0])
        if test_codes is not None:
            row["test_nll"] = mean_nll(prior, test_codes)
        rows.append(row)
    return rows
