"""Tests of vae_helpers.classifier: it learns the bundled digits, its summaries match
hand computations, and bad inputs fail with messages that say what was expected."""

import math
import time

import pytest
import torch

import vae_helpers as vh
from vae_helpers import classifier as vc


@pytest.fixture(scope="module")
def digits():
    train = vh.load_dataset("mnist", "train", limit=4000)
    test = vh.load_dataset("mnist", "test", limit=1000)
    return train, test


@pytest.fixture(scope="module")
def trained(digits):
    train, _ = digits
    started = time.perf_counter()
    model = vc.train_classifier(train.images, train.labels, epochs=10, seed=0)
    return model, time.perf_counter() - started


def test_reaches_90_percent_test_accuracy_in_seconds(digits, trained):
    _, test = digits
    model, seconds = trained
    assert vc.accuracy(model, test.images, test.labels) > 0.90
    assert seconds < 120, f"10 epochs on 4,000 digits took {seconds:.1f} s; expected a few seconds"
    assert not model.training


def test_same_seed_gives_same_weights(digits):
    train, _ = digits
    images, labels = train.images[:300], train.labels[:300]
    first = vc.train_classifier(images, labels, epochs=1, seed=3)
    second = vc.train_classifier(images, labels, epochs=1, seed=3)
    for a, b in zip(first.parameters(), second.parameters()):
        assert torch.equal(a, b)


def test_uint8_and_unit_float_inputs_give_the_same_probabilities(digits, trained):
    _, test = digits
    model, _ = trained
    from_uint8 = vc.predict_probs(model, test.images[:50])
    from_float = vc.predict_probs(model, vh.to_unit_interval(test.images[:50]))
    assert from_uint8.shape == (50, 10)
    torch.testing.assert_close(from_uint8, from_float)
    torch.testing.assert_close(from_uint8.sum(1), torch.ones(50))


def test_confidence_and_entropy_match_hand_computations():
    probs = torch.tensor([[1.0] + [0.0] * 9, [0.1] * 10, [0.5, 0.5] + [0.0] * 8])
    torch.testing.assert_close(vc.confidence(probs), torch.tensor([1.0, 0.1, 0.5]))
    torch.testing.assert_close(vc.predictive_entropy(probs), torch.tensor([0.0, math.log(10), math.log(2)]))
    categorical = torch.distributions.Categorical(probs=probs[1:])
    torch.testing.assert_close(vc.predictive_entropy(probs[1:]), categorical.entropy())


def test_sample_quality_score_is_one_for_a_single_class_and_ten_for_confident_balanced_sets():
    class OneHot(torch.nn.Module):
        """Predicts class = (brightest row // 3) with certainty; a stand-in classifier."""

        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            rows = x[:, 0].sum(2).argmax(1) // 3
            return torch.nn.functional.one_hot(rows.clamp(max=9), 10).float() * 50.0

    images = torch.zeros(20, 1, 28, 28)
    for i in range(20):
        images[i, 0, 3 * (i % 10)] = 1.0
    balanced = vc.sample_quality(OneHot(), images)
    assert balanced.class_histogram.tolist() == [2] * 10
    assert abs(balanced.classifier_score - 10.0) < 1e-3
    assert balanced.mean_confidence > 0.999 and balanced.mean_entropy < 1e-3
    single = vc.sample_quality(OneHot(), images[:1].expand(7, -1, -1, -1))
    assert abs(single.classifier_score - 1.0) < 1e-6
    assert single.class_histogram.sum() == 7


def test_bad_inputs_raise_clear_errors(trained):
    model, _ = trained
    with pytest.raises(ValueError, match=r"expected images of shape \(N, 1, 28, 28\), got \(4, 784\)"):
        vc.predict_probs(model, torch.rand(4, 784))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        vc.predict_probs(model, torch.rand(4, 1, 28, 28) * 255)
    with pytest.raises(TypeError, match="uint8"):
        vc.predict_probs(model, torch.zeros(4, 1, 28, 28, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"shape \(N, 10\)"):
        vc.confidence(torch.rand(4, 3))
    with pytest.raises(ValueError, match=r"labels as an int64 tensor of shape \(5,\)"):
        vc.train_classifier(torch.zeros(5, 1, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="class indices 0-9"):
        vc.train_classifier(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 10]))
    with pytest.raises(ValueError, match="at least one image"):
        vc.sample_quality(model, torch.zeros(0, 1, 28, 28))
    with pytest.raises(ValueError, match="epochs"):
        vc.train_classifier(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), torch.tensor([0, 1]), epochs=0)


def test_frechet_distance_matches_an_independent_route_and_is_zero_against_itself(digits, trained):
    train, test = digits
    model, _ = trained
    a, b = test.images[:300], train.images[:400]
    assert abs(vc.frechet_distance(model, a, a)) < 1e-6
    with torch.no_grad():
        fa = model.features(vh.to_unit_interval(a)).double()
        fb = model.features(vh.to_unit_interval(b)).double()
    cov_a, cov_b = torch.cov(fa.T), torch.cov(fb.T)
    # independent route: tr (C_a C_b)^{1/2} = tr (C_a^{1/2} C_b C_a^{1/2})^{1/2}, a symmetric matrix
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    root_trace = torch.linalg.eigvalsh(root_a @ cov_b @ root_a).clamp_min(0).sqrt().sum()
    expected = float(((fa.mean(0) - fb.mean(0)) ** 2).sum() + cov_a.trace() + cov_b.trace() - 2 * root_trace)
    got = vc.frechet_distance(model, a, b)
    assert got > 0
    assert abs(got - expected) < 1e-3 * expected
    assert abs(vc.frechet_distance(model, b, a) - got) < 1e-6 * got
    with pytest.raises(ValueError, match="at least 2 images"):
        vc.frechet_distance(model, a[:1], b)
