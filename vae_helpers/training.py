"""One training loop for every model, its history, and checkpoints.

``fit`` keeps the whole dataset on the device (:class:`~vae_helpers.data.DeviceBatches`),
accumulates losses on the device and talks to the host only every ``log_every`` steps
(progress bar, non-finite check) and at the end of each epoch.
"""

import math
import os
import tempfile
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
    """The training loss became NaN or infinite."""


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


def _as_schedule(value: Optional[Schedule], name: str) -> Optional[Callable[[int], float]]:
    if value is None or callable(value):
        return value
    if not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f"{name} must be a non-negative number or a function of the step, got {value!r}")
    return lambda step: float(value)


def _check_finite(total: torch.Tensor, epoch: int, step: int) -> float:
    value = float(total)
    if not math.isfinite(value):
        raise TrainingDiverged(
            f"the training loss became {value} by epoch {epoch}, step {step}. Lower the learning rate, "
            "check that the inputs are in [0, 1], or look for a log of zero in a custom loss."
        )
    return value


@torch.no_grad()
def evaluate(model, batches: DeviceBatches) -> dict:
    """Mean figures over a whole dataset: {``loss``, ``reconstruction``, ``kl``} and, for
    models that report more than one objective, the same with a suffix (e.g. ``loss_relaxed``)."""
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
    device: ``"auto"``, a name or a torch.device. seed: fixes initial weights' draws, shuffling
    and sampling. preprocessing: ``"dynamic"`` (default: a fresh Bernoulli draw of the training
    pixels per batch, and the series' one fixed binarization of the test images, see
    ``data.evaluation_pixels``), ``"static"`` (training images binarized once, with ``seed``; test
    images as for ``"dynamic"``) or ``"continuous"`` (intensities in [0, 1] for both: the seeds'
    setup, whose Bernoulli "likelihood" is a cross-entropy, not log p(x)).
    temperature: number or step -> tau schedule, written to ``model.temperature`` each step.
    beta: weight of the KL term in the training loss (number or step -> beta schedule, e.g. a
    KL warm-up); the recorded losses are always the plain, unweighted negative ELBO.
    progress: tqdm progress bars with the running loss; ``None`` (default) shows them unless
    ``VAE_PROGRESS=0``, in which case one line per epoch is printed instead; ``False`` is silent.
    tensorboard_dir: if given, per-epoch scalars are logged there (needs ``tensorboard``).
    checkpoint_path: if given, a checkpoint is written there after every epoch.
    optimizer: default Adam(learning_rate), fused into one kernel where the device supports it.
    cuda_graph: capture the training step as a CUDA graph and replay it (CUDA only; needs a
    constant temperature). Same arithmetic, far fewer launches: see ``fast_training``.
    precision: ``"float32"`` (default) or ``"bfloat16"`` autocast for the forward pass (matrix
    products in bf16, losses in float32; CUDA or CPU).
    """
    check_images(train_images, "train_images")
    if test_images is not None:
        check_images(test_images, "test_images")
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a whole number >= 0, got {epochs!r}")
    epochs = by_mode(full=epochs, smoke=min(epochs, 2))
    device = device if isinstance(device, torch.device) else pick_device(device)
    temperature_schedule = _as_schedule(temperature, "temperature")
    beta_schedule = _as_schedule(beta, "beta")
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

    def take_step(x, y, kl_weight):
        with autocast():
            parts = model.loss_parts(x, y) if getattr(model, "uses_labels", False) else model.loss_parts(x)
        loss = -(parts.log_likelihood - kl_weight * parts.kl)
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
            step_function(x, y, beta_schedule(step))
            seen += x.shape[0]
            step += 1
            if batch_index % log_every == 0 or batch_index == len(batches):
                running = _check_finite(totals[0] / seen, epoch, step)
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
    """Write {model class name, config, state_dict} to ``path`` atomically (a temporary file in
    the same folder, then a rename), loadable with ``torch.load(path, weights_only=True)``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model_class": type(model).__name__, "config": dict(model.config),
               "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()}}
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path


def _read_checkpoint(path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"checkpoint {path} is not a readable torch checkpoint ({type(error).__name__})") from None
    if not isinstance(payload, dict) or not {"model_class", "config", "state_dict"} <= set(payload):
        raise ValueError(f"checkpoint {path} lacks model_class/config/state_dict; it was not written by save_checkpoint")
    return payload


def load_checkpoint(path, device="cpu"):
    """Rebuild the model a checkpoint was saved from, with its weights, on ``device``."""
    payload = _read_checkpoint(path)
    if payload["model_class"] not in MODEL_CLASSES:
        raise ValueError(f"checkpoint {path} holds an unknown model class {payload['model_class']!r}")
    model = MODEL_CLASSES[payload["model_class"]](**payload["config"])
    model.load_state_dict(payload["state_dict"])
    return model.to(device)


def load_weights(model, path):
    """Load a checkpoint's weights into an existing ``model``; a different architecture gives a
    ``ValueError`` that names both configurations instead of a list of mismatched tensors."""
    payload = _read_checkpoint(path)
    saved = (payload["model_class"], payload["config"])
    wanted = (type(model).__name__, dict(model.config))
    if saved != wanted:
        raise ValueError(f"checkpoint {path} is a {saved[0]} with config {saved[1]}, "
                         f"but the model is a {wanted[0]} with config {wanted[1]}")
    model.load_state_dict(payload["state_dict"])
    return model
