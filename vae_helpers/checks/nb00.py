"""Checks for notebook 00's exercises (the data).

The learner's functions run on fresh random inputs made here; references use the package or a
direct count. Failures name the mistake and never print a value.
"""

import torch

from . import ExerciseNotDone, _call, check_function, fresh_generator

__all__ = ["check_binarize_batch", "check_mean_intensity_by_class", "reference_mean_intensity_by_class"]

EXERCISE_1 = "Exercise 1"


def _fail(message: str) -> None:
    raise AssertionError(f"{EXERCISE_1}: {message}")


def _draw(function, intensities, seed):
    output = _call(EXERCISE_1, function, (intensities.clone(), torch.Generator().manual_seed(seed)), "binarize_batch")
    if not isinstance(output, torch.Tensor):
        _fail(f"binarize_batch should return a torch.Tensor, got {type(output).__name__}")
    if tuple(output.shape) != tuple(intensities.shape):
        _fail(f"binarize_batch should keep the shape of its input {tuple(intensities.shape)}, got "
              f"{tuple(output.shape)}")
    if not output.is_floating_point():
        _fail(f"binarize_batch should return floats (zeros and ones) like the intensities, got {output.dtype}")
    return output.detach().to("cpu", torch.float64)


def check_binarize_batch(function) -> None:
    """Exercise 1: ``binarize_batch(intensities, generator)``: float (B, 1, 28, 28) in [0, 1] ->
    float of the same shape in {0, 1}, each pixel drawn independently from Bernoulli(its intensity),
    with the random numbers taken from ``generator``.

    Checked on fresh inputs: values, shape and dtype; pixels at 0 and 1 stay put; the frequency of
    ones matches each intensity within 5 standard errors; pixels are drawn independently; the same
    seeded generator gives the same draw and different seeds different draws."""
    if function is None or function is Ellipsis:
        raise ExerciseNotDone(f"{EXERCISE_1}: no answer yet; assign your function")
    if not callable(function):
        _fail(f"expected a function, got {type(function).__name__}")
    generator = fresh_generator()
    seed = int(torch.randint(0, 2 ** 31 - 1, (1,), generator=generator))
    levels = torch.tensor([0.0, 0.1, 0.3, 0.5, 0.8, 1.0])
    count = 400                                                     # images per level
    intensities = levels.repeat_interleave(count).view(-1, 1, 1, 1).expand(-1, 1, 28, 28).contiguous()
    draw = _draw(function, intensities, seed)
    if not torch.isin(draw, torch.tensor([0.0, 1.0], dtype=torch.float64)).all():
        _fail("the output holds values other than 0 and 1: draw each pixel, do not return probabilities")
    frequencies = draw.view(len(levels), -1).mean(1)
    pixels = count * 784
    inner = levels[1:-1].double()
    if torch.allclose(frequencies[1:-1], (inner >= 0.5).double()) or torch.allclose(frequencies[1:-1], (inner > 0.5).double()):
        _fail("this thresholds the intensities (a fixed rounding), it does not draw from Bernoulli(intensity)")
    if torch.allclose(frequencies, 1 - levels.double(), atol=0.02):
        _fail("the ones come with probability 1 - intensity: compare the uniform draw the other way round")
    per_image = draw.view(len(levels) * count, -1)
    constant_images = (per_image.std(1) == 0)[count:-count].double().mean()
    if constant_images > 0.5:
        _fail("all pixels of an image come out the same: draw one random number per pixel, not per image")
    same_level = per_image.view(len(levels), count, -1)[1:-1]            # images of one intensity, side by side
    repeated = (same_level[:, 1:] == same_level[:, :1]).all(2).double().mean()
    if repeated > 0.5:
        _fail("every image of the batch gets the same pattern of ones: one random number per pixel position is "
              "shared by all the images; draw a separate one for every pixel of every image (the whole "
              "(B, 1, 28, 28) shape), so the images are independent of each other")
    if frequencies[0] != 0 or frequencies[-1] != 1:
        _fail("a pixel of intensity 0 must always give 0 and one of intensity 1 always 1")
    standard_errors = torch.sqrt(inner * (1 - inner) / pixels)
    if ((frequencies[1:-1] - inner).abs() > 5 * standard_errors).any():
        _fail("the frequency of ones does not match the intensities: each pixel should be 1 with probability "
              "equal to its intensity")
    again = _draw(function, intensities, seed)
    if not torch.equal(draw, again):
        _fail("the same seeded generator gives a different draw: take the random numbers from `generator`")
    other = _draw(function, intensities, seed + 1)
    if torch.equal(draw, other):
        _fail("two different seeds give the same draw: the output should be random")
    print(f"{EXERCISE_1}: correct.")


def reference_mean_intensity_by_class(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean intensity in [0, 1] over all pixels of the images of each class: uint8 (N, 1, 28, 28),
    int64 (N,) -> float64 (10,)."""
    pixels = images.to(torch.float64).flatten(1).mean(1) / 255.0
    return torch.stack([pixels[labels == digit].mean() for digit in range(10)])


def _class_inputs(generator: torch.Generator) -> tuple:
    n = int(torch.randint(60, 120, (1,), generator=generator))
    labels = torch.cat([torch.arange(10), torch.randint(0, 10, (n - 10,), generator=generator)])
    labels = labels[torch.randperm(n, generator=generator)]
    ink = torch.rand(10, generator=generator)[labels].view(-1, 1, 1, 1)
    images = (255 * (torch.rand(n, 1, 28, 28, generator=generator) < ink).float()
              * torch.rand(n, 1, 28, 28, generator=generator)).to(torch.uint8)
    return images, labels


def check_mean_intensity_by_class(function) -> None:
    """Exercise 2: ``mean_intensity_by_class(images, labels)`` -> (10,) mean [0, 1] intensity per class."""
    mistakes = (
        (lambda images, labels: reference_mean_intensity_by_class(images, labels) * 255.0,
         "the intensities are not scaled to [0, 1]: divide the uint8 values by 255 (vh.to_unit_interval)"),
        (lambda images, labels: reference_mean_intensity_by_class(images, labels) * 784.0,
         "that is the total ink per image; average over the pixels too"),
        (lambda images, labels: (images.double() / 255).mean().expand(10),
         "every class gets the same number: select the images of each class with labels == digit"),
    )
    check_function("Exercise 2", function, reference_mean_intensity_by_class, _class_inputs, trials=3, rtol=1e-5,
                   atol=1e-7, mistakes=mistakes, name="mean_intensity_by_class")
