"""Choose the compute device once: CUDA, then Apple MPS, then CPU."""

import torch

_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(preference: str = "auto") -> torch.device:
    """Return the device to train on.

    ``preference``: ``"auto"`` picks CUDA if present, then Apple MPS, then CPU;
    ``"cpu"``, ``"cuda"`` or ``"mps"`` ask for that one and raise a ``RuntimeError``
    that says so when it is not available on this machine.
    """
    if not isinstance(preference, str) or preference.lower() not in _CHOICES:
        raise ValueError(f"device must be one of {', '.join(_CHOICES)}; got {preference!r}")
    preference = preference.lower()
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA GPU here")
    if preference == "mps" and not _mps_available():
        raise RuntimeError("device 'mps' was asked for, but Apple MPS is not available here")
    return torch.device(preference)


def describe_device(device: torch.device) -> str:
    """A one-line human description, e.g. ``"cuda (NVIDIA H100)"`` or ``"cpu (2 threads)"``."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
