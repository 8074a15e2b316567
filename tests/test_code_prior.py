"""The autoregressive prior over code grids."""

import itertools
import math

import pytest
import torch

import vae_helpers as vh
from vae_helpers.code_prior import CodePrior, MaskedConv2d, fit_code_prior, mean_nll


def all_grids(n_codes, height, width):
    return torch.tensor(list(itertools.product(range(n_codes), repeat=height * width))).view(-1, height, width)


def test_log_prob_sums_to_one_over_every_grid_of_a_tiny_case():
    torch.manual_seed(0)
    prior = CodePrior(n_codes=3, height=2, width=2, channels=8, layers=2)
    with torch.no_grad():
        for parameter in prior.parameters():
            parameter.add_(torch.randn_like(parameter))  # far from uniform
    with torch.no_grad():
        log_probs = prior.log_prob(all_grids(3, 2, 2))
    assert log_probs.shape == (81,)
    assert math.isclose(float(torch.logsumexp(log_probs, 0)), 0.0, abs_tol=1e-5)
    assert float(log_probs.max() - log_probs.min()) > 1.0


def test_the_logits_at_a_position_do_not_depend_on_it_or_on_later_positions():
    torch.manual_seed(0)
    prior = CodePrior(n_codes=5, height=4, width=4, channels=8, layers=3)
    codes = torch.randint(5, (1, 4, 4))
    changed = codes.clone()
    changed[0, 2, 1] = (codes[0, 2, 1] + 1) % 5
    before, after = prior.logits(codes), prior.logits(changed)
    flat_before, flat_after = before.flatten(2)[0], after.flatten(2)[0]
    position = 2 * 4 + 1
    assert torch.allclose(flat_before[:, :position + 1], flat_after[:, :position + 1])
    with pytest.raises(ValueError):
        MaskedConv2d("C", 1, 1, 3)


def test_sampling_follows_the_prior_on_a_tiny_case():
    torch.manual_seed(0)
    prior = CodePrior(n_codes=2, height=1, width=2, channels=8, layers=1)
    samples = prior.sample(4000, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (4000, 1, 2) and samples.dtype == torch.long
    grids = all_grids(2, 1, 2)
    probs = prior.log_prob(grids).exp()
    frequencies = torch.stack([(samples == grid).all(-1).all(-1).float().mean() for grid in grids])
    assert torch.allclose(frequencies, probs, atol=0.03)


def test_training_lowers_the_nll_below_the_uniform_prior_and_the_checkpoint_round_trips(tmp_path):
    torch.manual_seed(0)
    codes = torch.randint(2, (512, 7, 7)) * 3  # only codes 0 and 3 of 8: a learnable structure
    prior = CodePrior(n_codes=8, channels=16, layers=2)
    rows = fit_code_prior(prior, codes, codes[:64], epochs=2, batch_size=64)
    assert rows[-1]["test_nll"] < prior.uniform_nats - 49 * math.log(2)
    path = vh.save_checkpoint(prior, tmp_path / "prior.pt")
    loaded = vh.load_checkpoint(path)
    assert math.isclose(mean_nll(loaded, codes[:64]), mean_nll(prior, codes[:64]), rel_tol=1e-6)


def test_bad_codes_are_refused():
    prior = CodePrior(n_codes=4)
    with pytest.raises(ValueError, match="shape"):
        prior.log_prob(torch.zeros(2, 6, 7, dtype=torch.long))
    with pytest.raises(ValueError, match="lie in"):
        prior.log_prob(torch.full((2, 7, 7), 4))
    with pytest.raises(TypeError, match="int64"):
        prior.log_prob(torch.zeros(2, 7, 7))
