"""The end-to-end tests: the notebooks tried in the real clients.

Every test under tests/e2e carries the ``e2e`` marker (select with ``-m e2e``, leave out with
``-m "not e2e"``). In CI (``CI`` set to true) a missing chromium or playwright fails the tests;
elsewhere they are skipped with the reason. Each e2e test's wall time is printed at the end of
the run and appended to tests/e2e/output/timings.jsonl; screenshots go to
tests/e2e/output/screens (and /tmp/e2e_screens). Helpers live in e2e_support.py.

Needs: Debian's chromium (.ci/install_browser), the playwright package (never `playwright
install`), the build package (the wheel), git, and PyPI for the Colab-like and quick-start
venvs. They run from a system Python and from inside a venv alike (e2e_support.make_layered_venv). Bounds, in seconds, that a
slow machine may raise: E2E_NOTEBOOK_TIMEOUT (600, one notebook), E2E_REDRAW_TIMEOUT (120, one
slider move), E2E_INSTALL_TIMEOUT (600, one pip command); E2E_CHROMIUM (/usr/bin/chromium).
"""

import json
import time
from pathlib import Path

import pytest

from e2e_support import E2E_DIR, OUTPUT_DIR


# ---------------------------------------------------------------------------- marker, timings

def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end tests in real clients (JupyterLab in chromium, "
                                       "a Colab-like ipywidgets 7.7 environment, the README quick start)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


_TIMINGS: dict = {}


def pytest_runtest_logreport(report):
    """Keep each e2e test's wall time; under xdist each worker appends to timings.jsonl."""
    if report.when != "call" or E2E_DIR.name not in report.nodeid.split("/"):
        return
    _TIMINGS[report.nodeid] = (round(report.duration, 1), report.outcome)
    try:
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        with open(OUTPUT_DIR / "timings.jsonl", "a") as log:
            log.write(json.dumps({"test": report.nodeid, "seconds": round(report.duration, 1),
                                  "outcome": report.outcome, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")
    except OSError:
        pass


def pytest_terminal_summary(terminalreporter):
    if not _TIMINGS:
        return
    terminalreporter.section("e2e timings (seconds, call phase)")
    for nodeid, (seconds, outcome) in sorted(_TIMINGS.items()):
        terminalreporter.write_line(f"{seconds:8.1f}  {outcome:<8} {nodeid}")


@pytest.fixture(scope="session")
def screens_dir() -> Path:
    """Where screenshots go: tests/e2e/output/screens (and a copy in /tmp/e2e_screens)."""
    path = OUTPUT_DIR / "screens"
    path.mkdir(parents=True, exist_ok=True)
    return path


