"""Notebook 00's exercises: right answers pass, known wrong methods fail with a message that names
the mistake and holds no number, and nbgrader grades the notebook as a course would."""

import numpy as np
import pytest
import torch

import vae_helpers as vh
from tests.exercises.support import expect_failure, expect_pass, nbgrader_round_trip
from vae_helpers.checks import nb00


def binarize_batch(intensities, generator):
    return (torch.rand(intensities.shape, generator=generator) < intensities).to(intensities.dtype)


def mean_intensity_by_class(images, labels):
    pixels = vh.to_unit_interval(images)
    return torch.stack([pixels[labels == digit].mean() for digit in range(10)])


def test_right_answers_pass():
    expect_pass(nb00.check_binarize_batch, binarize_batch)
    expect_pass(nb00.check_binarize_batch, lambda x, generator: torch.bernoulli(x, generator=generator))
    expect_pass(nb00.check_binarize_batch, lambda x, generator: torch.bernoulli(x.double(), generator=generator))
    expect_pass(nb00.check_mean_intensity_by_class, mean_intensity_by_class)

    def in_float64(images, labels):
        pixels = images.double() / 255
        return torch.stack([pixels[labels == digit].mean() for digit in range(10)])

    expect_pass(nb00.check_mean_intensity_by_class, in_float64)


def test_unfinished_answers_say_so():
    expect_failure(nb00.check_binarize_batch, None, says="no answer yet")
    expect_failure(nb00.check_mean_intensity_by_class, None, says="no answer yet")

    def not_written(*arguments):
        raise NotImplementedError()

    expect_failure(nb00.check_binarize_batch, not_written, says="not written yet")


@pytest.mark.parametrize("wrong, says", [
    (lambda x, g: (x > 0.5).to(x.dtype), "thresholds"),
    (lambda x, g: (x >= 0.5).to(x.dtype), "thresholds"),
    (lambda x, g: x.round(), "thresholds"),
    (lambda x, g: x, "values other than 0 and 1"),
    (lambda x, g: (torch.rand(x.shape, generator=g) > x).to(x.dtype), "1 - intensity"),
    (lambda x, g: (torch.rand(x.shape[0], 1, 1, 1, generator=g) < x).to(x.dtype), "per pixel, not per image"),
    (lambda x, g: (torch.rand(x.shape[1:], generator=g) < x).to(x.dtype), "shared by all the images"),
    (lambda x, g: (torch.rand(1, 1, 28, 28, generator=g) < x).to(x.dtype), "shared by all the images"),
    (lambda x, g: torch.bernoulli(x), "take the random numbers from `generator`"),
    (lambda x, g: (torch.rand(x.shape, generator=g) < x), "floats"),
    (lambda x, g: torch.bernoulli(x, generator=g)[:, 0], "shape"),
    (lambda x, g: torch.bernoulli(x, generator=g).numpy(), "torch.Tensor"),
    (lambda x, g: (torch.rand(x.shape, generator=g) < x ** 2).to(x.dtype), "does not match the intensities"),
    (lambda x, g: torch.bernoulli(x, generator=torch.Generator().manual_seed(0)), "different seeds"),
])
def test_wrong_binarizations_are_named(wrong, says):
    expect_failure(nb00.check_binarize_batch, wrong, says=says)


@pytest.mark.parametrize("wrong, says", [
    (lambda images, labels: torch.stack([images[labels == d].double().mean() for d in range(10)]), "scaled to [0, 1]"),
    (lambda images, labels: torch.stack([(images[labels == d].double() / 255).flatten(1).sum(1).mean()
                                         for d in range(10)]), "total ink"),
    (lambda images, labels: (images.double() / 255).mean().expand(10), "same number"),
    (lambda images, labels: torch.full((10,), 0.1), "Exercise 2"),
    (lambda images, labels: torch.stack([(images[labels == d].double() / 255).mean() for d in range(9)]), "shape"),
    (lambda images, labels: np.zeros(10), "torch.Tensor"),
])
def test_wrong_class_means_are_named(wrong, says):
    expect_failure(nb00.check_mean_intensity_by_class, wrong, says=says)


def test_nbgrader_grades_the_notebook(tmp_path):
    wrong = ("# Exercise 1: write binarize_batch(intensities, generator)\n"
             "def binarize_batch(intensities, generator):\n"
             "    return (intensities > 0.5).to(intensities.dtype)\n")
    nbgrader_round_trip("00_start_here.ipynb", 1, wrong, tmp_path)
