"""Data sources, the IDX reader, preprocessing and device batches."""

import gzip
import struct

import numpy as np
import pytest
import torch

import vae_helpers as vh
from vae_helpers import data


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    with (gzip.open if compress else open)(path, "wb") as handle:  # closed here, so flushed here
        handle.write(payload)


def make_raw_folder(root, folder: str, n: int = 12, compress: bool = True):
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    for prefix in ("train", "t10k"):
        write_idx(raw / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, compress)
    return raw


@pytest.fixture
def no_folder_named(tmp_path, monkeypatch):
    """A working directory without data/ and no VAE_DATA_ROOT: nothing asked, so fallbacks apply."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VAE_DATA_ROOT", raising=False)
    assert not (tmp_path.parent / "data").exists()
    return tmp_path


def test_bundled_subset_is_real_balanced_and_split_deterministically(monkeypatch, no_folder_named):
    monkeypatch.setenv("VAE_SMOKE", "0")
    train = vh.load_dataset("mnist", "train")
    test = vh.load_dataset("mnist", "test")
    assert train.images.shape == (4000, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.images.shape == (1000, 1, 28, 28)
    assert torch.equal(torch.bincount(train.labels), torch.full((10,), 400))
    assert torch.equal(torch.bincount(test.labels), torch.full((10,), 100))
    assert "bundled" in train.source and "bundled" in test.source
    # real digits: mostly background, some full-intensity ink, around 19% ink pixels
    ink = (train.images > 127).float().mean().item()
    assert 0.08 < ink < 0.25 and train.images.max() == 255
    flat_train = {bytes(image.numpy()) for image in train.images}
    assert not any(bytes(image.numpy()) in flat_train for image in test.images)
    again = vh.load_dataset("mnist", "train")
    assert torch.equal(again.images, train.images)
    assert len(set(test.labels[:20].tolist())) >= 5, "the first test images should mix digits"


def test_smoke_mode_shrinks_the_data(monkeypatch, no_folder_named):
    monkeypatch.setenv("VAE_SMOKE", "1")
    assert len(vh.load_dataset("mnist", "train").labels) == 1000
    assert len(vh.load_dataset("mnist", "test").labels) == 500
    assert len(vh.load_dataset("mnist", "test", limit=50).labels) == 50


@pytest.mark.parametrize("compress", [True, False])
def test_a_torchvision_layout_folder_comes_first(tmp_path, compress, monkeypatch):
    monkeypatch.setenv("VAE_SMOKE", "0")
    make_raw_folder(tmp_path, "MNIST", n=12, compress=compress)
    loaded = vh.load_dataset("mnist", "test", root=tmp_path)
    assert loaded.images.shape == (12, 1, 28, 28)
    assert str(tmp_path / "MNIST" / "raw") in loaded.source and "full" in loaded.source
    assert loaded.labels.tolist() == [i % 10 for i in range(12)]


def test_fashion_mnist_from_the_debian_location(tmp_path, monkeypatch, no_folder_named):
    monkeypatch.setenv("VAE_SMOKE", "0")
    debian = tmp_path / "debian"
    raw = make_raw_folder(tmp_path, "fake", n=20)
    debian.mkdir()
    for path in raw.iterdir():
        (debian / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    loaded = vh.load_dataset("fashion-mnist", "train")
    assert loaded.images.shape == (20, 1, 28, 28) and "Debian" in loaded.source
    with pytest.raises(vh.DatasetError, match="no fashion-mnist train data in the folder you named"):
        vh.load_dataset("fashion-mnist", "train", root=tmp_path / "empty")  # a named folder: no fallback


def test_missing_fashion_mnist_says_where_it_looked(tmp_path, monkeypatch, no_folder_named):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(vh.DatasetError, match="no fashion-mnist data found"):
        vh.load_dataset("fashion-mnist", "train")


def test_download_is_never_attempted_in_smoke_mode(tmp_path, monkeypatch, no_folder_named):
    monkeypatch.setenv("VAE_SMOKE", "1")
    monkeypatch.setattr(data, "_download", lambda *args: pytest.fail("smoke mode must not download"))
    assert "bundled" in vh.load_dataset("mnist", "train", download=True).source
    with pytest.raises(vh.DatasetError, match="download=True is ignored in smoke mode"):
        vh.load_dataset("mnist", "train", root=tmp_path / "named", download=True)


def test_a_failed_download_becomes_a_clear_error(tmp_path, monkeypatch):
    import torchvision
    monkeypatch.setenv("VAE_SMOKE", "0")

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    def offline_after_making_folders(root, **kwargs):
        (tmp_path / "new" / "MNIST" / "raw").mkdir(parents=True)
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    with pytest.raises(vh.DatasetError, match="could not download mnist.*unreachable"):
        vh.load_dataset("mnist", "train", root=tmp_path, download=True)
    monkeypatch.setattr(torchvision.datasets, "MNIST", offline_after_making_folders)
    (tmp_path / "keep.txt").write_text("a file of the user's")
    with pytest.raises(vh.DatasetError, match="could not download mnist"):
        vh.load_dataset("mnist", "train", root=tmp_path / "new", download=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["keep.txt"]  # what it created is gone


def test_a_named_folder_that_is_missing_or_empty_is_an_error_listing_what_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_SMOKE", "0")
    for root in (tmp_path / "mistyped", tmp_path):
        with pytest.raises(vh.DatasetError, match=r"folder you named: looked for train-images-idx3-ubyte\[\.gz\] "
                                                  r"and train-labels-idx1-ubyte\[\.gz\] in .*MNIST/raw"):
            vh.load_dataset("mnist", "train", root=root)
    monkeypatch.setenv("VAE_DATA_ROOT", str(tmp_path / "mistyped"))  # naming it in the environment counts too
    with pytest.raises(vh.DatasetError, match="folder you named"):
        vh.load_dataset("mnist", "test")


def test_train_files_without_test_files_never_mix_with_the_bundled_digits(tmp_path, monkeypatch, no_folder_named):
    monkeypatch.setenv("VAE_SMOKE", "0")
    raw = make_raw_folder(tmp_path / "data", "MNIST", n=12)
    for path in raw.glob("t10k-*"):
        path.unlink()
    assert "full mnist train set" in vh.load_dataset("mnist", "train").source
    with pytest.raises(vh.DatasetError, match=r"MNIST/raw is incomplete: it holds train-images.* but not "
                                              r"t10k-images-idx3-ubyte\[\.gz\] and t10k-labels"):
        vh.load_dataset("mnist", "test")  # default data/ folder, partly filled: no bundled fallback


def test_idx_reader_checks_the_header_and_the_length(tmp_path):
    good = tmp_path / "good-images-idx3-ubyte"
    write_idx(good, np.zeros((3, 28, 28)))
    assert vh.read_idx(good).shape == (3, 28, 28)
    truncated = tmp_path / "truncated-images-idx3-ubyte"
    truncated.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(vh.DatasetError, match="truncated-images-idx3-ubyte.*truncated or corrupt"):
        vh.read_idx(truncated)
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x01\x02\x08\x01" + bytes(8))
    with pytest.raises(vh.DatasetError, match="bad-magic: bad magic number"):
        vh.read_idx(bad_magic)
    wrong_type = tmp_path / "floats"
    wrong_type.write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 1) + bytes(4))
    with pytest.raises(vh.DatasetError, match="type code 0x0d"):
        vh.read_idx(wrong_type)
    broken_gzip = tmp_path / "broken-labels-idx1-ubyte.gz"
    broken_gzip.write_bytes(gzip.compress(good.read_bytes())[:40])
    with pytest.raises(vh.DatasetError, match="broken-labels-idx1-ubyte.gz"):
        vh.read_idx(broken_gzip)
    with pytest.raises(vh.DatasetError, match="file not found"):
        vh.read_idx(tmp_path / "absent")


def test_mismatched_label_count_is_reported(tmp_path, monkeypatch):
    raw = make_raw_folder(tmp_path, "MNIST", n=12)
    write_idx(raw / "train-labels-idx1-ubyte.gz", np.zeros(11), compress=True)
    with pytest.raises(vh.DatasetError, match="expected 12 labels"):
        vh.load_dataset("mnist", "train", root=tmp_path)


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="cifar"), "unknown dataset"),
    (dict(split="valid"), "unknown split"),
    (dict(limit=0), "limit must be"),
])
def test_bad_arguments_to_load_dataset(kwargs, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        vh.load_dataset(root=tmp_path, **kwargs)


def _images(n=10):
    return torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def test_device_batches_visit_every_image_once_per_epoch_in_a_new_order():
    images, labels = _images(10), torch.arange(10)
    batches = vh.DeviceBatches(images, labels, batch_size=4, seed=3)
    assert len(batches) == 3
    first = torch.cat([y for _, y in batches])
    second = torch.cat([y for _, y in batches])
    assert sorted(first.tolist()) == list(range(10)) == sorted(second.tolist())
    assert not torch.equal(first, second)
    x, y = next(iter(vh.DeviceBatches(images, labels, batch_size=4, shuffle=False)))
    assert x.dtype == torch.float32 and x.shape == (4, 1, 28, 28)
    assert torch.allclose(x, images[:4].float() / 255)


def test_dynamic_binarization_draws_fresh_bits_and_static_stays_fixed():
    images = torch.full((2000, 1, 28, 28), 77, dtype=torch.uint8)
    dynamic = vh.DeviceBatches(images, torch.zeros(2000, dtype=torch.long), 2000, preprocessing="dynamic")
    first, second = next(iter(dynamic))[0], next(iter(dynamic))[0]
    assert set(first.unique().tolist()) == {0.0, 1.0}
    assert first.mean().item() == pytest.approx(77 / 255, abs=0.005)
    assert not torch.equal(first, second)
    static = vh.DeviceBatches(images, torch.zeros(2000, dtype=torch.long), 2000, shuffle=False,
                              preprocessing="static")
    assert torch.equal(next(iter(static))[0], next(iter(static))[0])


@pytest.mark.parametrize("images, labels, kwargs, message", [
    (torch.zeros(4, 1, 28, 28), torch.zeros(4), {}, "uint8"),
    (torch.zeros(4, 784, dtype=torch.uint8), torch.zeros(4), {}, r"\(N, 1, 28, 28\), got \(4, 784\)"),
    (_images(4), torch.zeros(3), {}, "labels of shape"),
    (_images(4), torch.zeros(4), dict(batch_size=0), "batch_size"),
    (_images(4), torch.zeros(4), dict(preprocessing="threshold"), "preprocessing"),
])
def test_device_batches_reject_bad_input(images, labels, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        vh.DeviceBatches(images, labels, **kwargs)
