"""Every notebook is run by nbval and is committed with outputs; the README's test command is
the one CI runs. (The Colab badge and setup cell of each notebook are checked against the
configured home in tests/test_publish.py.)"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_series_has_its_notebooks():
    names = [path.name for path in NOTEBOOKS]
    for number in range(6):
        assert any(name.startswith(f"{number:02d}_") for name in names), f"notebook {number:02d} is missing"
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", name) for name in names), names


def test_pytest_collects_every_notebook_for_nbval():
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist",
                             *[str(path) for path in NOTEBOOKS]],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:]
    for path in NOTEBOOKS:
        assert f"notebooks/{path.name}::" in result.stdout, f"nbval does not run {path.name}"
    configured = (ROOT / "pyproject.toml").read_text()
    assert 'testpaths = ["tests", "notebooks"]' in configured and "--nbval-lax" in configured


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_committed_with_outputs_and_an_exercise(path):
    notebook = json.loads(path.read_text())
    cells = notebook["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert sum(bool(cell.get("outputs")) for cell in code) > len(code) // 2, f"{path.name}: commit it with outputs"
    for cell in code:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name}: committed with an error output"
            assert not (output.get("name") == "stderr" and "Warning" in "".join(output.get("text", []))), \
                f"{path.name}: a warning is printed in a committed output"
    assert "### BEGIN SOLUTION" in path.read_text(), f"{path.name}: no exercise with a solution cell"


def test_ci_runs_the_readme_test_command_exactly():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"python3 -m pip install -r requirements-ci\.txt && (python3 -m pytest[^\n`]*)", readme)
    assert command, "the README's quick start must install requirements-ci.txt and run pytest"
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command.group(1).strip() in [line.strip() for line in ci]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_code_cells_compile_without_warnings_on_newer_pythons(path):
    # Python 3.12 (Colab's) prints a SyntaxWarning for an invalid escape such as "\l" in a plain
    # string, which CI's Python may keep silent: compile every cell with warnings as errors.
    import warnings

    notebook = json.loads(path.read_text(encoding="utf-8"))
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        # IPython's %magic and !shell lines are not Python: keep their indentation, drop the rest.
        lines = [re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in "".join(cell["source"]).splitlines()]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                compile("\n".join(lines), f"{path.name} cell {index}", "exec")
            except (SyntaxError, SyntaxWarning, DeprecationWarning) as error:
                pytest.fail(f"{path.name} cell {index}: {error}")
