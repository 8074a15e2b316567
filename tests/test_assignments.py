"""Course assignments: nbgrader metadata, student versions, leaks, and a real nbgrader round trip."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from vae_helpers.assignments import (CHECK_CALL, exercises, solution_lines, student_version, tag_for_nbgrader,
                                     write_student_versions)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_notebook_has_checked_exercises_with_current_nbgrader_metadata(path):
    notebook = load(path)
    pairs = exercises(notebook)
    assert len(pairs) >= 2, f"{path.name}: at least two exercises"
    assert tag_for_nbgrader(notebook, path.stem) == notebook, \
        f"{path.name}: nbgrader metadata is stale; re-tag with vae_helpers.assignments.tag_for_nbgrader"
    for number, (solution, check) in enumerate(pairs, start=1):
        check_source = "".join(notebook["cells"][check]["source"])
        assert notebook["cells"][check]["metadata"]["nbgrader"]["points"] == len(CHECK_CALL.findall(check_source))
        solution_source = "".join(notebook["cells"][solution]["source"])
        assert solution_source.startswith(f"# Exercise {number}"), \
            f"{path.name}: solution cell {number} must start with '# Exercise {number}: <the task>'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_no_prose_cell_spells_an_nbgrader_marker(path):
    # nbgrader's ClearSolutions reads "BEGIN SOLUTION" in ANY cell as the start of a region and stops with
    # "no end solution statement found" when the END marker is on the same line (as it is in prose)
    for index, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"])
            for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
                assert marker not in text, f"{path.name} cell {index}: markdown names the nbgrader marker {marker!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_student_versions_leave_no_trace_of_a_solution(path):
    notebook = load(path)
    student = student_version(notebook)
    student_text = json.dumps(student)
    # text the student may see anyway: every cell's source with its solution blocks removed
    visible_sources = json.dumps(["".join(cell["source"]) for cell in student["cells"]])
    lines = solution_lines(notebook)
    assert lines, f"{path.name}: no solution lines found"
    for line in lines:
        escaped = json.dumps(line)[1:-1]
        assert student_text.count(escaped) <= visible_sources.count(escaped), \
            f"{path.name}: solution line leaked: {line}"
    first = exercises(notebook)[0][0]
    for cell in student["cells"][first:]:
        assert cell["cell_type"] == "markdown" or cell["outputs"] == []
    assert student_text.count("raise NotImplementedError()") == len(exercises(notebook))


def test_the_command_writes_every_student_version_deterministically(tmp_path):
    first = subprocess.run([sys.executable, "-m", "vae_helpers", "assignments", "--out", str(tmp_path / "a")],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    write_student_versions(ROOT / "notebooks", tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [p.name for p in NOTEBOOKS]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        nbformat.validate(nbformat.read(tmp_path / "a" / name, as_version=4))


def _execute(notebook_json, cwd):
    notebook = nbformat.reads(json.dumps(notebook_json), as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def _error_text(cell):
    return "\n".join(f"{o.get('ename')}: {o.get('evalue')}" for o in cell.outputs if o.output_type == "error")


@pytest.mark.parametrize("path", NOTEBOOKS[:2], ids=lambda path: path.name)
def test_undone_exercises_fail_their_checks_naming_the_exercise(path):
    notebook = load(path)
    executed = _execute(student_version(notebook), ROOT / "notebooks")
    for number, (solution, check) in enumerate(exercises(notebook), start=1):
        assert "NotImplementedError" in _error_text(executed.cells[solution])
        message = _error_text(executed.cells[check])
        assert f"Exercise {number}" in message and "no answer yet" in message, message


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_notebook_has_exercise_tests_with_an_nbgrader_round_trip(path):
    """The round trip itself (release, then solved / untouched / one-wrong submissions autograded)
    runs in tests/exercises/test_nbNN.py, one file per notebook so that CI's workers share them."""
    tests = ROOT / "tests" / "exercises" / f"test_nb{path.name[:2]}.py"
    assert tests.exists(), f"{path.name}: no {tests.relative_to(ROOT)}"
    source = tests.read_text()
    assert "nbgrader_round_trip(" in source and f'"{path.name}"' in source, \
        f"{tests.name} must run nbgrader_round_trip on {path.name}"
    assert source.count("expect_failure(") >= len(exercises(load(path))), \
        f"{tests.name}: every exercise needs tests that submit wrong answers"


def test_student_versions_drop_hidden_tests_and_keep_manual_answer_cells():
    notebook = {"cells": [
        {"cell_type": "code", "source": "# Exercise 1: x\nanswer = None\n### BEGIN SOLUTION\nanswer = 2\n### END SOLUTION",
         "outputs": [], "execution_count": None, "metadata": {}},
        {"cell_type": "code", "source": "vh.checks.check_number('Exercise 1', answer, 2)\n### BEGIN HIDDEN TESTS\n"
                                         "vh.checks.check_true('Exercise 1', answer == 2, 'no')\n### END HIDDEN TESTS",
         "outputs": [], "execution_count": None, "metadata": {}},
        {"cell_type": "markdown", "source": "**Your answer** (graded by hand, 3 points): why it changed", "metadata": {}},
    ]}
    tagged = tag_for_nbgrader(notebook, "nbx")
    assert tagged["cells"][1]["metadata"]["nbgrader"]["points"] == 2
    assert tagged["cells"][2]["metadata"]["nbgrader"] == {
        "grade": True, "solution": True, "locked": False, "task": False, "points": 3,
        "grade_id": "nbx-experiment-1-answer", "schema_version": 3}
    student = student_version(tagged)
    assert "HIDDEN" not in student["cells"][1]["source"] and "check_true" not in student["cells"][1]["source"]
    assert "answer = 2" not in student["cells"][0]["source"]
    assert student["cells"][2]["source"] == notebook["cells"][2]["source"]


def test_the_instructors_guide_lists_every_graded_exercise_and_its_points():
    from vae_helpers.assignments import points_table

    guide = (ROOT / "docs" / "instructors.md").read_text()
    assert points_table(ROOT / "notebooks") in guide, "regenerate the table with vae_helpers.assignments.points_table"


def test_the_command_never_writes_over_the_solution_notebooks(tmp_path):
    source = tmp_path / "notebooks"
    source.mkdir()
    original = (ROOT / "notebooks" / "01_probability_basics.ipynb").read_bytes()
    (source / "01_probability_basics.ipynb").write_bytes(original)
    for extra in ([], ["--force"]):
        result = subprocess.run([sys.executable, "-m", "vae_helpers", "assignments", "--source", str(source),
                                 "--out", str(source), *extra], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode != 0 and "would replace the solutions" in result.stderr, result.stderr
        assert (source / "01_probability_basics.ipynb").read_bytes() == original
