"""MNIST and Fashion-MNIST as uint8 tensors, from the first source that exists.

Sources, in order:

1. a torchvision-layout folder under the data root: ``MNIST/raw/`` or
   ``FashionMNIST/raw/`` holding the four IDX files, gzipped or not;
2. for Fashion-MNIST, Debian's ``dataset-fashion-mnist`` package
   (``/usr/share/datasets/fashion-mnist``);
3. a download through torchvision, only when the caller passes ``download=True``
   (never in smoke mode; it gives up after a short timeout when offline);
4. for MNIST, the real 5,000-digit subset bundled inside this package
   (500 per class; 400 per class for ``train``, 100 per class for ``test``, each split in a
   fixed shuffled order so that ``images[:16]`` shows mixed digits).

Sources 2 and 4 are fallbacks for when nothing was asked: a folder the caller names (``root``
or ``VAE_DATA_ROOT``) must hold the files, and a dataset folder that holds some IDX files but
not those of the requested split is an error, so a train and a test split never come from two
different sources (the bundled digits are MNIST *training* digits).

Every loader says which source it used, so a notebook can print it.
"""

import gzip
import math
import os
import shutil
import socket
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator, NamedTuple, Optional

import numpy as np
import torch

from .settings import SMOKE_TEST_IMAGES, SMOKE_TRAIN_IMAGES, is_smoke

DATASETS = {
    "mnist": {"folder": "MNIST", "torchvision": "MNIST"},
    "fashion-mnist": {"folder": "FashionMNIST", "torchvision": "FashionMNIST"},
}
SPLITS = ("train", "test")
IDX_PREFIX = {"train": "train", "test": "t10k"}
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
BUNDLED_PER_CLASS_TRAIN = 400
BUNDLED_PER_CLASS = 500
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
PREPROCESSINGS = ("continuous", "dynamic", "static")
DEFAULT_PREPROCESSING = "dynamic"
# The one binarization of every test split that the series reports a likelihood on: the same
# seed on every machine, whatever seed trained the model (Burda et al. 2016 fix one binarization).
TEST_BINARIZATION_SEED = 20_161
_IDX_DTYPES = {0x08: np.uint8}
DOWNLOAD_TIMEOUT_S = 10


class DatasetError(RuntimeError):
    """A dataset file is missing, truncated or not what it claims to be."""


class LoadedDataset(NamedTuple):
    """What :func:`load_dataset` returns.

    images: uint8 tensor (N, 1, 28, 28), pixel intensities 0-255.
    labels: int64 tensor (N,), class indices 0-9.
    source: a human sentence naming where the data came from.
    """

    images: torch.Tensor
    labels: torch.Tensor
    source: str


# ----------------------------------------------------------------------------- IDX files


def read_idx(path) -> np.ndarray:
    """Read one IDX file (gzipped when the name ends in ``.gz``) into a numpy array.

    The header is checked: two zero bytes, the type code 0x08 (unsigned byte), the
    number of dimensions, each dimension, and that the payload has exactly the bytes
    the dimensions promise. Anything else raises :class:`DatasetError` naming the file.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, EOFError) as error:
        raise DatasetError(f"{path}: cannot be read ({error}); the file is corrupt or truncated") from None
    if len(raw) < 4:
        raise DatasetError(f"{path}: only {len(raw)} bytes, too short for an IDX header")
    if raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{path}: bad magic number {raw[:4].hex()}; an IDX file starts with 0000")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise DatasetError(f"{path}: IDX type code 0x{type_code:02x} is not supported (expected 0x08, unsigned byte)")
    if ndim == 0:
        raise DatasetError(f"{path}: IDX header declares 0 dimensions")
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise DatasetError(f"{path}: header declares {ndim} dimensions but the file ends inside the header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) + header_bytes
    if len(raw) != expected:
        raise DatasetError(
            f"{path}: header promises shape {shape} ({expected} bytes) but the file has {len(raw)} bytes; "
            "it is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_bytes).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Optional[Path]:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _idx_names(prefix: str) -> tuple:
    return (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")


def _idx_files_present(folder: Path) -> list:
    """Names of the MNIST-layout IDX files (either split, gzipped or not) found in ``folder``."""
    names = [stem + suffix for prefix in IDX_PREFIX.values() for stem in _idx_names(prefix) for suffix in ("", ".gz")]
    return [name for name in names if (folder / name).is_file()]


def _read_idx_pair(folder: Path, prefix: str) -> Optional[tuple]:
    """(images (N, 28, 28) uint8, labels (N,) uint8) from ``folder``, or None if absent."""
    images_path = _find_idx(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _find_idx(folder, f"{prefix}-labels-idx1-ubyte")
    if images_path is None or labels_path is None:
        return None
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DatasetError(f"{images_path}: expected images of shape (N, 28, 28), got {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DatasetError(
            f"{labels_path}: expected {images.shape[0]} labels to match {images_path.name}, got shape {labels.shape}"
        )
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{labels_path}: labels must be 0-9, found {int(labels.max())}")
    return images, labels


# ----------------------------------------------------------------------------- sources


def default_data_root() -> Path:
    """The folder where full datasets are looked for and downloaded to.

    ``VAE_DATA_ROOT`` if set; otherwise the first of ``./data`` and ``../data`` that
    exists (so notebooks in ``notebooks/`` find the repository's ``data/``); otherwise ``./data``.
    """
    if os.environ.get("VAE_DATA_ROOT"):
        return Path(os.environ["VAE_DATA_ROOT"])
    for candidate in (Path("data"), Path("..") / "data"):
        if candidate.is_dir():
            return candidate
    return Path("data")


def _bundled_subset(split: str) -> tuple:
    folder = resources.files("vae_helpers") / "bundled"
    with resources.as_file(folder / "mnist5k-images-idx3-ubyte.gz") as images_path:
        images = read_idx(images_path)
    with resources.as_file(folder / "mnist5k-labels-idx1-ubyte.gz") as labels_path:
        labels = read_idx(labels_path)
    in_train = np.zeros(len(labels), dtype=bool)
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        in_train[members[:BUNDLED_PER_CLASS_TRAIN]] = True
    keep = np.flatnonzero(in_train if split == "train" else ~in_train)
    keep = keep[np.random.default_rng(0).permutation(len(keep))]  # the file is sorted by digit
    return images[keep], labels[keep]


def _download(name: str, root: Path, split: str) -> tuple:
    """Download through torchvision into ``root``; on failure, remove the folders it created."""
    try:
        import torchvision
    except ImportError:
        raise DatasetError("download=True needs torchvision, which is not installed") from None
    dataset_class = getattr(torchvision.datasets, DATASETS[name]["torchvision"])
    raw = root / DATASETS[name]["folder"] / "raw"
    created = None  # the outermost folder that the download will create, if any
    for folder in (raw, *raw.parents):
        if folder.exists():
            break
        created = folder
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        dataset_class(str(root), train=(split == "train"), download=True)
    except Exception as error:  # torchvision raises many kinds when offline
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise DatasetError(f"could not download {name} into {root} ({type(error).__name__}: {error})") from None
    finally:
        socket.setdefaulttimeout(previous_timeout)
    pair = _read_idx_pair(root / DATASETS[name]["folder"] / "raw", IDX_PREFIX[split])
    if pair is None:
        raise DatasetError(f"torchvision reported success but no IDX files appeared under {root}")
    return pair


def load_dataset(name: str = "mnist", split: str = "train", root=None, download: bool = False,
                 limit: Optional[int] = None) -> LoadedDataset:
    """Load MNIST or Fashion-MNIST from the first source that exists (see the module docstring).

    name: ``"mnist"`` or ``"fashion-mnist"``.  split: ``"train"`` or ``"test"``.
    root: folder holding ``MNIST/raw`` or ``FashionMNIST/raw`` (default :func:`default_data_root`).
    download: allow a download through torchvision if no local copy exists (ignored in smoke mode).
    limit: keep only the first ``limit`` images after a fixed shuffle (seed 0), so classes stay
    mixed. In smoke mode the default limit is 1,000 training / 500 test images.

    Returns ``LoadedDataset(images uint8 (N, 1, 28, 28), labels int64 (N,), source str)``.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive whole number, got {limit!r}")
    named_root = root is not None or bool(os.environ.get("VAE_DATA_ROOT"))
    root = Path(root) if root is not None else default_data_root()
    prefix = IDX_PREFIX[split]
    folder = root / DATASETS[name]["folder"] / "raw"
    pair = _read_idx_pair(folder, prefix)
    source = f"full {name} {split} set from {folder}"
    wanted = " and ".join(f"{stem}[.gz]" for stem in _idx_names(prefix))
    if pair is None and _idx_files_present(folder):
        raise DatasetError(
            f"{folder} is incomplete: it holds {', '.join(_idx_files_present(folder))} but not {wanted}, so the "
            f"{split} split would come from another source than the rest. Add the missing files, or move the "
            "folder away to use the fallback sources."
        )
    if pair is None and name == "fashion-mnist" and not named_root:
        pair = _read_idx_pair(DEBIAN_FASHION_MNIST, prefix)
        source = f"full fashion-mnist {split} set from Debian's dataset-fashion-mnist ({DEBIAN_FASHION_MNIST})"
    if pair is None and download and not is_smoke():
        pair = _download(name, root, split)
        source = f"full {name} {split} set, downloaded into {folder}"
    if pair is None and named_root:
        download_hint = ("download=True is ignored in smoke mode" if download else
                         "pass download=True (CLI: --download)")
        raise DatasetError(
            f"no {name} {split} data in the folder you named: looked for {wanted} in {folder}. Put the four "
            f"IDX files there, {download_hint}, or name no folder to use "
            + ("the bundled MNIST subset." if name == "mnist" else f"Debian's copy in {DEBIAN_FASHION_MNIST}.")
        )
    if pair is None and name == "mnist":
        pair = _bundled_subset(split)
        source = (f"bundled MNIST subset, {split} part ({len(pair[1])} digits of the 5,000 shipped with "
                  "vae_helpers; place full MNIST in data/MNIST/raw to use all 70,000)")
    if pair is None:
        raise DatasetError(
            f"no {name} data found: looked in {folder} and {DEBIAN_FASHION_MNIST}. Install Debian's "
            "dataset-fashion-mnist, put the four IDX files into that folder, or pass download=True."
        )
    images, labels = pair
    if limit is None and is_smoke():
        limit = SMOKE_TRAIN_IMAGES if split == "train" else SMOKE_TEST_IMAGES
    if limit is not None and limit < len(labels):
        keep = np.sort(np.random.default_rng(0).permutation(len(labels))[:limit])
        images, labels = images[keep], labels[keep]
        source += f", first {limit} after a fixed shuffle"
    images = torch.from_numpy(images.copy()).unsqueeze(1)
    labels = torch.from_numpy(labels.astype(np.int64))
    return LoadedDataset(images, labels, source)


# ----------------------------------------------------------------------------- preprocessing


def check_images(images: torch.Tensor, what: str = "images") -> None:
    """Raise ``ValueError`` unless ``images`` is a uint8 tensor of shape (N, 1, 28, 28)."""
    if isinstance(images, LoadedDataset):
        raise TypeError(f"{what} must be a torch.Tensor, got the whole LoadedDataset: pass its .images")
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(images).__name__}")
    if images.dtype != torch.uint8:
        hint = (": pass the uint8 images that load_dataset returns, the preprocessing turns them into floats"
                if images.is_floating_point() else "")
        raise ValueError(f"{what} must be uint8 pixel values 0-255, got dtype {images.dtype}{hint}")
    if images.ndim != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f"expected {what} of shape (N, 1, 28, 28), got {tuple(images.shape)}")


def check_pixel_values(x: torch.Tensor, what: str = "images") -> None:
    """Raise ``ValueError`` naming the likely mistake unless float pixels ``x`` lie in [0, 1]
    and the batch is not empty: the classic tutorial bugs (pixels 0-255, pixels normalised to
    [-1, 1], NaN) otherwise give a "likelihood" that is silently wrong.

    Reads two numbers back from ``x``'s device (its minimum and maximum), so on a GPU it waits
    for the work queued before it: call it on host-side data or once in a while, not every step.
    """
    if x.shape[0] == 0:
        raise ValueError(f"{what}: the batch is empty (shape {tuple(x.shape)}); pass at least one image")
    low, high = (float(value) for value in torch.aminmax(x.detach()))
    if low >= 0 and high <= 1:
        return
    if math.isnan(low) or math.isnan(high):
        raise ValueError(f"{what} contain NaN pixels; check the preprocessing that produced them")
    if high >= 2 and high <= 255 and low >= 0:  # a batch of 0-255 digits reaches far above 2
        raise ValueError(f"{what}: pixels go up to {high:g}: divide by 255 (vh.to_unit_interval on the "
                         "uint8 images), the models expect floats in [0, 1]")
    if low < 0 and low >= -1 and high <= 1:
        raise ValueError(f"{what}: pixels go down to {low:g}, as after Normalize((0.5,), (0.5,)) to [-1, 1]; "
                         "the Bernoulli likelihood needs pixels in [0, 1]: use (x + 1) / 2 or drop the Normalize")
    if low < 0 and high > 1 and math.isfinite(low) and math.isfinite(high):
        raise ValueError(f"{what}: pixels go from {low:.4g} to {high:.4g}, as after Normalize(mean, std) "
                         "(MNIST's (0.1307,), (0.3081,) gives -0.4242 to 2.821); the Bernoulli likelihood needs "
                         "pixels in [0, 1]: drop the Normalize")
    raise ValueError(f"{what}: pixels must lie in [0, 1], got values from {low:.8g} to {high:.8g}")


def _check_uint8(images: torch.Tensor, function: str) -> None:
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{function} expects a torch.Tensor of uint8 pixels, got {type(images).__name__}")
    if images.dtype == torch.uint8:
        return
    message = f"{function} expects uint8 pixels 0-255 as load_dataset returns them, got dtype {images.dtype}"
    if images.is_floating_point():
        message += ("; these pixels are already floats, and dividing them by 255 again would squeeze [0, 1] "
                    "into [0, 0.004]: use them as they are")
    raise TypeError(message)


def to_unit_interval(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1, 28, 28) -> float32 in [0, 1], same shape (the seeds' continuous setup).

    Raises ``TypeError`` for float input: it would be divided by 255 a second time."""
    _check_uint8(images, "to_unit_interval")
    return images.to(torch.float32) / 255.0


def binarize(images: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Draw each pixel from Bernoulli(intensity / 255): uint8 -> float32 in {0, 1}.

    Called once on the data it is *static* binarization; called on every batch it is
    *dynamic* binarization (a fresh sample every epoch, as in Burda et al. 2016).
    Raises ``TypeError`` for float input, which would be divided by 255 a second time.
    """
    _check_uint8(images, "binarize")
    return torch.bernoulli(to_unit_interval(images), generator=generator)


def static_binarization(images: torch.Tensor, seed: int = TEST_BINARIZATION_SEED) -> torch.Tensor:
    """One fixed binary copy of ``images`` (uint8 0/1 values scaled to 0/255, same shape).

    Returned as uint8 in {0, 255} so that it flows through the same pipeline as raw images.
    Drawn on the CPU from a generator seeded with ``seed``, so the copy is the same on every
    machine and device.
    """
    check_images(images)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    return (binarize(images.cpu(), generator) * 255).to(torch.uint8).to(images.device)


def evaluation_pixels(images: torch.Tensor, preprocessing: str = DEFAULT_PREPROCESSING) -> torch.Tensor:
    """The pixels a model is scored on: uint8 (N, 1, 28, 28) -> float32 (N, 1, 28, 28).

    ``"dynamic"`` or ``"static"`` (models trained on binarized digits) -> the series' one fixed
    binarization, in {0, 1}, seeded with ``TEST_BINARIZATION_SEED``; ``"continuous"`` -> the
    intensities in [0, 1]. Every likelihood the series reports is computed on these pixels.
    """
    if preprocessing not in PREPROCESSINGS:
        raise ValueError(f"preprocessing must be one of {', '.join(PREPROCESSINGS)}, got {preprocessing!r}")
    if preprocessing == "continuous":
        check_images(images)
        return to_unit_interval(images)
    return to_unit_interval(static_binarization(images))


def scoring_note(dataset: "LoadedDataset", preprocessing: str = DEFAULT_PREPROCESSING) -> str:
    """One sentence naming the images a likelihood is reported on and how they were binarized,
    for printing next to every likelihood figure. dataset: what ``load_dataset(..., "test")``
    returned."""
    if preprocessing not in PREPROCESSINGS:
        raise ValueError(f"preprocessing must be one of {', '.join(PREPROCESSINGS)}, got {preprocessing!r}")
    note = f"scored on {len(dataset.labels):,} images: {dataset.source}"
    if dataset.source.startswith("bundled"):
        note += ("; the bundled test part is made of MNIST *training* digits (none of them in the bundled "
                 "training part), not MNIST's official test set")
    if preprocessing == "continuous":
        return note + "; pixels are intensities in [0, 1], so the score is a cross-entropy, not log p(x)"
    return note + f"; pixels binarized once with the series' fixed seed ({TEST_BINARIZATION_SEED})"


@dataclass
class DeviceBatches:
    """Shuffled mini-batches of a dataset that lives whole on the training device.

    images: uint8 (N, 1, 28, 28); labels: int64 (N,). Both are moved to ``device`` once.
    Each iteration draws a fresh permutation (seeded by ``seed`` and the epoch number),
    slices index batches, and turns pixels into floats on the device:
    ``"continuous"`` -> [0, 1]; ``"dynamic"`` -> a fresh Bernoulli sample per batch;
    ``"static"`` -> binarized once at construction, with ``binarization_seed``.

    Yields ``(x, y)``: x float32 (B, 1, 28, 28), y int64 (B,).
    """

    images: torch.Tensor
    labels: torch.Tensor
    batch_size: int = 128
    device: torch.device = torch.device("cpu")
    shuffle: bool = True
    preprocessing: str = "continuous"
    seed: int = 0
    drop_last: bool = False
    binarization_seed: int = TEST_BINARIZATION_SEED

    def __post_init__(self):
        check_images(self.images)
        if not isinstance(self.labels, torch.Tensor) or self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"expected labels of shape ({self.images.shape[0]},), got "
                f"{tuple(getattr(self.labels, 'shape', ()))}"
            )
        if self.images.shape[0] == 0:
            raise ValueError("images is empty (0 images): there is nothing to batch")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive whole number, got {self.batch_size!r}")
        if self.preprocessing not in PREPROCESSINGS:
            raise ValueError(f"preprocessing must be one of {', '.join(PREPROCESSINGS)}, got {self.preprocessing!r}")
        self.device = torch.device(self.device)
        if self.preprocessing == "static":
            self.images = static_binarization(self.images, self.binarization_seed)
        self.images = self.images.to(self.device)
        self.labels = self.labels.to(self.device)
        self._epoch = 0

    def __len__(self) -> int:
        n = self.images.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _pixels(self, images: torch.Tensor) -> torch.Tensor:
        if self.preprocessing == "dynamic":
            return binarize(images)
        return to_unit_interval(images)

    def __iter__(self) -> Iterator[tuple]:
        n = self.images.shape[0]
        if self.shuffle:
            generator = torch.Generator(device="cpu").manual_seed(self.seed * 100_003 + self._epoch)
            order = torch.randperm(n, generator=generator).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        self._epoch += 1
        for batch in range(len(self)):
            index = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            yield self._pixels(self.images[index]), self.labels[index]
