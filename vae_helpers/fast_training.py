"""What makes ``fit`` fast: the default optimizer, bf16 autocast, and a training step captured
as a CUDA graph.

A small VAE step on a GPU is a few dozen tiny kernels; launched one by one from Python, the
launches (not the arithmetic) set the pace. :class:`GraphedTrainingStep` records the whole
step (forward, backward, optimizer update and loss accumulation) once as a CUDA graph and
then replays it with a single launch per batch. The arithmetic is unchanged; only the random
draws come from a different stretch of the generator's stream, so a graphed run is a
different seed, not a different model.
"""

import contextlib
import warnings
from typing import Callable

import torch
from torch.distributions import Distribution

PRECISIONS = ("float32", "bfloat16")

_fused_adam_support = {}


def fused_adam_supported(device: torch.device) -> bool:
    """Whether ``torch.optim.Adam(fused=True)`` runs on ``device`` with this torch (CUDA since
    torch 2.0, CPU since 2.4, Apple MPS later). Tried once per device type on a 1-element
    parameter, since older versions raise at construction and newer ones at the first step."""
    device = torch.device(device)
    if device.type not in _fused_adam_support:
        try:
            parameter = torch.zeros(1, device=device, requires_grad=True)
            parameter.grad = torch.ones_like(parameter)
            torch.optim.Adam([parameter], fused=True).step()
            _fused_adam_support[device.type] = True
        except (RuntimeError, TypeError, ValueError, NotImplementedError):
            _fused_adam_support[device.type] = False
    return _fused_adam_support[device.type]


def default_optimizer(parameters, learning_rate: float, device: torch.device,
                      capturable: bool = False) -> torch.optim.Optimizer:
    """Adam(learning_rate) with the fused kernel where the device supports it (one pass over
    each parameter instead of several; the same update up to float rounding), otherwise the
    multi-tensor one. capturable: keep the step count on the device, as a CUDA graph needs."""
    fused = fused_adam_supported(device)
    return torch.optim.Adam(parameters, lr=learning_rate, fused=fused or None, capturable=capturable)


def autocast_context(precision: str, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
    """A factory of the context the forward pass runs in: nothing for ``"float32"``, bf16
    autocast (matrix products in bfloat16, losses and reductions in float32) for ``"bfloat16"``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "float32":
        return contextlib.nullcontext
    if torch.device(device).type not in ("cuda", "cpu"):
        raise ValueError(f"precision='bfloat16' needs a CUDA or CPU device, got {torch.device(device).type}")
    device_type = torch.device(device).type
    # cache_enabled=False: autocast's weight cache must not outlive a CUDA graph capture.
    return lambda: torch.autocast(device_type, dtype=torch.bfloat16, cache_enabled=False)


def check_graph_options(device: torch.device, temperature, optimizer) -> None:
    """Raise ``ValueError`` naming the problem when ``fit(..., cuda_graph=True)`` cannot work."""
    if torch.device(device).type != "cuda":
        raise ValueError(f"cuda_graph=True needs a CUDA device, but training runs on {torch.device(device).type}")
    if callable(temperature):
        raise ValueError("cuda_graph=True needs a constant temperature (a number): a graph replays "
                         "the same step, so a temperature schedule cannot change between steps")
    for group in optimizer.param_groups:
        if "capturable" in group and not group["capturable"]:
            raise ValueError(f"cuda_graph=True needs an optimizer built with capturable=True (its state on the "
                             f"GPU); the {type(optimizer).__name__} passed was built without it")


class GraphedTrainingStep:
    """Replays one training step, captured as a CUDA graph, for every batch of ``batch_size``.

    take_step(x, y, kl_weight): the eager step (forward, backward, optimizer step, loss
    accumulation into tensors that live on the device); x float (B, 1, 28, 28), y int64 (B,),
    kl_weight a 0-d float tensor. The first ``warmup_steps`` full batches run eagerly on a
    side stream (they are real training steps, and they let cuBLAS and autograd set up before
    capture); the next one is captured and every later full batch replays it, after copying
    its images, labels and KL weight into the captured (static) tensors. A batch of another
    size (the last, partial one of an epoch) runs eagerly.

    The CUDA specifics are two methods, :meth:`run_beside` and :meth:`capture`; the rest is
    bookkeeping that the tests check on a CPU with a stand-in for them.
    """

    def __init__(self, take_step: Callable, batch_size: int, device: torch.device, warmup_steps: int = 3):
        self.take_step, self.batch_size, self.device = take_step, batch_size, torch.device(device)
        self.warmup_steps = warmup_steps
        self.steps_seen = 0
        self.replay = None
        self.graph = None  # kept alive here: its replay uses memory the graph owns
        self.static_x = self.static_y = None
        self.static_kl_weight = torch.zeros((), device=self.device)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, kl_weight: float) -> None:
        """Take one training step on (x, y) with KL weight ``kl_weight``."""
        if x.shape[0] != self.batch_size:
            self._eager(x, y, kl_weight)
            return
        if self.replay is None and self.steps_seen < self.warmup_steps:
            self.run_beside(lambda: self._eager(x, y, kl_weight))
        else:
            if self.replay is None:
                self.static_x, self.static_y = x.clone(), y.clone()
                self.replay = self.capture(lambda: self.take_step(self.static_x, self.static_y,
                                                                  self.static_kl_weight))
            self.static_x.copy_(x)
            self.static_y.copy_(y)
            self.static_kl_weight.fill_(kl_weight)
            self.replay()
        self.steps_seen += 1

    def _eager(self, x, y, kl_weight):
        with warnings.catch_warnings():
            # A capturable optimizer warns when it steps outside a graph; here that is intended.
            warnings.filterwarnings("ignore", message="This instance was constructed with capturable=True")
            self.take_step(x, y, torch.full((), kl_weight, device=self.device))

    def run_beside(self, work: Callable[[], None]) -> None:
        """Run ``work`` on a side stream that waits for, and is waited on by, the current one."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            work()
        torch.cuda.current_stream(self.device).wait_stream(side)

    def capture(self, work: Callable[[], None]) -> Callable[[], None]:
        """Record ``work`` as a CUDA graph (recording runs nothing) and return its replay."""
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        # Argument validation in torch.distributions reads a check back to the CPU, which a capture
        # forbids (OneHotCategorical validates its inner Categorical whatever it is told); the step
        # was already validated in the eager warm-up steps, so it is switched off while recording.
        validating = Distribution._validate_args
        Distribution.set_default_validate_args(False)
        try:
            with torch.cuda.graph(graph):
                work()
        except RuntimeError as error:
            raise RuntimeError(
                "capturing the training step as a CUDA graph failed; the model's loss may read values back to "
                "the CPU (.item(), if on a tensor) or draw from a CPU generator. Train without cuda_graph=True. "
                f"torch said: {str(error).splitlines()[0]}") from error
        finally:
            Distribution.set_default_validate_args(validating)
        self.graph = graph
        return graph.replay
