"""Course assignments: nbgrader metadata, student versions, leaks, and a real nbgrader round trip."""

import json
import os
import shutil
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
ROUND_TRIP_NOTEBOOK = ROOT / "notebooks" / "01_probability_basics.ipynb"


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
        assert f'"Exercise {number}' in check_source, f"{path.name}: check {number} must name 'Exercise {number}'"
        assert notebook["cells"][check]["metadata"]["nbgrader"]["points"] == len(CHECK_CALL.findall(check_source))


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


def test_nbgrader_round_trip_generates_autogrades_and_scores(tmp_path):
    course = tmp_path / "course"
    source = course / "source" / "ps1"
    source.mkdir(parents=True)
    shutil.copy(ROUND_TRIP_NOTEBOOK, source)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        "c.CourseDirectory.course_id = 'vae'\n"
        "c.ExecutePreprocessor.timeout = 600\n")
    env = dict(os.environ, VAE_SMOKE="1")

    def nbgrader(*args):
        result = subprocess.run(["nbgrader", *args], cwd=course, capture_output=True, text=True, timeout=900,
                                env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    nbgrader("db", "student", "add", "ada")
    nbgrader("generate_assignment", "ps1", "--create", "--force")
    released = course / "release" / "ps1" / ROUND_TRIP_NOTEBOOK.name
    release = load(released)
    assert "raise NotImplementedError()" in json.dumps(release)
    # Ada fills in the released copy with the solutions' code.
    solutions = {cell["metadata"]["nbgrader"]["grade_id"]: cell["source"] for cell in load(ROUND_TRIP_NOTEBOOK)["cells"]
                 if cell.get("metadata", {}).get("nbgrader", {}).get("solution")}
    for cell in release["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell["source"] = "".join(solutions[grade_id]).replace("### BEGIN SOLUTION\n", "").replace(
                "### END SOLUTION", "")
    submitted = course / "submitted" / "ada" / "ps1"
    submitted.mkdir(parents=True)
    (submitted / released.name).write_text(json.dumps(release))
    nbgrader("autograde", "ps1", "--force")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission("ps1", "ada")
        maximum = sum(len(CHECK_CALL.findall("".join(load(ROUND_TRIP_NOTEBOOK)["cells"][check]["source"])))
                      for _, check in exercises(load(ROUND_TRIP_NOTEBOOK)))
        assert submission.max_score == maximum > 0
        assert submission.score == maximum


def test_the_instructors_guide_lists_every_graded_exercise_and_its_points():
    from vae_helpers.assignments import points_table

    guide = (ROOT / "docs" / "instructors.md").read_text()
    assert points_table(ROOT / "notebooks") in guide, "regenerate the table with vae_helpers.assignments.points_table"
