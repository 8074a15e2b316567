"""What every exercise test uses: submit a wrong answer and expect a failure that says what is
wrong without giving the answer away."""

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vae_helpers.assignments import (BEGIN_HIDDEN, BEGIN_SOLUTION, CHECK_CALL, END_SOLUTION, exercises,
                                     tag_for_nbgrader)

DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d+|\d+(?:\.\d+)?e[-+]?\d+")


def expect_failure(check, *arguments, says: str = "", forbid=(), **keywords) -> str:
    """Run ``check(*arguments, **keywords)``; it must raise AssertionError whose message names
    the exercise ("Exercise"), contains ``says`` (case-insensitive), has no decimal number in it
    and contains none of the strings of the values in ``forbid`` (e.g. the expected count).
    Returns the message."""
    with pytest.raises(AssertionError) as raised:
        check(*arguments, **keywords)
    message = str(raised.value)
    assert "Exercise" in message, f"the failure does not name the exercise: {message}"
    assert says.lower() in message.lower(), f"expected the failure to say {says!r}, got: {message}"
    assert not DECIMAL.search(message), f"the failure message holds a number a learner could copy: {message}"
    for value in forbid:
        assert not re.search(rf"(?<![\w.]){re.escape(str(value))}(?![\w])", message), \
            f"the failure message gives away {value!r}: {message}"
    return message


def expect_pass(check, *arguments, **keywords) -> None:
    """Run ``check``; it must not raise."""
    check(*arguments, **keywords)


# ----------------------------------------------------------------------------- nbgrader round trip

ROOT = Path(__file__).resolve().parents[2]


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _solution_code(source: str) -> str:
    """A solution cell's code as a student who solved it would submit it (no delimiters)."""
    return "\n".join(line for line in source.split("\n")
                     if line.strip() not in (BEGIN_SOLUTION, END_SOLUTION))


def nbgrader_round_trip(notebook_name: str, wrong_exercise: int, wrong_source: str, tmp_path: Path) -> None:
    """Release ``notebooks/<notebook_name>`` with nbgrader, then autograde three students in smoke
    mode: one submits the solutions (full automatic marks), one the untouched release (zero
    automatic marks), one the solutions with exercise ``wrong_exercise``'s solution cell replaced
    by ``wrong_source`` (loses exactly that exercise's points)."""
    source_notebook = ROOT / "notebooks" / notebook_name
    course = tmp_path / "course"
    (course / "source" / "hw").mkdir(parents=True)
    shutil.copy(source_notebook, course / "source" / "hw")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'vae'\nc.ExecutePreprocessor.timeout = 900\n")
    env = dict(os.environ, VAE_SMOKE="1", VAE_PROGRESS="0")

    def nbgrader(*args):
        result = subprocess.run(["nbgrader", *args], cwd=course, capture_output=True, text=True, timeout=1800,
                                env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    nbgrader("generate_assignment", "hw", "--create", "--force")
    release = _load(course / "release" / "hw" / notebook_name)
    assert "raise NotImplementedError()" in json.dumps(release)
    assert BEGIN_HIDDEN not in json.dumps(release), "hidden tests reached the release"
    solved = tag_for_nbgrader(_load(source_notebook), Path(notebook_name).stem)
    pairs = exercises(solved)
    assert 1 <= wrong_exercise <= len(pairs)
    solutions = {cell["metadata"]["nbgrader"]["grade_id"]: _solution_code("".join(cell["source"]))
                 for cell in solved["cells"] if cell.get("metadata", {}).get("nbgrader", {}).get("solution")
                 and cell["cell_type"] == "code"}
    wrong_id = solved["cells"][pairs[wrong_exercise - 1][0]]["metadata"]["nbgrader"]["grade_id"]
    submissions = {"solved": dict(solutions), "untouched": {}, "one_wrong": dict(solutions, **{wrong_id: wrong_source})}
    for student, sources in submissions.items():
        nbgrader("db", "student", "add", student)
        submitted = copy.deepcopy(release)
        for cell in submitted["cells"]:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id in sources:
                cell["source"] = sources[grade_id]
        folder = course / "submitted" / student / "hw"
        folder.mkdir(parents=True)
        (folder / notebook_name).write_text(json.dumps(submitted))
    nbgrader("autograde", "hw", "--force")

    from nbgrader.api import Gradebook

    points = [len(CHECK_CALL.findall("".join(solved["cells"][check]["source"]))) for _, check in pairs]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        def automatic_score(student):
            notebook = gradebook.find_submission_notebook(Path(notebook_name).stem, "hw", student)
            return sum(grade.score for grade in notebook.grades if grade.name.endswith("-check"))

        assert automatic_score("solved") == sum(points) > 0
        assert automatic_score("untouched") == 0
        assert automatic_score("one_wrong") == sum(points) - points[wrong_exercise - 1]
