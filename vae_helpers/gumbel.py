"""The Gumbel distribution, the Gumbel-max trick and its softmax relaxation.

A standard Gumbel variable (location 0, scale 1) has cdf F(g) = exp(-exp(-g)) and
pdf f(g) = exp(-(g + exp(-g))); it is drawn as g = -log(-log u) with u ~ Uniform(0, 1).
Gumbel-max: argmax_k (logits_k + g_k) is distributed as Categorical(softmax(logits)).
Gumbel-softmax: softmax((logits + g) / tau), a point on the simplex that tends to
that one-hot sample as the temperature tau -> 0.
"""

import math
import numbers
from typing import Callable, Optional

import torch
import torch.nn.functional as F


def gumbel_pdf(g: torch.Tensor, loc: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    """Density of Gumbel(loc, scale): (1/scale) exp(-(t + exp(-t))), t = (g - loc) / scale."""
    t = (g - loc) / scale
    return torch.exp(-(t + torch.exp(-t))) / scale


def gumbel_cdf(g: torch.Tensor, loc: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    """Cumulative distribution of Gumbel(loc, scale): exp(-exp(-(g - loc) / scale))."""
    return torch.exp(-torch.exp(-(g - loc) / scale))


def sample_gumbel(shape, device=None, dtype=torch.float32,
                  generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Standard Gumbel noise (location 0, scale 1) of the given shape.

    Uses -log(-log u) with u drawn from the open interval (0, 1): u is clamped away from
    0 and 1 by the dtype's smallest step, so the result is always finite.
    """
    if not dtype.is_floating_point:
        raise TypeError(f"Gumbel noise needs a floating-point dtype, got {dtype}; use float logits")
    u = torch.rand(shape, device=device, dtype=dtype, generator=generator)
    tiny = torch.finfo(dtype).tiny
    u = u.clamp(min=tiny, max=1.0 - torch.finfo(dtype).eps)
    return -torch.log(-torch.log(u))


def gumbel_max_sample(logits: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """One exact categorical sample per row via argmax(logits + Gumbel noise).

    logits: (..., K) unnormalised log-probabilities. Returns int64 indices of shape (...,).
    """
    noise = sample_gumbel(logits.shape, logits.device, logits.dtype, generator)
    return torch.argmax(logits + noise, dim=-1)


def check_temperature(value, name: str = "tau") -> float:
    """``value`` as a float, or a ``ValueError`` unless it is a finite real number > 0
    (not a string, not NaN, not infinite); a one-element float tensor counts as its number."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        value = value.item()
    name = name if name.startswith("temperature") else f"temperature {name}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number > 0, got {value!r} ({type(value).__name__})")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def gumbel_softmax(logits: torch.Tensor, tau: float = 1.0, hard: bool = False,
                   generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Relaxed one-hot sample softmax((logits + g) / tau) along the last dimension.

    logits: (..., K). tau: temperature > 0. Returns (..., K) on the simplex.
    hard=True is the straight-through variant: the forward value is the one-hot
    argmax (an exact Gumbel-max sample), the backward gradient is the soft sample's.
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError("logits must be a floating-point tensor of shape (..., K)")
    check_temperature(tau, "tau")
    noise = sample_gumbel(logits.shape, logits.device, logits.dtype, generator)
    soft = F.softmax((logits + noise) / tau, dim=-1)
    if not hard:
        return soft
    index = soft.argmax(dim=-1, keepdim=True)
    one_hot = torch.zeros_like(soft).scatter_(-1, index, 1.0)
    return one_hot - soft.detach() + soft


def exponential_temperature(tau0: float = 1.0, rate: float = 3e-5, tau_min: float = 0.5,
                            every: int = 1) -> Callable[[int], float]:
    """Schedule tau(step) = max(tau_min, tau0 * exp(-rate * step)) (Jang et al. 2017).

    every: hold tau constant for blocks of this many steps (Jang et al. update every 1000).
    """
    check_temperature(tau0, "tau0")
    check_temperature(tau_min, "tau_min")
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not (math.isfinite(rate) and rate >= 0):
        raise ValueError(f"rate must be a finite number >= 0, got {rate!r}")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a whole number >= 1, got {every!r}")

    def schedule(step: int) -> float:
        held_step = (step // every) * every
        return max(tau_min, tau0 * math.exp(-rate * held_step))

    return schedule


def constant_temperature(tau: float = 1.0) -> Callable[[int], float]:
    """Schedule that always returns ``tau`` (seed 002 trains at tau = 1)."""
    tau = check_temperature(tau, "tau")
    return lambda step: tau
