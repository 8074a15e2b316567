"""One training loop for every model, its history, and checkpoints.

``fit`` keeps the whole dataset on the device (:class:`~vae_helpers.data.DeviceBatches`),
accumulates losses on the device and talks to the host only every ``log_every`` steps
(progress bar, non-finite check) and at the end of each epoch.
"""

import io
import math
import numbers
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

import torch
from tqdm.auto import tqdm

from .data import DEFAULT_PREPROCESSING, DeviceBatches, check_images
from .device import pick_device
from .fast_training import GraphedTrainingStep, autocast_context, check_graph_options, default_optimizer
from .models import MODEL_CLASSES
from .settings import by_mode, progress_bars

Schedule = Union[float, Callable[[int], float]]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite, or rose far above where it started."""


DIVERGENCE_FACTOR = 10  # a running loss this many times the first batch's loss means divergence


@dataclass
class History:
    """Per-epoch figures recorded by :func:`fit`, all in nats per image unless named otherwise.

    rows: one dict per epoch with ``epoch``, ``train_loss`` (negative ELBO, or reconstruction
    loss for an autoencoder), ``train_reconstruction``, ``train_kl``, ``test_loss``,
    ``test_reconstruction``, ``test_kl`` (plus ``test_loss_relaxed`` etc. for a categorical VAE),
    ``temperature`` where a schedule is used, ``beta`` and ``seconds`` (training time of the epoch).
    """

    rows: list = field(default_factory=list)

    def column(self, name: str) -> list:
        """The values of one figure across epochs."""
        if self.rows and name not in self.rows[0]:
            raise KeyError(f"history has no {name!r}; it has {', '.join(self.rows[0])}")
        return [row[name] for row in self.rows]

    @property
    def last(self) -> dict:
        """The figures of the final epoch."""
        if not self.rows:
            raise ValueError("history is empty: no epoch was trained")
        return self.rows[-1]

    def __len__(self) -> int:
        return len(self.rows)


def _checked_value(value, name: str, positive: bool, step: Optional[int] = None) -> float:
    """``value`` as a float, or a ``ValueError`` unless it is a finite number >= 0 (> 0 if ``positive``)."""
    where = "" if step is None else f" (the schedule's value at step {step})"
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number{where}, got {value!r}")
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number {'>' if positive else '>='} 0{where}, got {value!r}")
    return float(value)


def _as_schedule(value: Optional[Schedule], name: str, positive: bool) -> Optional[Callable[[int], float]]:
    """A step -> value function whose every value is checked on the host (no device sync)."""
    if value is None:
        return None
    if callable(value):
        return lambda step: _checked_value(value(step), name, positive, step)
    constant = _checked_value(value, name, positive)
    return lambda step: constant


def _check_loss(total: torch.Tensor, epoch: int, step: int, start: Optional[float]) -> float:
    """The running loss as a float; ``TrainingDiverged`` if it is not finite or has risen to
    ``DIVERGENCE_FACTOR`` times the first batch's loss ``start``."""
    value = float(total)
    diverged = not math.isfinite(value)
    if start is not None and not diverged:
        diverged = value > start + (DIVERGENCE_FACTOR - 1) * max(abs(start), 1.0)
    if diverged:
        rise = f" (from {start:.4g} at the first batch)" if start is not None and math.isfinite(value) else ""
        raise TrainingDiverged(
            f"the training loss became {value:.4g}{rise} by epoch {epoch}, step {step}. Lower the learning rate, "
            "check that the inputs are in [0, 1], or look for a log of zero in a custom loss."
        )
    return value


def _check_weights(model, epoch: int, step: int) -> None:
    """``TrainingDiverged`` if any weight of ``model`` is NaN or infinite (read on failure only)."""
    for name, parameter in model.named_parameters():
        if not bool(torch.isfinite(parameter).all()):
            raise TrainingDiverged(
                f"the weights became NaN or infinite ({name}) by epoch {epoch}, step {step}. Lower the learning "
                "rate, check that the inputs are in [0, 1], or look for a log of zero in a custom loss.")


def check_output_path(path, what: str, folder: bool = False) -> Path:
    """Raise ``ValueError`` before any work if ``path`` cannot be written: a file where a folder
    is wanted (or the reverse), a file among its parent folders, or a folder without write
    permission. Returns ``path`` as a ``Path``; creates nothing."""
    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            raise ValueError(f"{what} {path} is a file; expected a folder")
        if not folder and path.is_dir():
            raise ValueError(f"{what} {path} is a folder; expected a file name such as {path / 'model.pt'}")
        nearest = path if folder else path.parent
    else:
        nearest = next(parent for parent in path.parents if parent.exists())
        if not nearest.is_dir():
            raise ValueError(f"{what} {path} cannot be created: {nearest} is a file, not a folder")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise ValueError(f"{what} {path} cannot be written: no write permission in {nearest}")
    return path


@torch.no_grad()
def evaluate(model, batches: DeviceBatches) -> dict:
    """Mean figures over a whole dataset: {``loss``, ``reconstruction``, ``kl``} and, for
    models that report more than one objective, the same with a suffix (e.g. ``loss_relaxed``).
    batches: a :class:`~vae_helpers.data.DeviceBatches`, or any iterable of (pixels, labels) pairs."""
    _check_model(model, "evaluate")
    if isinstance(batches, torch.Tensor):
        raise TypeError("evaluate needs batches of (pixels, labels) pairs such as DeviceBatches(images, labels, "
                        "...), got a Tensor")
    was_training = model.training
    model.eval()
    sums, count = {}, 0
    for x, y in batches:
        condition = (y,) if getattr(model, "uses_labels", False) else ()
        for name, parts in model.evaluation_parts(x, *condition).items():
            suffix = f"_{name}" if name else ""
            for key, value in (("loss", parts.neg_elbo), ("reconstruction", parts.reconstruction_loss),
                               ("kl", parts.kl)):
                sums[key + suffix] = sums.get(key + suffix, 0.0) + value * x.shape[0]
        count += x.shape[0]
    model.train(was_training)
    if count == 0:
        raise ValueError("evaluate got no images: batches yielded nothing to score")
    return {key: float(total) / count for key, total in sums.items()}


def fit(model, train_images: torch.Tensor, test_images: Optional[torch.Tensor] = None, *,
        train_labels: Optional[torch.Tensor] = None, test_labels: Optional[torch.Tensor] = None,
        epochs: int = 10, batch_size: int = 128, learning_rate: float = 1e-3, optimizer=None,
        device="auto", seed: int = 0, preprocessing: str = DEFAULT_PREPROCESSING,
        temperature: Optional[Schedule] = None, beta: Schedule = 1.0,
        log_every: int = 25, progress: Optional[bool] = None, tensorboard_dir=None,
        checkpoint_path=None, eval_batch_size: int = 1000, cuda_graph: bool = False,
        precision: str = "float32") -> History:
    """Train ``model`` and return its :class:`History`.

    train_images, test_images: uint8 (N, 1, 28, 28) as returned by ``load_dataset``.
    epochs: full passes (capped at 2 in smoke mode).
    device: ``"auto"``, a name or a torch.device. seed: seeds torch's generators when ``fit``
    starts, which fixes the shuffling, the binarization and every latent draw. The initial
    weights are drawn earlier, when the model is built: for a run that repeats bit for bit on the
    same machine and torch, build the model with a seed too, ``fit(GaussianVAE(seed=0), ...,
    seed=0)`` (the command line does both).
    learning_rate: a finite number > 0 (used by the default optimizer). preprocessing: ``"dynamic"`` (default: a fresh Bernoulli draw of the training
    pixels per batch, and the series' one fixed binarization of the test images, see
    ``data.evaluation_pixels``), ``"static"`` (training images binarized once, with ``seed``; test
    images as for ``"dynamic"``) or ``"continuous"`` (intensities in [0, 1] for both: the seeds'
    setup, whose Bernoulli "likelihood" is a cross-entropy, not log p(x)).
    temperature: number or step -> tau schedule, written to ``model.temperature`` each step (only
    for models that have one: Gumbel-Softmax latents; any other model gives a ``ValueError``).
    beta: weight of the KL term in the training loss (number or step -> beta schedule, e.g. a
    KL warm-up); the recorded losses are always the plain, unweighted negative ELBO.
    progress: tqdm progress bars with the running loss; ``None`` (default) shows them unless
    ``VAE_PROGRESS=0``, in which case one line per epoch is printed instead; ``False`` is silent.
    tensorboard_dir: if given, per-epoch scalars are logged there (needs ``tensorboard``).
    checkpoint_path: if given, a checkpoint is written there after every epoch (checked before
    training starts: a folder, or a path under a file, is a ``ValueError``).
    log_every: steps between two reads of the running loss (progress bar, divergence check).
    Training stops with :class:`TrainingDiverged` when the running loss is NaN or infinite, or
    when it rises to ``DIVERGENCE_FACTOR`` (10) times the loss of the first batch.
    optimizer: default Adam(learning_rate), fused into one kernel where the device supports it.
    cuda_graph: capture the training step as a CUDA graph and replay it (CUDA only; needs a
    constant temperature). Same arithmetic, far fewer launches: see ``fast_training``.
    precision: ``"float32"`` (default) or ``"bfloat16"`` autocast for the forward pass (matrix
    products in bf16, losses in float32; CUDA or CPU).
    """
    _check_model(model, "fit")
    check_images(train_images, "train_images")
    if len(train_images) == 0:
        raise ValueError("train_images is empty (0 images): there is nothing to train on")
    if test_images is not None:
        check_images(test_images, "test_images")
        if len(test_images) == 0:
            raise ValueError("test_images is empty (0 images): pass None to train without a test set")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a whole number >= 0, got {epochs!r}")
    for name, value in (("log_every", log_every), ("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
    if optimizer is None:
        _checked_value(learning_rate, "learning_rate", positive=True)
    elif not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer built on the model's parameters, such as "
                        f"torch.optim.Adam(model.parameters(), lr=1e-3), got {optimizer!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    if checkpoint_path is not None:
        check_output_path(checkpoint_path, "checkpoint_path")
    epochs = by_mode(full=epochs, smoke=min(epochs, 2))
    device = device if isinstance(device, torch.device) else pick_device(device)
    temperature_schedule = _as_schedule(temperature, "temperature", positive=True)
    beta_schedule = _as_schedule(beta, "beta", positive=False)
    if temperature_schedule is not None:
        temperature_schedule(0)  # a bad first value is reported before the model is asked about it
        if not hasattr(model, "temperature"):
            raise ValueError(f"temperature is for models with Gumbel-Softmax latents (CategoricalVAE, VQVAE with "
                             f"quantizer='gumbel'); a {type(model).__name__} has none: leave it out")
    autocast = autocast_context(precision, device)
    torch.manual_seed(seed)
    model.to(device)
    optimizer = optimizer or default_optimizer(model.parameters(), learning_rate, device, capturable=cuda_graph)
    if cuda_graph:
        check_graph_options(device, temperature, optimizer)
    if getattr(model, "uses_labels", False) and (train_labels is None or
                                                 (test_images is not None and test_labels is None)):
        raise ValueError(f"{type(model).__name__} is conditioned on labels: pass train_labels (and test_labels)")
    train_labels = train_labels if train_labels is not None else torch.zeros(len(train_images), dtype=torch.long)
    batches = DeviceBatches(train_images, train_labels, batch_size, device, True, preprocessing, seed,
                            binarization_seed=seed)
    test_batches = None
    if test_images is not None:
        test_labels = test_labels if test_labels is not None else torch.zeros(len(test_images), dtype=torch.long)
        test_preprocessing = "continuous" if preprocessing == "continuous" else "static"
        test_batches = DeviceBatches(test_images, test_labels, eval_batch_size, device, False,
                                     test_preprocessing, seed)
    print_epochs = progress is None and not progress_bars()
    progress = progress_bars() if progress is None else progress
    writer = _tensorboard_writer(tensorboard_dir)
    history = History()
    step = 0
    totals = torch.zeros(3, device=device)  # neg ELBO, reconstruction, KL: sums over the epoch
    first_loss = None  # the first batch's loss, before any update: the divergence check's yardstick

    def take_step(x, y, kl_weight):
        with autocast():
            parts = model.loss_parts(x, y) if getattr(model, "uses_labels", False) else model.loss_parts(x)
        loss = -(parts.log_likelihood - kl_weight * parts.kl)
        if hasattr(parts, "extra_loss"):  # terms outside the ELBO, e.g. a VQ-VAE's codebook and commitment
            loss = loss + parts.extra_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        figures = torch.stack([parts.neg_elbo.float(), parts.reconstruction_loss.float(), parts.kl.float()])
        totals.add_(figures.detach() * x.shape[0])

    step_function = GraphedTrainingStep(take_step, batch_size, device) if cuda_graph else take_step
    if cuda_graph and temperature is not None:
        model.temperature = float(temperature)
        temperature_schedule = None
    for epoch in range(1, epochs + 1):
        model.train()
        started = time.perf_counter()
        totals.zero_()
        seen = 0
        bar = tqdm(total=len(batches), desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=False)
        for batch_index, (x, y) in enumerate(batches, start=1):
            if temperature_schedule is not None:
                model.temperature = temperature_schedule(step)
            try:
                step_function(x, y, beta_schedule(step))
            except ValueError:  # e.g. a distribution refusing NaN parameters: say why if weights blew up
                _check_weights(model, epoch, step + 1)
                raise
            seen += x.shape[0]
            step += 1
            if first_loss is None:
                first_loss = _check_loss(totals[0] / seen, epoch, step, None)
            if batch_index % log_every == 0 or batch_index == len(batches):
                running = _check_loss(totals[0] / seen, epoch, step, first_loss)
                bar.set_postfix(loss=f"{running:.1f} nats")
                bar.update(batch_index - bar.n)
        bar.close()
        train_loss, train_reconstruction, train_kl = (totals / max(seen, 1)).tolist()
        row = dict(epoch=epoch, train_loss=train_loss, train_reconstruction=train_reconstruction,
                   train_kl=train_kl, seconds=time.perf_counter() - started, beta=beta_schedule(step))
        if temperature is not None:
            row["temperature"] = model.temperature
        if test_batches is not None:
            row.update({f"test_{key}": value for key, value in evaluate(model, test_batches).items()})
        history.rows.append(row)
        if print_epochs:
            print(_epoch_line(row, epochs))
        if writer is not None:
            for key, value in row.items():
                if key != "epoch":
                    writer.add_scalar(key, value, epoch)
        if checkpoint_path is not None:
            save_checkpoint(model, checkpoint_path)
    if writer is not None:
        writer.close()
    return history


def _check_model(model, function: str) -> None:
    """Raise ``TypeError`` unless ``model`` is a model instance of this package (an ``nn.Module``
    with ``loss_parts`` and ``config``), naming the usual slip of passing the class itself."""
    if isinstance(model, type):
        raise TypeError(f"{function} needs a model instance, got the class {model.__name__}: "
                        f"build one first, e.g. {model.__name__}()")
    if not (isinstance(model, torch.nn.Module) and hasattr(model, "loss_parts") and hasattr(model, "config")):
        raise TypeError(f"{function} needs a model of vae_helpers (an nn.Module with loss_parts and config), "
                        f"got {type(model).__name__}")


def _epoch_line(row: dict, epochs: int) -> str:
    line = f"epoch {row['epoch']}/{epochs}: train loss {row['train_loss']:.1f}"
    if "test_loss" in row:
        line += f", test loss {row['test_loss']:.1f}"
    return line + f" nats per image ({row['seconds']:.1f} s)"


def _tensorboard_writer(folder):
    if folder is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ImportError("tensorboard_dir needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter(str(folder))


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(model, path) -> Path:
    """Write {model class name, config, state_dict} to ``path`` and return it; loadable with
    ``torch.load(path, weights_only=True)``.

    The bytes depend only on the model (the same weights give the same file, whatever its name),
    the file gets the permissions of the user's umask like any other new file, and it is written
    atomically: to a temporary name in the same folder, then renamed over ``path``.
    """
    if not (isinstance(model, torch.nn.Module) and isinstance(getattr(model, "config", None), dict)):
        raise TypeError(f"save_checkpoint needs a model of vae_helpers (an nn.Module with a config dict to "
                        f"rebuild it from), got {type(model).__name__}")
    path = check_output_path(path, "checkpoint")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model_class": type(model).__name__, "config": dict(model.config),
               "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()}}
    buffer = io.BytesIO()  # torch.save names the archive after a file, so save to memory first
    torch.save(payload, buffer)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "xb") as handle:
            handle.write(buffer.getvalue())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def _read_checkpoint(path) -> dict:
    path = Path(path)
    if path.is_dir():
        inside = " (it holds a model.pt: pass that file)" if (path / "model.pt").is_file() else ""
        raise ValueError(f"checkpoint {path} is a folder, not a checkpoint file{inside}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many kinds on a file that is not a checkpoint
        raise ValueError(f"checkpoint {path} is not a readable torch checkpoint: expected a model.pt written by "
                         f"'train' or save_checkpoint (torch.load failed with {type(error).__name__})") from None
    if not isinstance(payload, dict) or not {"model_class", "config", "state_dict"} <= set(payload):
        raise ValueError(f"checkpoint {path} lacks model_class/config/state_dict; it was not written by save_checkpoint")
    return payload


def _load_state(model, payload: dict, path) -> None:
    """``model.load_state_dict`` with a one-line error naming the first tensor that does not fit."""
    wanted = model.state_dict()
    saved = payload["state_dict"]
    missing, unexpected = sorted(set(wanted) - set(saved)), sorted(set(saved) - set(wanted))
    if missing or unexpected:
        raise ValueError(f"checkpoint {path}: its weights do not match its config {payload['config']}: "
                         f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    for name, tensor in wanted.items():
        if tuple(saved[name].shape) != tuple(tensor.shape):
            raise ValueError(f"checkpoint {path}: its weights do not match its config {payload['config']}: "
                             f"{name} has shape {tuple(saved[name].shape)} in the file, but that config builds "
                             f"{tuple(tensor.shape)}")
    model.load_state_dict(saved)


def load_checkpoint(path, device="cpu"):
    """Rebuild the model a checkpoint was saved from, with its weights, on ``device``."""
    payload = _read_checkpoint(path)
    if payload["model_class"] not in MODEL_CLASSES:
        raise ValueError(f"checkpoint {path} holds an unknown model class {payload['model_class']!r}")
    try:
        model = MODEL_CLASSES[payload["model_class"]](**payload["config"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"checkpoint {path} holds a config that cannot build a "
                         f"{payload['model_class']}: {error}") from None
    _load_state(model, payload, path)
    return model.to(device)


def load_weights(model, path):
    """Load a checkpoint's weights into an existing ``model``; a different architecture gives a
    ``ValueError`` that names both configurations instead of a list of mismatched tensors. The
    seeds the two were built with may differ: the seed only drew the weights being replaced."""
    payload = _read_checkpoint(path)
    saved = (payload["model_class"], {k: v for k, v in payload["config"].items() if k != "seed"})
    wanted = (type(model).__name__, {k: v for k, v in model.config.items() if k != "seed"})
    if saved != wanted:
        raise ValueError(f"checkpoint {path} is a {saved[0]} with config {saved[1]}, "
                         f"but the model is a {wanted[0]} with config {wanted[1]}")
    _load_state(model, payload, path)
    return model
