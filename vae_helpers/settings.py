"""The one switch between smoke mode and full mode, read in one place.

Smoke mode (``VAE_SMOKE=1`` in the environment) keeps every code path but shrinks the
work: fewer epochs, fewer images, and never a download. CI sets it; learners do not.
"""

import os

SMOKE_ENV_VAR = "VAE_SMOKE"
PROGRESS_ENV_VAR = "VAE_PROGRESS"
SMOKE_TRAIN_IMAGES = 1000
SMOKE_TEST_IMAGES = 500


def is_smoke() -> bool:
    """True when ``VAE_SMOKE`` is set to 1/true/yes/on (case-insensitive)."""
    return os.environ.get(SMOKE_ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def by_mode(full, smoke):
    """Return ``smoke`` in smoke mode and ``full`` otherwise.

    Notebooks use it for every budget that smoke mode shrinks, so that both values
    stand side by side in the cell that uses them, e.g. ``epochs = by_mode(full=30, smoke=2)``.
    """
    return smoke if is_smoke() else full


def mode_name() -> str:
    """``"smoke"`` or ``"full"``, for printing which mode a run is in."""
    return "smoke" if is_smoke() else "full"


def progress_bars() -> bool:
    """False when ``VAE_PROGRESS=0``: headless runs (committing outputs, grading) then get one
    printed line per epoch instead of progress bars that a saved notebook cannot replay."""
    return os.environ.get(PROGRESS_ENV_VAR, "1").strip().lower() not in {"0", "false", "no", "off"}
