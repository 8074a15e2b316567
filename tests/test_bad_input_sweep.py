"""Issue 13's sweep: bad or unusual inputs through the API and the command line, each with the
outcome it must have: the right result, or an exception of a named type whose one-line message
names the problem and is raised by vae_helpers itself (not deep inside torch or Python).

The cases here add to those of tests/test_bad_inputs.py and tests/test_cli_no_lost_work.py; none
repeats one of theirs. Tiny models, 32-image datasets and one epoch keep the file fast.
"""

import math
import re
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np
import pytest
import torch
from torch import nn

import vae_helpers as vh
from vae_helpers.cli import main
from vae_helpers.code_prior import fit_code_prior
from vae_helpers.data import DatasetError, check_pixel_values
from vae_helpers.gumbel import constant_temperature
from vae_helpers.iwae import importance_weighted_bounds, iwae_parts, log_likelihood_estimates
from vae_helpers.losses import nats_to_bits_per_dim

REPOSITORY = Path(__file__).resolve().parents[1]
PACKAGE = REPOSITORY / "vae_helpers"


class Case(NamedTuple):
    """call(where) gives the bad input to the API; either it raises ``raises`` with a message
    matching ``match``, or ``check`` accepts its result."""

    name: str
    call: Callable
    raises: Optional[type] = None
    match: str = ""
    check: Optional[Callable] = None


def error(name, call, raises, match):
    return Case(name, call, raises, match)


def right(name, call, check):
    return Case(name, call, check=check)


class Where(NamedTuple):
    files: Path  # shared, read-only files made once (data folders, checkpoints, notes)
    tmp: Path  # this case's own empty folder


# ----------------------------------------------------------------------------- inputs


def gaussian(**options):
    return vh.GaussianVAE(**{"latent_dim": 2, "hidden_dims": (16,), **options})


def categorical(**options):
    return vh.CategoricalVAE(**{"n_latents": 3, "n_classes": 4, "hidden_dims": (16,), **options})


def conditional(**options):
    return vh.ConditionalVAE(**{"latent_dim": 2, "hidden_dims": (16,), **options})


def autoencoder(**options):
    return vh.Autoencoder(**{"latent_dim": 2, "hidden_dims": (16,), **options})


def vqvae(**options):
    return vh.VQVAE(**{"n_codes": 8, "code_dim": 4, "channels": (4, 8), **options})


def code_prior(**options):
    return vh.CodePrior(**{"n_codes": 4, "channels": 4, "layers": 1, **options})


def digits(n=32):
    return torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def labels(n=32, high=10):
    return torch.randint(0, high, (n,), generator=torch.Generator().manual_seed(1))


def pixels(n=4):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(2))


def with_value(value, n=4):
    x = pixels(n)
    x[0, 0, 0, 0] = value
    return x


def codes(n=4, high=4):
    return torch.randint(0, high, (n, 7, 7), generator=torch.Generator().manual_seed(3))


def fit(model=None, images=None, **options):
    options = {"epochs": 1, "batch_size": 16, "progress": False, "device": "cpu", **options}
    return vh.fit(gaussian() if model is None else model, digits() if images is None else images, **options)


def batches(images=None, n_labels=32, **options):
    return vh.DeviceBatches(digits() if images is None else images, labels(n_labels), **options)


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder: Path, prefix="train", images=None, labels_=None, **raw_files):
    raw = folder / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = np.zeros((4, 28, 28), np.uint8) if images is None else images
    labels_ = np.arange(4) if labels_ is None else labels_
    (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels_))
    for name, content in raw_files.items():
        (raw / name.replace("_", "-").replace("-gz", ".gz")).write_bytes(content)


def make_files(folder: Path) -> None:
    (folder / "notes.txt").write_text("hello notes\n")
    (folder / "empty").mkdir()
    (folder / "tiny.idx").write_bytes(b"\x00\x00")
    write_mnist(folder / "trainonly")
    write_mnist(folder / "badlabels", labels_=np.array([0, 1, 2, 12]))
    write_mnist(folder / "fewlabels", labels_=np.arange(3))
    write_mnist(folder / "smallimages", images=np.zeros((4, 14, 14), np.uint8))
    for name, images_bytes in (("truncated", idx_bytes(np.zeros((4, 28, 28)))[:-100]),
                               ("badmagic", b"\x12\x34" + idx_bytes(np.zeros((4, 28, 28)))[2:]),
                               ("floatidx", idx_bytes(np.zeros((4, 28, 28)), type_code=0x0D))):
        write_mnist(folder / name)
        (folder / name / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(images_bytes)
    write_mnist(folder / "badgz")
    raw = folder / "badgz" / "MNIST" / "raw"
    (raw / "train-images-idx3-ubyte").unlink()
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")

    model = gaussian()
    good = vh.save_checkpoint(model, folder / "good.pt")
    (folder / "empty.pt").write_bytes(b"")
    (folder / "truncated.pt").write_bytes(good.read_bytes()[:200])
    torch.save(model.state_dict(), folder / "state_dict.pt")
    torch.save([1, 2, 3], folder / "list.pt")
    payload = torch.load(good, weights_only=True)
    for name, edit in (("unknown_class", lambda p: p.update(model_class="ResNet")),
                       ("zero_latents", lambda p: p["config"].update(latent_dim=0)),
                       ("unknown_option", lambda p: p["config"].update(dropout=0.5)),
                       ("missing_weight", lambda p: p["state_dict"].pop("decoder.0.0.weight")),
                       ("without_seed", lambda p: p["config"].pop("seed"))):
        edited = {"model_class": payload["model_class"], "config": dict(payload["config"]),
                  "state_dict": dict(payload["state_dict"])}
        edit(edited)
        torch.save(edited, folder / f"{name}.pt")


def same_weights(first, second) -> bool:
    a, b = first.state_dict(), second.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def untrained_and_unchanged(model_and_history) -> bool:
    model, history = model_and_history
    return len(history) == 0 and same_weights(model, vh.GaussianVAE(latent_dim=2, hidden_dims=(16,), seed=0))


def fitted(model, **options):
    return model, fit(model, **options)


def finite(tensor) -> bool:
    return bool(torch.isfinite(tensor).all())


def saved_and_loaded(where: Where) -> bool:
    path = where.tmp / "new" / "deeper" / "model.pt"
    model = gaussian()
    fit(model, checkpoint_path=path)
    return same_weights(vh.load_checkpoint(path), model)


def round_trip(model, where: Where) -> bool:
    loaded = vh.load_checkpoint(vh.save_checkpoint(model, where.tmp / "model.pt"))
    return type(loaded) is type(model) and loaded.config == model.config and same_weights(loaded, model)


def replaced(where: Where) -> bool:
    path = where.tmp / "model.pt"
    vh.save_checkpoint(gaussian(seed=1), path)
    second = gaussian(seed=2)
    return same_weights(vh.load_checkpoint(vh.save_checkpoint(second, path)), second)


# ----------------------------------------------------------------------------- the API cases

API_CASES = [
    # --- datasets and their files
    error("dataset name in capitals", lambda w: vh.load_dataset("MNIST"), ValueError,
          "unknown dataset 'MNIST'; choose one of mnist, fashion-mnist"),
    error("unknown dataset", lambda w: vh.load_dataset("cifar10"), ValueError, "unknown dataset 'cifar10'"),
    error("split 'valid'", lambda w: vh.load_dataset(split="valid"), ValueError, "unknown split 'valid'; choose"),
    error("split 'Train'", lambda w: vh.load_dataset(split="Train"), ValueError, "unknown split 'Train'"),
    error("limit 0", lambda w: vh.load_dataset(limit=0), ValueError, "limit must be a positive whole number, got 0"),
    error("limit -5", lambda w: vh.load_dataset(limit=-5), ValueError, "limit must be a positive whole number"),
    error("limit 2.5", lambda w: vh.load_dataset(limit=2.5), ValueError, "limit must be a positive whole number"),
    error("limit True", lambda w: vh.load_dataset(limit=True), ValueError, "limit must be .* got True"),
    error("limit '10'", lambda w: vh.load_dataset(limit="10"), ValueError, "limit must be .* got '10'"),
    error("a root that does not exist", lambda w: vh.load_dataset(root=w.files / "missing"), DatasetError,
          r"no mnist train data in the folder you named: looked for train-images-idx3-ubyte\[.gz\]"),
    error("a root that is a file", lambda w: vh.load_dataset(root=w.files / "notes.txt"), DatasetError,
          "in the folder you named: looked for .* in .*notes.txt/MNIST/raw"),
    error("a root with train files only, test split (leakage)",
          lambda w: vh.load_dataset(split="test", root=w.files / "trainonly"), DatasetError,
          "is incomplete: it holds train-images-idx3-ubyte, train-labels-idx1-ubyte but not t10k-images"),
    right("a root with train files only, train split", lambda w: vh.load_dataset(root=w.files / "trainonly"),
          lambda d: d.images.shape == (4, 1, 28, 28) and d.source.startswith("full mnist train set from")),
    error("a truncated IDX file", lambda w: vh.load_dataset(root=w.files / "truncated"), DatasetError,
          "train-images-idx3-ubyte: header promises shape .* it is truncated or corrupt"),
    error("an IDX file with a bad magic number", lambda w: vh.load_dataset(root=w.files / "badmagic"), DatasetError,
          "bad magic number 1234"),
    error("labels above 9", lambda w: vh.load_dataset(root=w.files / "badlabels"), DatasetError,
          "labels must be 0-9, found 12"),
    error("fewer labels than images", lambda w: vh.load_dataset(root=w.files / "fewlabels"), DatasetError,
          "expected 4 labels to match train-images-idx3-ubyte"),
    error("a .gz file that is not gzip", lambda w: vh.load_dataset(root=w.files / "badgz"), DatasetError,
          "cannot be read .* corrupt or truncated"),
    error("an IDX file of floats", lambda w: vh.load_dataset(root=w.files / "floatidx"), DatasetError,
          "IDX type code 0x0d is not supported"),
    error("14 x 14 images", lambda w: vh.load_dataset(root=w.files / "smallimages"), DatasetError,
          r"expected images of shape \(N, 28, 28\), got \(4, 14, 14\)"),
    error("fashion-mnist from an empty named folder", lambda w: vh.load_dataset("fashion-mnist", root=w.files / "empty"),
          DatasetError, "no fashion-mnist train data in the folder you named"),
    error("download in smoke mode", lambda w: vh.load_dataset(root=w.files / "empty", download=True), DatasetError,
          "download=True is ignored in smoke mode"),
    error("read_idx of a missing file", lambda w: vh.read_idx(w.files / "missing.idx"), DatasetError, "file not found"),
    error("read_idx of a 2-byte file", lambda w: vh.read_idx(w.files / "tiny.idx"), DatasetError,
          "only 2 bytes, too short for an IDX header"),
    right("limit 10", lambda w: vh.load_dataset(limit=10),
          lambda d: d.images.shape == (10, 1, 28, 28) and d.images.dtype == torch.uint8
          and d.labels.dtype == torch.int64 and "first 10 after a fixed shuffle" in d.source),

    # --- pixel conversions
    error("to_unit_interval of a list", lambda w: vh.to_unit_interval([0, 255]), TypeError,
          "expects a torch.Tensor of uint8 pixels, got list"),
    error("to_unit_interval of a numpy array", lambda w: vh.to_unit_interval(digits().numpy()), TypeError,
          "got ndarray"),
    error("to_unit_interval of int64 pixels", lambda w: vh.to_unit_interval(digits().long()), TypeError,
          "expects uint8 pixels 0-255 .* got dtype torch.int64"),
    error("to_unit_interval of float64 in [0, 1]", lambda w: vh.to_unit_interval(pixels().double()), TypeError,
          "already floats"),
    error("binarize of float16 in [0, 1]", lambda w: vh.binarize(pixels().half()), TypeError, "already floats"),
    error("binarize of bools", lambda w: vh.binarize(digits() > 128), TypeError, "got dtype torch.bool"),
    right("to_unit_interval of 255", lambda w: vh.to_unit_interval(torch.full((1, 1, 28, 28), 255, dtype=torch.uint8)),
          lambda x: x.dtype == torch.float32 and bool((x == 1).all())),
    right("binarize of 0 and 255", lambda w: vh.binarize(torch.tensor([0, 255], dtype=torch.uint8)),
          lambda x: x.tolist() == [0.0, 1.0]),
    right("binarize with a seeded generator",
          lambda w: [vh.binarize(digits(), torch.Generator().manual_seed(4)) for _ in range(2)],
          lambda pair: torch.equal(*pair) and set(pair[0].unique().tolist()) == {0.0, 1.0}),
    error("static_binarization of floats", lambda w: vh.static_binarization(pixels()), ValueError,
          "must be uint8 pixel values 0-255, got dtype torch.float32: pass the uint8 images"),
    right("static_binarization twice", lambda w: [vh.static_binarization(digits()) for _ in range(2)],
          lambda pair: torch.equal(*pair) and set(pair[0].unique().tolist()) == {0, 255}),
    error("evaluation_pixels 'Dynamic'", lambda w: vh.evaluation_pixels(digits(), "Dynamic"), ValueError,
          "preprocessing must be one of continuous, dynamic, static, got 'Dynamic'"),
    error("evaluation_pixels of floats", lambda w: vh.evaluation_pixels(pixels()), ValueError, "must be uint8"),
    right("evaluation_pixels continuous", lambda w: vh.evaluation_pixels(digits(), "continuous"),
          lambda x: torch.equal(x, vh.to_unit_interval(digits()))),
    error("scoring_note 'binary'", lambda w: vh.scoring_note(vh.load_dataset(split="test", limit=4), "binary"),
          ValueError, "preprocessing must be one of"),
    error("DeviceBatches with 16 labels for 32 images", lambda w: batches(n_labels=16), ValueError,
          r"expected labels of shape \(32,\), got \(16,\)"),
    error("DeviceBatches batch_size 0", lambda w: batches(batch_size=0), ValueError,
          "batch_size must be a positive whole number, got 0"),
    error("DeviceBatches batch_size True", lambda w: batches(batch_size=True), ValueError, "got True"),
    error("DeviceBatches preprocessing 'binary'", lambda w: batches(preprocessing="binary"), ValueError,
          "preprocessing must be one of"),
    error("DeviceBatches of no images", lambda w: vh.DeviceBatches(digits()[:0], labels()[:0]), ValueError,
          r"images is empty \(0 images\)"),
    error("DeviceBatches of (N, 28, 28)", lambda w: vh.DeviceBatches(digits()[:, 0], labels()), ValueError,
          r"expected images of shape \(N, 1, 28, 28\), got \(32, 28, 28\)"),
    right("DeviceBatches of 32 by 10", lambda w: [x.shape[0] for x, _ in batches(batch_size=10)],
          lambda sizes: sizes == [10, 10, 10, 2]),

    # --- images going into a model
    error("flattened images", lambda w: vh.elbo(gaussian(), pixels().flatten(1)), ValueError,
          r"expected images of shape \(B, 1, 28, 28\), got \(4, 784\)"),
    error("one image without a batch axis", lambda w: gaussian()(pixels()[0]), ValueError,
          r"got \(1, 28, 28\)"),
    error("three colour channels", lambda w: gaussian()(pixels().expand(4, 3, 28, 28)), ValueError,
          r"got \(4, 3, 28, 28\)"),
    error("32 x 32 images", lambda w: gaussian()(torch.rand(4, 1, 32, 32)), ValueError, r"got \(4, 1, 32, 32\)"),
    error("channels last", lambda w: gaussian()(pixels().permute(0, 2, 3, 1)), ValueError, r"got \(4, 28, 28, 1\)"),
    error("uint8 images into a model", lambda w: gaussian()(digits(4)), TypeError,
          "expected float pixels in .* got dtype torch.uint8; divide uint8 images by 255"),
    error("int64 images into a model", lambda w: gaussian()(digits(4).long()), TypeError, "got dtype torch.int64"),
    error("a numpy batch", lambda w: gaussian()(pixels().numpy()), TypeError,
          "expected a torch.Tensor of images, got ndarray"),
    error("an infinite pixel", lambda w: gaussian()(with_value(float("inf"))), ValueError,
          r"pixels must lie in \[0, 1\], got values from .* to inf"),
    error("a pixel at minus infinity", lambda w: gaussian()(with_value(float("-inf"))), ValueError,
          "got values from -inf"),
    error("pixels up to 1.5 (not a 0-255 image)", lambda w: gaussian()(pixels() * 1.5), ValueError,
          r"^images: pixels must lie in \[0, 1\], got values from .* to 1\.4"),
    error("a pixel a rounding error above 1", lambda w: gaussian()(with_value(1.0000001)), ValueError,
          r"got values from .* to 1\.0000001"),
    error("MNIST's Normalize((0.1307,), (0.3081,))", lambda w: gaussian()((pixels() - 0.1307) / 0.3081), ValueError,
          r"as after Normalize\(mean, std\) .* drop the Normalize"),
    error("pixels centred on 0", lambda w: gaussian()(pixels() - 0.5), ValueError, "pixels go down to -0.4"),
    error("one NaN pixel among good ones", lambda w: categorical()(with_value(float("nan"))), ValueError,
          "NaN pixels"),
    error("0-255 floats into a categorical VAE", lambda w: categorical()(vh.to_unit_interval(digits(4)) * 255),
          ValueError, "pixels go up to 25[0-9].*: divide by 255"),
    error("0-255 floats into a VQ-VAE", lambda w: vqvae()(vh.to_unit_interval(digits(4)) * 255), ValueError,
          "divide by 255"),
    error("Normalize into an IWAE", lambda w: vh.IWAE(k=2, latent_dim=2, hidden_dims=(16,))(pixels() * 2 - 1),
          ValueError, r"\[-1, 1\]"),
    error("flattened images into a VQ-VAE", lambda w: vqvae()(pixels().flatten(1)), ValueError, r"got \(4, 784\)"),
    error("flattened images into an autoencoder", lambda w: autoencoder()(pixels().flatten(1)), ValueError,
          r"got \(4, 784\)"),
    error("float32 images into a float64 model", lambda w: gaussian().double()(pixels()), TypeError,
          "the images are torch.float32 but the model's weights are torch.float64"),
    error("uint8 images to reconstruct", lambda w: gaussian().reconstruct(digits(4)), TypeError, "divide uint8"),
    right("images that require grad", lambda w: vh.elbo(gaussian(), pixels().requires_grad_()).elbo,
          lambda value: finite(value) and value.requires_grad),
    right("non-contiguous images", lambda w: vh.elbo(gaussian(), pixels().transpose(2, 3)).elbo, finite),
    right("binary pixels", lambda w: vh.elbo(gaussian(), (pixels() > 0.5).float()).elbo, lambda v: v.item() < 0),
    right("an all-black batch", lambda w: vh.elbo(gaussian(), torch.zeros(2, 1, 28, 28)).elbo, finite),

    # --- losses
    error("reduction 'sum'", lambda w: vh.elbo(gaussian(), pixels(), reduction="sum"), ValueError,
          "reduction must be 'mean' or 'none', got 'sum'"),
    error("the ELBO of an autoencoder", lambda w: vh.elbo(autoencoder(), pixels()), TypeError,
          "need a VAE, not an autoencoder"),
    error("a conditional ELBO without labels", lambda w: vh.elbo(conditional(), pixels()), ValueError,
          "ConditionalVAE is conditioned on labels: pass y=labels"),
    error("labels for an unconditional ELBO", lambda w: vh.elbo(gaussian(), pixels(), y=labels(4)), ValueError,
          "GaussianVAE is not conditioned on labels: leave out y"),
    error("a conditional IWAE bound without labels", lambda w: vh.iwae_bound(conditional(), pixels(), 2), ValueError,
          "conditioned on labels"),
    right("reduction 'none'", lambda w: vh.elbo(gaussian(), pixels(), reduction="none"),
          lambda parts: all(term.shape == (4,) for term in parts)),
    error("logits and pixels of two shapes", lambda w: vh.bernoulli_log_likelihood(torch.zeros(4, 784), pixels()),
          ValueError, "logits and x must have the same shape"),
    right("Bernoulli of zero logits", lambda w: vh.bernoulli_log_likelihood(torch.zeros(2, 1, 28, 28), pixels(2)),
          lambda value: torch.allclose(value, torch.full((2,), -784 * math.log(2)))),
    error("Gaussian variance 0", lambda w: vh.gaussian_log_likelihood(pixels(), pixels(), 0), ValueError,
          "variance must be a finite number > 0, got 0"),
    error("Gaussian variance NaN", lambda w: vh.gaussian_log_likelihood(pixels(), pixels(), float("nan")),
          ValueError, "variance must be a finite number > 0, got nan"),
    error("Gaussian variance -1", lambda w: vh.gaussian_log_likelihood(pixels(), pixels(), -1.0), ValueError,
          "got -1.0"),
    error("Gaussian mean of another shape", lambda w: vh.gaussian_log_likelihood(pixels(2), pixels(), 0.5),
          ValueError, "mean and x must have the same shape"),
    error("KL with loc and log_var of two shapes", lambda w: vh.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 4)),
          ValueError, "loc and log_var must have the same shape"),
    right("KL of N(0, I) to itself", lambda w: vh.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)),
          lambda value: value.tolist() == [0.0, 0.0]),
    error("categorical KL of 2-D logits", lambda w: vh.categorical_kl_to_uniform(torch.zeros(2, 10)), ValueError,
          r"expected logits of shape \(B, N, K\), got \(2, 10\)"),
    right("categorical KL of uniform logits", lambda w: vh.categorical_kl_to_uniform(torch.zeros(2, 3, 10)),
          lambda value: torch.allclose(value, torch.zeros(2), atol=1e-6)),
    error("Monte Carlo KL with 0 samples", lambda w: vh.monte_carlo_kl(torch.distributions.Normal(0.0, 1.0),
                                                                       torch.distributions.Normal(0.0, 1.0), 0),
          ValueError, "n_samples must be a positive whole number"),
    error("Monte Carlo KL with 2.5 samples", lambda w: vh.monte_carlo_kl(torch.distributions.Normal(0.0, 1.0),
                                                                         torch.distributions.Normal(0.0, 1.0), 2.5),
          ValueError, "n_samples must be a positive whole number .* got 2.5"),
    error("Monte Carlo KL with True samples", lambda w: vh.monte_carlo_kl(torch.distributions.Normal(0.0, 1.0),
                                                                          torch.distributions.Normal(0.0, 1.0), True),
          ValueError, "got True"),
    right("bits per dimension of 784 ln 2 nats", lambda w: nats_to_bits_per_dim(784 * math.log(2)),
          lambda value: math.isclose(value, 1.0)),

    # --- the importance-weighted bound
    error("k 0", lambda w: vh.iwae_bound(gaussian(), pixels(), 0), ValueError, "k must be a positive whole number"),
    error("k -3", lambda w: vh.iwae_bound(gaussian(), pixels(), -3), ValueError, "got -3"),
    error("k None", lambda w: vh.iwae_bound(gaussian(), pixels(), None), ValueError, "got None"),
    error("k '5'", lambda w: vh.iwae_bound(gaussian(), pixels(), "5"), ValueError, "got '5'"),
    error("k numpy True", lambda w: vh.iwae_bound(gaussian(), pixels(), np.bool_(True)), ValueError,
          "k must be a positive whole number"),
    error("k a two-element tensor", lambda w: vh.iwae_bound(gaussian(), pixels(), torch.tensor([5, 6])), ValueError,
          "k must be a positive whole number"),
    error("k a float tensor", lambda w: vh.iwae_bound(gaussian(), pixels(), torch.tensor(5.0)), ValueError,
          "k must be a positive whole number"),
    right("k 1", lambda w: vh.iwae_bound(gaussian(), pixels(), 1), lambda v: v.shape == (4,) and finite(v)),
    error("max_samples_per_chunk 0", lambda w: vh.iwae_bound(gaussian(), pixels(), 2, max_samples_per_chunk=0),
          ValueError, "max_samples_per_chunk must be a positive whole number"),
    error("the IWAE bound of an autoencoder", lambda w: vh.iwae_bound(autoencoder(), pixels(), 2), TypeError,
          "not an autoencoder"),
    error("IWAE k 0", lambda w: vh.IWAE(k=0), ValueError, "k must be a positive whole number"),
    right("IWAE k numpy 3", lambda w: vh.IWAE(k=np.int64(3), latent_dim=2, hidden_dims=(16,)),
          lambda model: model.k == 3 and type(model.config["k"]) is int),
    error("IWAE k True", lambda w: vh.IWAE(k=True), ValueError, "got True"),
    error("no k at all", lambda w: log_likelihood_estimates(gaussian(), digits(4), []), ValueError,
          "ks must hold at least one number of samples"),
    error("bounds in batches of 0", lambda w: importance_weighted_bounds(gaussian(), digits(4), 2, batch_size=0),
          ValueError, "batch_size must be a positive whole number"),
    error("bounds of 0-255 floats", lambda w: importance_weighted_bounds(gaussian(), digits(4).float(), 2),
          ValueError, r"float images must lie in \[0, 1\]"),
    error("iwae_parts reduction 'sum'", lambda w: iwae_parts(gaussian(), pixels(), 2, reduction="sum"), ValueError,
          "reduction must be 'mean' or 'none'"),

    # --- Gumbel-Softmax and temperatures
    error("integer logits", lambda w: vh.gumbel_softmax(torch.zeros(2, 3, dtype=torch.long)), TypeError,
          "logits must be a floating-point tensor"),
    error("logits as a list", lambda w: vh.gumbel_softmax([0.0, 1.0]), TypeError, "floating-point tensor"),
    error("tau 0", lambda w: vh.gumbel_softmax(torch.zeros(2, 3), tau=0), ValueError,
          "temperature tau must be a finite number > 0, got 0"),
    error("tau -1", lambda w: vh.gumbel_softmax(torch.zeros(2, 3), tau=-1.0), ValueError, "got -1.0"),
    error("tau inf", lambda w: vh.gumbel_softmax(torch.zeros(2, 3), tau=float("inf")), ValueError, "got inf"),
    error("tau True", lambda w: vh.gumbel_softmax(torch.zeros(2, 3), tau=True), ValueError, "got True"),
    right("tau a one-element tensor", lambda w: vh.gumbel_softmax(torch.zeros(2, 3), tau=torch.tensor(0.5)),
          lambda s: torch.allclose(s.sum(-1), torch.ones(2))),
    right("tau numpy float32", lambda w: vh.gumbel_softmax(torch.zeros(2, 3), tau=np.float32(0.5)),
          lambda s: torch.allclose(s.sum(-1), torch.ones(2))),
    right("hard samples", lambda w: vh.gumbel_softmax(torch.zeros(5, 3), hard=True),
          lambda s: set(s.detach().unique().tolist()) == {0.0, 1.0} and s.sum(-1).tolist() == [1.0] * 5),
    right("one-dimensional logits", lambda w: vh.gumbel_softmax(torch.zeros(4)),
          lambda s: s.shape == (4,) and math.isclose(s.sum().item(), 1.0, rel_tol=1e-6)),
    error("tau_min 0", lambda w: vh.exponential_temperature(tau_min=0), ValueError, "tau_min must be a finite number"),
    error("every 0", lambda w: vh.exponential_temperature(every=0), ValueError, "every must be a whole number >= 1"),
    error("rate -1", lambda w: vh.exponential_temperature(rate=-1), ValueError, "rate must be a finite number >= 0"),
    error("a constant temperature of 0", lambda w: constant_temperature(0), ValueError, "tau must be a finite number"),
    error("Gumbel noise of integers", lambda w: vh.sample_gumbel((2, 3), dtype=torch.int64), TypeError,
          "Gumbel noise needs a floating-point dtype, got torch.int64"),
    error("Gumbel-max of integer logits", lambda w: vh.gumbel_max_sample(torch.zeros(2, 3, dtype=torch.long)),
          TypeError, "floating-point dtype"),
    right("an exponential schedule", lambda w: vh.exponential_temperature(tau0=2.0, rate=1.0, tau_min=0.5),
          lambda schedule: schedule(0) == 2.0 and schedule(100) == 0.5),

    # --- constructors
    error("latent_dim -1", lambda w: vh.GaussianVAE(latent_dim=-1), ValueError, "latent_dim must be a positive"),
    error("latent_dim 2.0", lambda w: vh.GaussianVAE(latent_dim=2.0), ValueError, "got 2.0"),
    error("latent_dim True", lambda w: vh.GaussianVAE(latent_dim=True), ValueError, "got True"),
    error("latent_dim '2'", lambda w: vh.GaussianVAE(latent_dim="2"), ValueError, "got '2'"),
    error("hidden_dims ()", lambda w: vh.GaussianVAE(hidden_dims=()), ValueError,
          r"hidden_dims must be a non-empty tuple of positive widths, got \(\)"),
    error("hidden_dims (0,)", lambda w: vh.GaussianVAE(hidden_dims=(0,)), ValueError, r"got \(0,\)"),
    error("hidden_dims (16.0,)", lambda w: vh.GaussianVAE(hidden_dims=(16.0,)), ValueError, r"got \(16.0,\)"),
    error("hidden_dims '400'", lambda w: vh.GaussianVAE(hidden_dims="400"), ValueError,
          r"hidden_dims must be a sequence of layer widths such as \(400,\) .* got '400'"),
    error("hidden_dims (True,)", lambda w: vh.GaussianVAE(hidden_dims=(True,)), ValueError, r"got \(True,\)"),
    error("hidden_dims None", lambda w: vh.GaussianVAE(hidden_dims=None), ValueError, "must be a sequence"),
    right("hidden_dims a list", lambda w: vh.GaussianVAE(latent_dim=2, hidden_dims=[16]),
          lambda model: model.config["hidden_dims"] == (16,)),
    error("architecture 'cnn'", lambda w: vh.GaussianVAE(architecture="cnn"), ValueError,
          r"architecture must be one of \('mlp', 'conv'\), got 'cnn'"),
    error("likelihood 'gauss'", lambda w: vh.GaussianVAE(likelihood="gauss"), ValueError,
          "likelihood must be one of .* got 'gauss'"),
    error("gaussian_variance 0", lambda w: vh.GaussianVAE(gaussian_variance=0), ValueError,
          "gaussian_variance must be a finite number > 0, got 0"),
    error("gaussian_variance NaN", lambda w: vh.GaussianVAE(gaussian_variance=float("nan")), ValueError, "got nan"),
    error("gaussian_variance '0.5'", lambda w: vh.GaussianVAE(gaussian_variance="0.5"), ValueError, "got '0.5'"),
    error("autoencoder hidden_dims 5", lambda w: vh.Autoencoder(hidden_dims=5), ValueError, "must be a sequence"),
    right("a convolutional autoencoder", lambda w: autoencoder(architecture="conv").reconstruct(pixels()),
          lambda x: x.shape == (4, 1, 28, 28)),
    error("n_classes 1", lambda w: vh.CategoricalVAE(n_classes=1), ValueError, "n_classes must be a whole number >= 2"),
    error("n_latents 2.5", lambda w: vh.CategoricalVAE(n_latents=2.5), ValueError, "n_latents must be a positive"),
    error("categorical temperature 0", lambda w: vh.CategoricalVAE(temperature=0), ValueError,
          "temperature must be a finite number > 0, got 0"),
    error("categorical temperature '1'", lambda w: vh.CategoricalVAE(temperature="1"), ValueError,
          r"temperature must be a number > 0, got '1' \(str\)"),
    error("hard 'yes'", lambda w: vh.CategoricalVAE(hard="yes"), ValueError, "hard must be True or False, got 'yes'"),
    error("conditional latent_dim True", lambda w: vh.ConditionalVAE(latent_dim=True), ValueError, "got True"),
    error("conditional n_classes 1", lambda w: vh.ConditionalVAE(n_classes=1), ValueError, ">= 2, got 1"),
    error("conditional n_classes True", lambda w: vh.ConditionalVAE(n_classes=True), ValueError, "got True"),
    error("n_codes 1", lambda w: vh.VQVAE(n_codes=1), ValueError, "n_codes must be >= 2, got 1"),
    error("n_codes 0", lambda w: vh.VQVAE(n_codes=0), ValueError, "n_codes must be a positive whole number"),
    error("code_dim 0", lambda w: vh.VQVAE(code_dim=0), ValueError, "code_dim must be a positive whole number"),
    error("channels (32,)", lambda w: vh.VQVAE(channels=(32,)), ValueError,
          r"channels must be two positive widths such as \(32, 64\), got \(32,\)"),
    error("channels 32", lambda w: vh.VQVAE(channels=32), ValueError, "channels must be two positive widths .* got 32$"),
    error("quantizer 'gumble'", lambda w: vh.VQVAE(quantizer="gumble"), ValueError, "quantizer must be one of"),
    error("codebook_update 'adam'", lambda w: vh.VQVAE(codebook_update="adam"), ValueError,
          "codebook_update must be one of"),
    error("VQ beta -1", lambda w: vh.VQVAE(beta=-1), ValueError, "beta must be a finite number >= 0"),
    error("VQ beta NaN", lambda w: vh.VQVAE(beta=float("nan")), ValueError, "beta must be a finite number >= 0"),
    error("ema_decay 1", lambda w: vh.VQVAE(ema_decay=1), ValueError, r"ema_decay must be in \(0, 1\)"),
    error("VQ temperature 0", lambda w: vh.VQVAE(temperature=0), ValueError, "temperature must be > 0"),
    error("init_scale -1", lambda w: vh.VQVAE(init_scale=-1), ValueError,
          "init_scale must be a finite number > 0 or None, got -1"),
    error("Gumbel quantizer with EMA updates", lambda w: vh.VQVAE(quantizer="gumbel", codebook_update="ema"),
          ValueError, "use codebook_update='loss'"),
    error("code prior n_codes 0", lambda w: vh.CodePrior(n_codes=0), ValueError, "n_codes must be a positive"),
    error("code prior layers 0", lambda w: vh.CodePrior(4, layers=0), ValueError, "layers must be a positive"),
    error("code prior channels 2.5", lambda w: vh.CodePrior(4, channels=2.5), ValueError, "channels must be a positive"),

    # --- model methods
    error("a conditional model called without labels", lambda w: conditional()(pixels()), ValueError,
          r"ConditionalVAE is conditioned on labels: call model\(x, y\)"),
    error("float labels", lambda w: conditional()(pixels(), labels(4).float()), TypeError,
          "expected labels of dtype torch.int64"),
    error("label 10 of 10 classes", lambda w: conditional()(pixels(), torch.tensor([0, 1, 2, 10])), ValueError,
          "labels must be class indices 0-9, got values from 0 to 10"),
    error("label -1", lambda w: conditional()(pixels(), torch.tensor([0, 1, 2, -1])), ValueError, "from -1 to 2"),
    error("labels of another length", lambda w: conditional()(pixels(), labels(3)), ValueError,
          r"expected labels of shape \(4,\), one per image, got \(3,\)"),
    error("numpy labels", lambda w: conditional()(pixels(), labels(4).numpy()), TypeError, "got ndarray"),
    error("sample_images of a list", lambda w: conditional().sample_images([1, 2]), TypeError, "got list"),
    error("sample_images of a 2-D tensor", lambda w: conditional().sample_images(labels(4).view(2, 2)), ValueError,
          r"expected labels of shape \(n,\)"),
    error("sample_images(-1)", lambda w: gaussian().sample_images(-1), ValueError,
          "n, the number of images to draw, must be a whole number >= 0, got -1"),
    error("sample_images(2.5)", lambda w: categorical().sample_images(2.5), ValueError, "got 2.5"),
    error("VQ sample_images(-1)", lambda w: vqvae().sample_images(-1), ValueError, "got -1"),
    right("sample_images(0)", lambda w: gaussian().sample_images(0), lambda x: x.shape == (0, 1, 28, 28)),
    error("codes of the wrong width", lambda w: gaussian().decode(torch.zeros(3, 5)), ValueError,
          r"expected codes z of shape \(B, 2\), got \(3, 5\)"),
    error("flat categorical codes", lambda w: categorical().decode(torch.zeros(3, 12)), ValueError,
          r"expected codes z of shape \(B, 3, 4\), got \(3, 12\)"),
    error("3-D autoencoder codes", lambda w: autoencoder().decode(torch.zeros(3, 2, 1)), ValueError,
          r"expected codes z of shape \(B, 2\)"),
    right("prior(codes)", lambda w: code_prior(seed=0),
          lambda prior: torch.equal(prior(codes()), prior.log_prob(codes()))),
    error("float codes", lambda w: code_prior().log_prob(codes().float()), TypeError,
          "expected int64 code grids, got torch.float32"),
    error("codes out of range", lambda w: code_prior().log_prob(codes(high=9)), ValueError,
          r"codes must lie in \[0, 4\)"),
    error("codes of the wrong grid", lambda w: code_prior().log_prob(codes()[:, :5]), ValueError,
          r"expected code grids of shape \(B, 7, 7\), got \(4, 5, 7\)"),
    error("sampling the prior at temperature 0", lambda w: code_prior().sample(2, temperature=0), ValueError,
          "temperature must be a finite number > 0, got 0"),
    error("sampling -1 grids", lambda w: code_prior().sample(-1), ValueError,
          "n, the number of grids to draw, must be a whole number >= 0, got -1"),
    error("code prior batch_size 0", lambda w: fit_code_prior(code_prior(), codes(), batch_size=0), ValueError,
          "batch_size must be a whole number >= 1, got 0"),
    error("code prior epochs -1", lambda w: fit_code_prior(code_prior(), codes(), epochs=-1), ValueError,
          "epochs must be a whole number >= 0"),
    error("code prior learning_rate 0", lambda w: fit_code_prior(code_prior(), codes(), learning_rate=0), ValueError,
          "learning_rate must be a finite number > 0, got 0"),
    error("code prior on no grids", lambda w: fit_code_prior(code_prior(), codes()[:0]), ValueError,
          r"train_codes is empty \(0 grids\)"),

    # --- fit
    error("epochs -1", lambda w: fit(epochs=-1), ValueError, "epochs must be a whole number >= 0, got -1"),
    error("epochs 1.5", lambda w: fit(epochs=1.5), ValueError, "got 1.5"),
    error("epochs True", lambda w: fit(epochs=True), ValueError, "got True"),
    right("epochs 0", lambda w: fitted(gaussian(seed=0), epochs=0), untrained_and_unchanged),
    error("batch_size 0", lambda w: fit(batch_size=0), ValueError, "batch_size must be a whole number >= 1, got 0"),
    error("batch_size 2.0", lambda w: fit(batch_size=2.0), ValueError, "got 2.0"),
    right("batch_size above the dataset", lambda w: fit(batch_size=1000),
          lambda history: len(history) == 1 and math.isfinite(history.last["train_loss"])),
    error("eval_batch_size 0", lambda w: fit(eval_batch_size=0), ValueError, "eval_batch_size must be a whole number"),
    error("learning_rate -1e-3", lambda w: fit(learning_rate=-1e-3), ValueError,
          "learning_rate must be a finite number > 0, got -0.001"),
    error("learning_rate inf", lambda w: fit(learning_rate=float("inf")), ValueError, "got inf"),
    error("learning_rate '1e-3'", lambda w: fit(learning_rate="1e-3"), ValueError,
          "learning_rate must be a number, got '1e-3'"),
    right("learning_rate a one-element tensor", lambda w: fit(learning_rate=torch.tensor(1e-3)),
          lambda history: math.isfinite(history.last["train_loss"])),
    error("beta -1", lambda w: fit(beta=-1), ValueError, "beta must be a finite number >= 0, got -1"),
    error("beta '1'", lambda w: fit(beta="1"), ValueError, "beta must be a number, got '1'"),
    error("a beta schedule going negative", lambda w: fit(beta=lambda step: -0.5), ValueError,
          r"beta must be a finite number >= 0 \(the schedule's value at step 0\), got -0.5"),
    right("beta 0", lambda w: fit(beta=0), lambda history: history.last["beta"] == 0.0),
    error("temperature 0", lambda w: fit(categorical(), temperature=0), ValueError,
          "temperature must be a finite number > 0, got 0"),
    error("temperature '1'", lambda w: fit(categorical(), temperature="1"), ValueError, "got '1'"),
    error("a NaN temperature schedule", lambda w: fit(categorical(), temperature=lambda step: float("nan")),
          ValueError, r"temperature must be a finite number > 0 \(the schedule's value at step 0\)"),
    error("a temperature for a Gaussian VAE", lambda w: fit(temperature=0.5), ValueError,
          "temperature is for models with Gumbel-Softmax latents .* a GaussianVAE has none"),
    error("log_every -1", lambda w: fit(log_every=-1), ValueError, "log_every must be a whole number >= 1, got -1"),
    error("log_every 2.5", lambda w: fit(log_every=2.5), ValueError, "got 2.5"),
    right("log_every above the number of steps", lambda w: fit(log_every=1000), lambda history: len(history) == 1),
    right("checkpoint_path in folders that do not exist yet", saved_and_loaded, lambda ok: ok is True),
    error("device 'tpu'", lambda w: fit(device="tpu"), ValueError, "device must be one of auto, cpu, cuda, mps"),
    error("device 5", lambda w: fit(device=5), ValueError, "got 5"),
    error("preprocessing 'binary'", lambda w: fit(preprocessing="binary"), ValueError,
          "preprocessing must be one of continuous, dynamic, static, got 'binary'"),
    error("precision 'fp16'", lambda w: fit(precision="fp16"), ValueError,
          "precision must be one of float32, bfloat16, got 'fp16'"),
    error("a CUDA graph on the CPU", lambda w: fit(cuda_graph=True), ValueError,
          "cuda_graph=True needs a CUDA device, but training runs on cpu"),
    error("optimizer 'adam'", lambda w: fit(optimizer="adam"), TypeError,
          r"optimizer must be a torch.optim.Optimizer .* got 'adam'"),
    error("float training images", lambda w: fit(images=vh.to_unit_interval(digits())), ValueError,
          "train_images must be uint8 pixel values 0-255, got dtype torch.float32: pass the uint8 images"),
    error("training images (N, 28, 28)", lambda w: fit(images=digits()[:, 0]), ValueError,
          r"expected train_images of shape \(N, 1, 28, 28\), got \(32, 28, 28\)"),
    error("training images as numpy", lambda w: fit(images=digits().numpy()), TypeError,
          "train_images must be a torch.Tensor, got ndarray"),
    error("the whole LoadedDataset", lambda w: fit(images=vh.load_dataset(limit=32)), TypeError,
          "got the whole LoadedDataset: pass its .images"),
    error("test images (N, 784)", lambda w: fit(test_images=digits().flatten(1)), ValueError,
          r"expected test_images of shape \(N, 1, 28, 28\)"),
    error("a conditional VAE without labels", lambda w: fit(conditional()), ValueError,
          "ConditionalVAE is conditioned on labels: pass train_labels"),
    error("16 labels for 32 images", lambda w: fit(conditional(), train_labels=labels(16)), ValueError,
          r"expected labels of shape \(32,\), got \(16,\)"),
    error("label 12 of 10 classes", lambda w: fit(conditional(), train_labels=torch.full((32,), 12)),
          ValueError, "labels must be class indices 0-9, got values from 12 to 12"),
    right("a single training image", lambda w: fit(images=digits(1)),
          lambda history: len(history) == 1 and math.isfinite(history.last["train_loss"])),
    error("seed '0'", lambda w: fit(seed="0"), ValueError, "seed must be a whole number >= 0, got '0'"),
    error("seed None", lambda w: fit(seed=None), ValueError, "got None"),
    error("seed 1.5", lambda w: fit(seed=1.5), ValueError, "got 1.5"),
    error("the model class instead of a model", lambda w: vh.fit(vh.GaussianVAE, digits()), TypeError,
          r"fit needs a model instance, got the class GaussianVAE: build one first, e.g. GaussianVAE\(\)"),
    error("a model name instead of a model", lambda w: vh.fit("gaussian", digits()), TypeError,
          "fit needs a model of vae_helpers .* got str"),
    error("a plain torch module", lambda w: vh.fit(nn.Linear(784, 2), digits()), TypeError, "got Linear"),
    right("continuous pixels", lambda w: fit(test_images=digits(8), preprocessing="continuous"),
          lambda history: math.isfinite(history.last["test_loss"])),
    right("a tensorboard folder", lambda w: (fit(tensorboard_dir=w.tmp / "tb"), w.tmp / "tb"),
          lambda result: any(result[1].glob("events.out.tfevents.*"))),

    # --- evaluate
    error("evaluate on a tensor", lambda w: vh.evaluate(gaussian(), digits()), TypeError,
          r"evaluate needs batches of \(pixels, labels\) pairs such as DeviceBatches\(images, labels, ...\), got a "
          "Tensor"),
    right("evaluate on a list of pairs", lambda w: vh.evaluate(autoencoder(seed=0), [(pixels(), labels(4))]),
          lambda figures: math.isclose(figures["loss"], autoencoder(seed=0)(pixels()).neg_elbo.item(), rel_tol=1e-6)),
    error("evaluate on an empty list", lambda w: vh.evaluate(gaussian(), []), ValueError,
          "evaluate got no images: batches yielded nothing to score"),
    error("evaluate a model name", lambda w: vh.evaluate("gaussian", batches()), TypeError,
          "evaluate needs a model of vae_helpers"),
    right("evaluate an autoencoder", lambda w: (vh.evaluate(autoencoder(seed=0), batches(batch_size=8)),
                                                 autoencoder(seed=0)),
          lambda result: math.isclose(result[0]["loss"], -float(sum(
              result[1].loss_parts(x).elbo.detach() * x.shape[0] for x, _ in batches(batch_size=8))) / 32, rel_tol=1e-5)),
    right("evaluate a categorical VAE", lambda w: vh.evaluate(categorical(), batches()),
          lambda figures: {"loss", "loss_relaxed", "kl", "kl_relaxed"} <= set(figures)),

    # --- checkpoints
    error("saving to a folder", lambda w: vh.save_checkpoint(gaussian(), w.tmp), ValueError,
          "is a folder; expected a file name"),
    error("saving a dict", lambda w: vh.save_checkpoint({}, w.tmp / "model.pt"), TypeError,
          "save_checkpoint needs a model of vae_helpers .* got dict"),
    error("saving a plain torch module", lambda w: vh.save_checkpoint(nn.Linear(2, 2), w.tmp / "model.pt"),
          TypeError, "got Linear"),
    error("saving under a file", lambda w: vh.save_checkpoint(gaussian(), w.files / "notes.txt" / "model.pt"),
          ValueError, "notes.txt is a file, not a folder"),
    error("loading a file that does not exist", lambda w: vh.load_checkpoint(w.files / "missing.pt"),
          FileNotFoundError, "checkpoint .*missing.pt does not exist"),
    error("loading an empty file", lambda w: vh.load_checkpoint(w.files / "empty.pt"), ValueError,
          "empty.pt is not a readable torch checkpoint"),
    error("loading a truncated checkpoint", lambda w: vh.load_checkpoint(w.files / "truncated.pt"), ValueError,
          "truncated.pt is not a readable torch checkpoint"),
    error("loading a bare state_dict", lambda w: vh.load_checkpoint(w.files / "state_dict.pt"), ValueError,
          "lacks model_class/config/state_dict; it was not written by save_checkpoint"),
    error("loading a saved list", lambda w: vh.load_checkpoint(w.files / "list.pt"), ValueError, "lacks model_class"),
    error("a checkpoint of an unknown class", lambda w: vh.load_checkpoint(w.files / "unknown_class.pt"), ValueError,
          "holds an unknown model class 'ResNet'"),
    error("a checkpoint whose config is invalid", lambda w: vh.load_checkpoint(w.files / "zero_latents.pt"),
          ValueError, "holds a config that cannot build a GaussianVAE: latent_dim must be a positive whole number"),
    error("a checkpoint with an unknown option", lambda w: vh.load_checkpoint(w.files / "unknown_option.pt"),
          ValueError, "holds a config that cannot build a GaussianVAE: .*dropout"),
    error("a checkpoint missing a weight", lambda w: vh.load_checkpoint(w.files / "missing_weight.pt"), ValueError,
          r"weights do not match its config .* missing \['decoder.0.0.weight'\]"),
    error("a Gaussian checkpoint into a categorical VAE",
          lambda w: vh.load_weights(categorical(), w.files / "good.pt"), ValueError,
          "is a GaussianVAE with config .* but the model is a CategoricalVAE"),
    right("a checkpoint written before models had seeds",
          lambda w: (vh.load_checkpoint(w.files / "without_seed.pt"), vh.load_checkpoint(w.files / "good.pt")),
          lambda pair: pair[0].config["seed"] is None and same_weights(*pair)),
    right("an EMA VQ-VAE round trip", lambda w: round_trip(vqvae(codebook_update="ema"), w), lambda ok: ok is True),
    right("a code prior round trip", lambda w: round_trip(code_prior(seed=3), w), lambda ok: ok is True),
    right("saving over an older checkpoint", replaced, lambda ok: ok is True),
]

# ----------------------------------------------------------------------------- the command-line cases

CLI_CASES = [
    ((), "the following arguments are required: command"),
    (("fit",), "invalid choice: 'fit'"),
    (("train", "--model", "vae"), "argument --model: invalid choice: 'vae'"),
    (("train", "--epochs", "0"), "argument --epochs: expected a number >= 1, got 0"),
    (("train", "--epochs", "-1"), "argument --epochs: expected a number >= 1, got -1"),
    (("train", "--epochs", "two"), "argument --epochs: expected a whole number, got 'two'"),
    (("train", "--epochs", "1.5"), "expected a whole number, got '1.5'"),
    (("train", "--batch-size", "0"), "argument --batch-size: expected a number >= 1"),
    (("train", "--learning-rate", "nan"), "argument --learning-rate: expected a finite number > 0, got nan"),
    (("train", "--learning-rate", "inf"), "expected a finite number > 0, got inf"),
    (("train", "--learning-rate", "-1"), "expected a finite number > 0, got -1"),
    (("train", "--learning-rate", "abc"), "argument --learning-rate: expected a number, got 'abc'"),
    (("train", "--latent-dim", "0"), "argument --latent-dim: expected a number >= 1"),
    (("train", "--seed", "-1"), "argument --seed: expected a seed >= 0, got -1"),
    (("train", "--seed", "1.5"), "argument --seed: expected a whole number, got '1.5'"),
    (("train", "--dataset", "cifar"), "argument --dataset: invalid choice: 'cifar'"),
    (("train", "--preprocessing", "binary"), "argument --preprocessing: invalid choice: 'binary'"),
    (("train", "--device", "tpu"), "argument --device: invalid choice: 'tpu'"),
    (("train", "--precision", "fp16"), "argument --precision: invalid choice: 'fp16'"),
    (("train", "--verbose"), "unrecognized arguments: --verbose"),
    (("train", "--cuda-graph", "--device", "cpu"), "cuda_graph=True needs a CUDA device, but training runs on cpu"),
    (("train", "--data-root", "{files}/trainonly"), "is incomplete: it holds train-images-idx3-ubyte"),
    (("train", "--data-root", "{files}/notes.txt"), "no mnist train data in the folder you named"),
    (("evaluate", "{files}/missing.pt"), "missing.pt does not exist"),
    (("evaluate", "{files}/good.pt", "--iw-samples", "0"), "argument --iw-samples: expected a number >= 1"),
    (("evaluate", "{files}/good.pt", "--split", "valid"), "argument --split: invalid choice: 'valid'"),
    (("evaluate", "{files}/good.pt", "--seed", "-1"), "argument --seed: expected a seed >= 0"),
    (("evaluate", "{files}/good.pt", "--data-root", "{files}/empty"), "no mnist test data in the folder you named"),
    (("evaluate", "{files}/good.pt", "--data-root", "{files}/trainonly"), "is incomplete"),
    (("evaluate", "{files}/good.pt", "--data-root", "{files}/empty", "--download"),
     "download=True is ignored in smoke mode"),
    (("evaluate", "{files}/state_dict.pt"), "lacks model_class/config/state_dict"),
    (("evaluate", "{files}/truncated.pt"), "is not a readable torch checkpoint"),
    (("evaluate", "{files}/unknown_class.pt"), "unknown model class 'ResNet'"),
    (("evaluate", "{files}/zero_latents.pt"), "holds a config that cannot build a GaussianVAE"),
    (("evaluate", "{files}/missing_weight.pt"), "weights do not match its config"),
    (("assignments",), "the following arguments are required: --out"),
    (("assignments", "--source", "{files}/missing", "--out", "{files}/student"),
     "no numbered notebooks (NN_name.ipynb) in"),
    (("assignments", "--source", str(REPOSITORY / "notebooks"), "--out", str(REPOSITORY / "notebooks")),
     "is the folder of the notebooks with solutions"),
    (("publish", "--check", "someone/fork"), "--check compares with the configured home; give no repository"),
    (("publish", "--root", "{files}/missing"), "no pyproject.toml of vae_helpers in"),
]


# ----------------------------------------------------------------------------- the tests

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep_files")
    make_files(folder)
    return folder


def listing(folder: Path) -> list:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_the_sweep_tries_at_least_150_inputs_none_twice():
    names = [case.name for case in API_CASES] + [" ".join(args) for args, _ in CLI_CASES]
    assert len(names) >= 150 and len(set(names)) == len(names)


@pytest.mark.parametrize("case", API_CASES, ids=[case.name for case in API_CASES])
def test_api(case, files, tmp_path):
    where = Where(files, tmp_path)
    before = listing(files)
    if case.raises is None:
        assert case.check(case.call(where)) is True
    else:
        with pytest.raises(case.raises) as caught:
            case.call(where)
        message = str(caught.value)
        assert re.search(case.match, message), message
        assert "\n" not in message.strip(), "the message must be one line"
        raised_in = Path(caught.traceback[-1].path)
        assert PACKAGE in raised_in.parents, f"raised in {raised_in}, not by vae_helpers"
    assert listing(files) == before  # the shared files are never touched


@pytest.mark.parametrize("args, reason", CLI_CASES, ids=[" ".join(args) or "nothing" for args, _ in CLI_CASES])
def test_command_line(args, reason, files, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VAE_DATA_ROOT", raising=False)
    argv = [arg.format(files=files) for arg in args]
    before = listing(files)
    try:
        status = main(argv)
    except SystemExit as stop:  # argparse
        status = stop.code
    captured = capsys.readouterr()
    assert status == 2
    assert reason in captured.err and len(captured.err.strip().splitlines()) == 1, captured.err
    assert "Traceback" not in captured.err and "epoch" not in captured.out
    assert listing(files) == before and listing(tmp_path) == []  # nothing written, nothing replaced
