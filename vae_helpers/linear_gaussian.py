"""A latent-variable model whose evidence and posterior are known in closed form.

Generative model: p(z) = N(0, I_d), p(x|z) = N(W z + b, s^2 I_D). Then

    p(x)   = N(b, W W^T + s^2 I_D)
    p(z|x) = N(S W^T (x - b) / s^2, S),  S = (I_d + W^T W / s^2)^{-1}.

So log p(x), the true posterior and KL(q || p(z|x)) can be computed exactly, and the ELBO
and importance-weighted bounds of :mod:`vae_helpers.losses` checked against them.
"""

import math

import torch
from torch.distributions import MultivariateNormal, kl_divergence


class LinearGaussianModel:
    """p(z) = N(0, I_d), p(x|z) = N(weight z + bias, noise_std^2 I_D).

    weight: (D, d); bias: (D,); noise_std: s > 0. All computations in float64.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, noise_std: float):
        if weight.ndim != 2 or bias.shape != (weight.shape[0],):
            raise ValueError(f"expected weight (D, d) and bias (D,), got {tuple(weight.shape)} and {tuple(bias.shape)}")
        if not noise_std > 0:
            raise ValueError(f"noise_std must be > 0, got {noise_std}")
        self.weight, self.bias = weight.double(), bias.double()
        self.noise_std = float(noise_std)
        self.data_dim, self.latent_dim = weight.shape

    @classmethod
    def random(cls, latent_dim: int = 2, data_dim: int = 5, noise_std: float = 0.5, seed: int = 0):
        """A model with standard-normal weight and bias entries drawn from ``seed``."""
        generator = torch.Generator().manual_seed(seed)
        weight = torch.randn(data_dim, latent_dim, generator=generator, dtype=torch.float64)
        bias = torch.randn(data_dim, generator=generator, dtype=torch.float64)
        return cls(weight, bias, noise_std)

    def prior(self, batch_size: int = 1, device=None) -> MultivariateNormal:
        """p(z) = N(0, I_d), batch shape (batch_size,)."""
        zeros = torch.zeros(batch_size, self.latent_dim, dtype=torch.float64, device=device)
        return MultivariateNormal(zeros, torch.eye(self.latent_dim, dtype=torch.float64, device=device))

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x|z): x (B, D), z (B, d) -> (B,) nats."""
        mean = z.double() @ self.weight.T + self.bias
        variance = self.noise_std ** 2
        return (-0.5 * (x.double() - mean).pow(2) / variance
                - 0.5 * math.log(2 * math.pi * variance)).sum(-1)

    def marginal(self) -> MultivariateNormal:
        """p(x) = N(b, W W^T + s^2 I) as a distribution over x (D,)."""
        covariance = self.weight @ self.weight.T + self.noise_std ** 2 * torch.eye(self.data_dim, dtype=torch.float64)
        return MultivariateNormal(self.bias, covariance)

    def log_evidence(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x): x (B, D) -> (B,) nats."""
        return self.marginal().log_prob(x.double())

    def true_posterior(self, x: torch.Tensor) -> MultivariateNormal:
        """Exact p(z|x) for each row of x (B, D): batch shape (B,), event shape (d,)."""
        precision = torch.eye(self.latent_dim, dtype=torch.float64) + self.weight.T @ self.weight / self.noise_std ** 2
        covariance = torch.linalg.inv(precision)
        loc = (x.double() - self.bias) @ self.weight @ covariance / self.noise_std ** 2
        return MultivariateNormal(loc, covariance.expand(x.shape[0], -1, -1))

    def exact_elbo(self, x: torch.Tensor, q: MultivariateNormal) -> torch.Tensor:
        """The ELBO E_q[log p(x|z)] - KL(q || p(z)) with no Monte Carlo: (B,) nats.

        For q = N(m, C): E_q ||x - W z - b||^2 = ||x - W m - b||^2 + trace(W C W^T).
        """
        variance = self.noise_std ** 2
        residual = (x.double() - q.loc @ self.weight.T - self.bias).pow(2).sum(-1)
        spread = torch.einsum("ij,bjk,ik->b", self.weight, q.covariance_matrix, self.weight)
        expected_log_likelihood = (-(residual + spread) / (2 * variance)
                                   - 0.5 * self.data_dim * math.log(2 * math.pi * variance))
        return expected_log_likelihood - kl_divergence(q, self.prior(x.shape[0]))

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """n draws of x from p(x) = integral p(x|z) p(z) dz: (n, D)."""
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=torch.float64)
        noise = torch.randn(n, self.data_dim, generator=generator, dtype=torch.float64)
        return z @ self.weight.T + self.bias + self.noise_std * noise


class LinearGaussianVAE:
    """The linear-Gaussian model paired with a chosen approximate posterior q(z|x).

    posterior_fn: function x (B, D) -> a MultivariateNormal (or any distribution with
    ``rsample``/``sample``/``log_prob``) with batch shape (B,) and event shape (d,). It
    satisfies the model protocol of :func:`vae_helpers.losses.elbo` and ``iwae_bound``.
    """

    def __init__(self, model: LinearGaussianModel, posterior_fn):
        self.model, self.posterior_fn = model, posterior_fn

    def posterior(self, x: torch.Tensor):
        return self.posterior_fn(x)

    def prior(self, batch_size: int, device=None) -> MultivariateNormal:
        return self.model.prior(batch_size, device)

    def draw_latent(self, posterior) -> torch.Tensor:
        return posterior.rsample()

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.model.log_likelihood(x, z)

    def kl_to_prior(self, posterior) -> torch.Tensor:
        return kl_divergence(posterior, self.model.prior(posterior.batch_shape[0]))
