"""Course assignments from the notebooks themselves: nbgrader metadata and student versions.

In the source notebooks each exercise is a *solution cell* (code holding the answer between
``### BEGIN SOLUTION`` and ``### END SOLUTION``, after placeholder lines such as
``kl_answer = None``) followed by a *check cell* (code calling ``vh.checks.check_*`` or a
notebook's own ``vh.checks.nbNN.check_*``). A check cell may hold nbgrader hidden tests between
``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``: they run when grading, and the student
version leaves them out. An "experiment and explain" exercise ends in a *manual answer cell*: a
markdown cell that starts with ``**Your answer** (graded by hand, N points)``.

:func:`tag_for_nbgrader` writes nbgrader's cell metadata for those cells (solution cells
editable, check cells graded and locked, one point per check call, manual answer cells graded by
hand with their N points), so ``nbgrader generate_assignment`` works on the notebooks as they
are. :func:`student_version` does what nbgrader does without nbgrader: each solution block
becomes ``raise NotImplementedError()``, hidden tests are removed, and the outputs from the first
exercise on are cleared, so that no trace of a solution is left in code, outputs or metadata.
"""

import copy
import json
import re
from pathlib import Path

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CHECK_CALL = re.compile(r"\bvh\.checks\.(?:nb\d\d\.)?check_\w+\(")
MANUAL_ANSWER = re.compile(r"^\*\*Your answer\*\* \(graded by hand, (\d+) points?\)")
NBGRADER_SCHEMA = 3


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def is_solution_cell(cell) -> bool:
    """A code cell holding a solution block."""
    return cell.get("cell_type") == "code" and BEGIN_SOLUTION in _source(cell)


def exercises(notebook) -> list:
    """[(solution cell index, check cell index)] in order. The check cell is the first code
    cell after the solution cell; it must call ``vh.checks.check_*``."""
    cells = notebook["cells"]
    pairs = []
    for index, cell in enumerate(cells):
        if not is_solution_cell(cell):
            continue
        following = next((j for j in range(index + 1, len(cells)) if cells[j]["cell_type"] == "code"), None)
        if following is None or not CHECK_CALL.search(_source(cells[following])):
            raise ValueError(f"the solution cell at index {index} is not followed by a check cell "
                             "calling vh.checks.check_*")
        pairs.append((index, following))
    return pairs


def manual_answers(notebook) -> list:
    """[(cell index, points)] of the manual answer cells, in order."""
    found = []
    for index, cell in enumerate(notebook["cells"]):
        match = MANUAL_ANSWER.match(_source(cell)) if cell.get("cell_type") == "markdown" else None
        if match:
            found.append((index, int(match.group(1))))
    return found


def tag_for_nbgrader(notebook, name: str):
    """Return a copy of ``notebook`` with nbgrader metadata on its solution and check cells.

    name: a short id for the notebook (e.g. its file stem), used in the cells' grade_id.
    """
    tagged = copy.deepcopy(notebook)
    for number, (solution, check) in enumerate(exercises(tagged), start=1):
        tagged["cells"][solution].setdefault("metadata", {})["nbgrader"] = {
            "grade": False, "solution": True, "locked": False, "task": False,
            "grade_id": f"{name}-exercise-{number}-solution", "schema_version": NBGRADER_SCHEMA}
        points = len(CHECK_CALL.findall(_source(tagged["cells"][check])))
        tagged["cells"][check].setdefault("metadata", {})["nbgrader"] = {
            "grade": True, "solution": False, "locked": True, "task": False, "points": points,
            "grade_id": f"{name}-exercise-{number}-check", "schema_version": NBGRADER_SCHEMA}
    for number, (index, points) in enumerate(manual_answers(tagged), start=1):
        tagged["cells"][index].setdefault("metadata", {})["nbgrader"] = {
            "grade": True, "solution": True, "locked": False, "task": False, "points": points,
            "grade_id": f"{name}-experiment-{number}-answer", "schema_version": NBGRADER_SCHEMA}
    return tagged


def _strip_hidden_tests(source: str) -> str:
    kept, inside = [], False
    for line in source.split("\n"):
        stripped = line.strip()
        if stripped == BEGIN_HIDDEN:
            inside = True
        elif stripped == END_HIDDEN:
            if not inside:
                raise ValueError(f"{END_HIDDEN} without {BEGIN_HIDDEN}")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"{BEGIN_HIDDEN} without {END_HIDDEN}")
    return "\n".join(kept)


def _strip_solution(source: str) -> str:
    lines, kept, inside = source.split("\n"), [], False
    for line in lines:
        stripped = line.strip()
        if stripped == BEGIN_SOLUTION:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            kept.extend(indent + stub_line for stub_line in CODE_STUB.split("\n"))
        elif stripped == END_SOLUTION:
            if not inside:
                raise ValueError(f"{END_SOLUTION} without {BEGIN_SOLUTION}")
            inside = False
        elif not inside:
            kept.append(line)
    if inside:
        raise ValueError(f"{BEGIN_SOLUTION} without {END_SOLUTION}")
    return "\n".join(kept)


def student_version(notebook):
    """Return the student copy: solution blocks replaced by ``raise NotImplementedError()``,
    hidden tests removed, outputs and execution counts cleared in every code cell from the first
    exercise on."""
    student = copy.deepcopy(notebook)
    pairs = exercises(student)
    if not pairs:
        return student
    first_exercise = pairs[0][0]
    for index, cell in enumerate(student["cells"]):
        if cell["cell_type"] != "code":
            continue
        if is_solution_cell(cell):
            cell["source"] = _strip_solution(_source(cell))
        if BEGIN_HIDDEN in _source(cell):
            cell["source"] = _strip_hidden_tests(_source(cell))
        if index >= first_exercise:
            cell["outputs"], cell["execution_count"] = [], None
    return student


def solution_lines(notebook) -> list:
    """The non-trivial lines of every solution block (to search for leaks)."""
    found = []
    for cell in notebook["cells"]:
        if not is_solution_cell(cell):
            continue
        inside = False
        for line in _source(cell).split("\n"):
            stripped = line.strip()
            if stripped in (BEGIN_SOLUTION, END_SOLUTION):
                inside = stripped == BEGIN_SOLUTION
            elif inside and len(stripped) > 8:
                found.append(stripped)
    return found


def refuse_solution_folder(source_folder, out_folder) -> None:
    """Raise ``ValueError`` when ``out_folder`` is ``source_folder``: the student versions would
    replace the notebooks with solutions (even with --force)."""
    if Path(out_folder).resolve() == Path(source_folder).resolve():
        raise ValueError(f"--out {out_folder} is the folder of the notebooks with solutions: writing the student "
                         "versions there would replace the solutions; choose another folder")


def write_student_versions(source_folder, out_folder) -> list:
    """Write the student version of every ``NN_*.ipynb`` in ``source_folder`` into ``out_folder``."""
    source_folder, out_folder = Path(source_folder), Path(out_folder)
    notebooks = sorted(source_folder.glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {source_folder}")
    refuse_solution_folder(source_folder, out_folder)
    out_folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        student = student_version(json.loads(path.read_text(encoding="utf-8")))
        target = out_folder / path.name
        target.write_text(json.dumps(student, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    return written


def points_table(source_folder) -> str:
    """A markdown table of every exercise: notebook, number, points and the task's first line
    (for a manual answer cell, the text after ``points):`` on its first line)."""
    rows = ["| notebook | exercise | points | what the student computes |", "|---|---|---|---|"]
    total = 0
    for path in sorted(Path(source_folder).glob("[0-9][0-9]_*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        for number, (solution, check) in enumerate(exercises(notebook), start=1):
            first_line = _source(notebook["cells"][solution]).split("\n")[0]
            task = first_line.split(":", 1)[1].strip() if first_line.startswith("# Exercise") else ""
            points = len(CHECK_CALL.findall(_source(notebook["cells"][check])))
            total += points
            rows.append(f"| `{path.stem}` | {number} | {points} | {task.replace('|', chr(92) + '|')} |")
        for number, (index, points) in enumerate(manual_answers(notebook), start=1):
            first_line = _source(notebook["cells"][index]).split("\n")[0]
            task = first_line.split("):", 1)[1].strip() if "):" in first_line else ""
            total += points
            rows.append(f"| `{path.stem}` | experiment {number} (by hand) | {points} | "
                        f"{task.replace('|', chr(92) + '|')} |")
    return "\n".join(rows) + f"\n\nIn all: {total} points.\n"
