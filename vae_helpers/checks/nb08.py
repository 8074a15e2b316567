"""Checks of notebook 08's exercises (estimating log p(x) with importance weighting).

Each check runs the learner's function on fresh random inputs and compares it with the
package's reference (``log_mean_exp``, the core of ``vh.iwae_bound``; the log importance
weights of a random Gaussian VAE; a linear-Gaussian model's exact ``log_evidence``), so a copied
number or variable cannot pass. Known wrong methods are recognised and named; no failure prints
a number.
"""

import torch

from ..linear_gaussian import LinearGaussianModel
from ..losses import log_mean_exp
from ..models import GaussianVAE
from . import _call, function_name, check_function, check_tensor_quietly

__all__ = ["check_importance_weighted_bound", "check_bound_is_stable", "check_log_weights",
           "check_bound_with_true_posterior"]

HALF_PRECISION = (torch.float16, torch.bfloat16)


def reference_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """L_k per image from log weights (k, B): logsumexp over the k draws minus log k, (B,) nats."""
    return log_mean_exp(log_weights, dim=0)


def _bound_mistakes():
    return [
        (lambda w: torch.logsumexp(w, dim=0), "the -log k is missing: that is the log of the sum of the weights, "
                                              "not of their mean"),
        (lambda w: w.mean(dim=0), "that is the mean of the log weights (an ELBO estimate), not the log of the "
                                  "mean weight"),
        (lambda w: w.max(dim=0).values, "that is the largest log weight, not the log of the mean weight"),
        (lambda w: w.max(dim=0).values - torch.log(torch.tensor(float(w.shape[0]), dtype=w.dtype)),
         "that keeps only the largest weight: add the others too (logsumexp)"),
    ]


def _refuse_package_and_half_precision(exercise: str, function, name: str) -> None:
    """Exercise 1 asks for the bound itself: calling the package's log_mean_exp is refused, and so
    is a half-precision answer (its rounding is larger than any tolerance a bound can use)."""
    probe = torch.zeros(3, 2, dtype=torch.float64)
    output = _call(exercise, function, (probe,), name, forbidden=(log_mean_exp,))  # caught however it is reached
    if isinstance(output, torch.Tensor) and output.dtype in HALF_PRECISION:
        raise AssertionError(f"{exercise}: {name} returns a half-precision ({output.dtype}) tensor; compute in "
                             "the dtype of the log weights (float32 or float64)")


def _moderate_log_weights(generator: torch.Generator) -> tuple:
    k = int(torch.randint(3, 12, (), generator=generator))
    batch = int(torch.randint(2, 9, (), generator=generator))
    batch += batch == k  # k != B, so a reduction over the wrong dimension changes the shape
    return (3 * torch.randn(k, batch, generator=generator, dtype=torch.float64),)


def check_importance_weighted_bound(function) -> None:
    """Exercise 1, first point: ``importance_weighted_bound(log_weights) -> (B,)`` from log
    weights of shape (k, B), on fresh moderate log weights (where even exp() is safe): the value,
    the shape (a reduction over the batch instead of the k draws gives the wrong shape) and the
    gradient (the normalised weights). Missing -log k, the mean of the log weights and the
    largest log weight are named; a call of the package's ``log_mean_exp`` and a half-precision
    answer are refused."""
    exercise = "Exercise 1"
    _refuse_package_and_half_precision(exercise, function, function_name(exercise, function))
    check_function(exercise, function, reference_bound, _moderate_log_weights, trials=4, rtol=1e-6,
                   atol=1e-8, gradient_of=(0,), mistakes=_bound_mistakes(),
                   hint="L_k = log of the MEAN of the k weights exp(log w_i), one value per image (column)")


def check_bound_is_stable(function) -> None:
    """Exercise 1, second point: the same function on log weights of the size real images have,
    where exp() underflows to 0: float32 log weights around -150 nats (float32's exp() is 0 below
    about -104) and float64 ones around -800 (float64's exp() is 0 below about -745). The answer
    must be finite and right; the naive log(mean(exp(log w))) gives -inf here and is named."""
    exercise = "Exercise 1"
    name = function_name(exercise, function)
    _refuse_package_and_half_precision(exercise, function, name)
    generator = torch.Generator().manual_seed(8)
    for centre, dtype in ((-150.0, torch.float32), (-800.0, torch.float64)):
        log_weights = (centre + 5 * torch.randn(7, 4, generator=generator, dtype=torch.float64)).to(dtype)
        output = _call(exercise, function, (log_weights.clone(),), name)
        if not isinstance(output, torch.Tensor):
            raise AssertionError(f"{exercise}: {name} should return a torch.Tensor, got {type(output).__name__}")
        if not torch.isfinite(output.detach()).all():
            raise AssertionError(f"{exercise}: {name} is not finite for log weights of the size real images have "
                                 f"({dtype}): exponentiating them underflows to 0 before the log. Subtract the "
                                 "largest log weight first, or use torch.logsumexp")
        reference = reference_bound(log_weights.double())
        wrong_outputs = [(wrong(log_weights.double()), message) for wrong, message in _bound_mistakes()]
        check_tensor_quietly(exercise, output, reference, 1e-9, 1e-6, wrong_outputs,
                             "compute it in log space", f"{name}'s output")
    print(f"{exercise}: correct.")


def reference_log_weights(model, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """log w = log p(x|z) + log p(z) - log q(z|x) for draws z (k, B, D) of the images x
    (B, 1, 28, 28): (k, B) nats. Draw i of image b is scored against image b."""
    k, batch = z.shape[:2]
    posterior = model.posterior(x)
    prior = model.prior(batch, x.device)
    repeated = x.expand(k, *x.shape).reshape(k * batch, *x.shape[1:])
    log_likelihood = model.log_likelihood(repeated, z.reshape(k * batch, -1)).view(k, batch)
    return log_likelihood + prior.log_prob(z) - posterior.log_prob(z)


def _random_vae_and_draws(generator: torch.Generator) -> tuple:
    """A small random Gaussian VAE (its weights drawn from ``generator``, torch's global generator
    untouched), binary images x (B, 1, 28, 28) and draws z (k, B, D) from its q(z|x), with k != B."""
    latent = int(torch.randint(2, 7, (), generator=generator))
    batch = int(torch.randint(2, 6, (), generator=generator))
    k = int(torch.randint(2, 7, (), generator=generator))
    k += k == batch
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31, (), generator=generator)))
        model = GaussianVAE(latent_dim=latent, hidden_dims=(32,)).double().eval()
    x = torch.bernoulli(torch.rand(batch, 1, 28, 28, generator=generator, dtype=torch.float64), generator=generator)
    with torch.no_grad():
        loc, log_var = model.encode(x)
        z = loc + torch.exp(0.5 * log_var) * torch.randn(k, batch, latent, generator=generator, dtype=torch.float64)
    return model, x, z


def _log_weight_mistakes():
    def parts(model, x, z):
        k, batch = z.shape[:2]
        repeated = x.expand(k, *x.shape).reshape(k * batch, *x.shape[1:])
        log_likelihood = model.log_likelihood(repeated, z.reshape(k * batch, -1)).view(k, batch)
        return log_likelihood, model.prior(batch).log_prob(z), model.posterior(x).log_prob(z)

    def mismatched(model, x, z):
        k, batch = z.shape[:2]
        repeated = x.repeat_interleave(k, dim=0)  # draw i of image b scored against the wrong image
        log_likelihood = model.log_likelihood(repeated, z.reshape(k * batch, -1)).view(k, batch)
        return log_likelihood + model.prior(batch).log_prob(z) - model.posterior(x).log_prob(z)

    def analytic_kl(model, x, z):
        log_likelihood, _, _ = parts(model, x, z)
        return log_likelihood - model.kl_to_prior(model.posterior(x))

    return [
        (lambda m, x, z: parts(m, x, z)[0] - parts(m, x, z)[2], "the prior term log p(z) is missing"),
        (lambda m, x, z: parts(m, x, z)[0] + parts(m, x, z)[1], "the proposal term -log q(z|x) is missing"),
        (lambda m, x, z: parts(m, x, z)[0] + parts(m, x, z)[1] + parts(m, x, z)[2],
         "log q(z|x) has the wrong sign: the weight is p(x, z) / q(z|x)"),
        (lambda m, x, z: parts(m, x, z)[0], "that is log p(x|z) alone: the weight also holds p(z) / q(z|x)"),
        (analytic_kl, "that subtracts the analytic KL(q || p(z)), which gives an ELBO estimate per draw, not "
                      "the weight of that draw: use log p(z) - log q(z|x) at the draw itself"),
        (mismatched, "draws are scored against the wrong images: draw i of image b must go with image b "
                     "(repeat the batch k times, in order, as x.expand(k, ...) does)"),
    ]


def check_log_weights(function) -> None:
    """Exercise 2: ``log_weights(model, x, z) -> (k, B)``: log p(x|z) + log p(z) - log q(z|x) of a
    Gaussian VAE for draws z (k, B, D) of the images x (B, 1, 28, 28), on fresh random small VAEs,
    images and draws: the value, the shape and the gradient with respect to z (an IWAE trains
    through it). A missing prior or proposal term, a wrong sign, the analytic KL in place of the
    per-draw terms and draws paired with the wrong images are named."""
    check_function("Exercise 2", function, reference_log_weights, _random_vae_and_draws, trials=3, rtol=1e-6,
                   atol=1e-6, gradient_of=(2,), mistakes=_log_weight_mistakes(),
                   hint="log w = log p(x|z) + log p(z) - log q(z|x), one value per draw and image")


class _NoClosedForm(LinearGaussianModel):
    """The exercise's model: its closed-form evidence and ELBO are switched off, so the bound must
    come from importance weights with the true posterior as q."""

    def _refuse(self, *arguments, **options):
        raise RuntimeError("Exercise 3 asks for L_k from importance weights with the true posterior as q "
                           "(vh.iwae_bound), not for the closed-form log p(x) or ELBO")

    log_evidence = exact_elbo = marginal = _refuse


def _linear_model_and_point(generator: torch.Generator) -> tuple:
    seed = int(torch.randint(0, 10**6, (), generator=generator))
    model = LinearGaussianModel.random(latent_dim=2, data_dim=5, noise_std=0.5, seed=seed)
    guarded = _NoClosedForm(model.weight, model.bias, model.noise_std)
    return guarded, model.sample(3, seed=seed + 1), int(torch.randint(2, 6, (), generator=generator))


def _closed_form(model: LinearGaussianModel) -> LinearGaussianModel:
    return LinearGaussianModel(model.weight, model.bias, model.noise_std)


def check_bound_with_true_posterior(function) -> None:
    """Exercise 3: ``bound_with_true_posterior(model, x, k) -> (B,)``: L_k of a linear-Gaussian
    ``model`` at points x (B, 5) when q(z|x) is the model's exact posterior. Checked on fresh
    random models, points and k against the closed-form log p(x), on a model whose own
    ``log_evidence``, ``exact_elbo`` and ``marginal`` refuse to run; and at k = 1, where the single
    weight must already equal p(x) (with q = p(z|x) every weight does). A copy of
    ``exact_log_evidence`` (another model, another point) cannot pass."""
    def reference(model, x, k):
        return _closed_form(model).log_evidence(x)

    def exact_elbo_of_imperfect_q(model, x, k):
        true = model.true_posterior(x)
        imperfect = torch.distributions.MultivariateNormal(true.loc + 0.3, 2.0 * true.covariance_matrix)
        return _closed_form(model).exact_elbo(x, imperfect)

    generator = torch.Generator().manual_seed(11)
    model, points, _ = _linear_model_and_point(generator)
    one_draw = [((model, points, 1), reference(model, points, 1),
                 "with k = 1 the bound is one log weight, and with the true posterior as q every single weight "
                 "p(x, z)/q(z|x) is the same number: your k = 1 value is not it")]
    check_function("Exercise 3", function, reference, _linear_model_and_point, trials=3, rtol=1e-4, atol=1e-4,
                   cases=one_draw,
                   mistakes=[(exact_elbo_of_imperfect_q, "that is the ELBO of section 2's imperfect encoder: "
                                                        "use the model's true posterior as q")],
                   hint="with q = p(z|x) every weight p(x, z)/q(z|x) is the same number; which one?")
