"""The repository's home in one place (vae_helpers.publish): the badges, the Colab setup cell
and the links made from it, ``publish`` to a fork on a copy of the series, and every notebook of
this repository checked against the configured home."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vae_helpers.cli import main
from vae_helpers.publish import Home, PublishError, find_disagreements, publish, read_home

ROOT = Path(__file__).resolve().parents[1]
FORK = Home("octo-teacher", "vae-course-2026", "fall")


@pytest.fixture
def series(tmp_path) -> Path:
    """A copy of what publish touches: pyproject.toml, the notebooks, README.md, docs/ and data/README.md."""
    root = tmp_path / "series"
    (root / "data").mkdir(parents=True)
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copy2(ROOT / "README.md", root / "README.md")
    shutil.copy2(ROOT / "data" / "README.md", root / "data" / "README.md")
    shutil.copytree(ROOT / "docs", root / "docs")
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


def snapshot(root: Path) -> dict:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


# ------------------------------------------------------------------------------------------ Home

def test_the_configured_home_is_the_series_repository_on_main():
    home = read_home(ROOT)
    assert (home.slug, home.branch) == ("vae-series/vae-notebooks", "main")
    assert home.badge("03_elbo.ipynb") == (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/vae-series/vae-notebooks/blob/main/notebooks/03_elbo.ipynb)")
    assert home.requirement == "vae_helpers @ git+https://github.com/vae-series/vae-notebooks@main"


@pytest.mark.parametrize("text", ["octo-teacher/vae-course-2026", "https://github.com/octo-teacher/vae-course-2026",
                                  "github.com/octo-teacher/vae-course-2026.git", "octo-teacher/vae-course-2026/"])
def test_a_repository_is_read_from_a_slug_or_its_github_url(text):
    assert Home.parse(text, "fall") == FORK


@pytest.mark.parametrize("text, branch, message", [
    ("octo-teacher", "main", "OWNER/NAME"),
    ("octo/teacher/vae", "main", "OWNER/NAME"),
    ("-octo/vae", "main", "OWNER/NAME"),
    ("octo/vae course", "main", "OWNER/NAME"),
    ("octo/vae", "a..b", "branch"),
    ("octo/vae", "fall 2026", "branch"),
    ("octo/vae", "-f", "branch"),
])
def test_a_malformed_repository_or_branch_is_refused_with_what_was_expected(text, branch, message):
    with pytest.raises(PublishError, match=message):
        Home.parse(text, branch)


# ------------------------------------------------------------------------------------------ the setup cell

def run_setup_cell(monkeypatch, workdir: Path, *, on_colab=True, repository_installs=True, wheels=()):
    """Execute Home.setup_cell() as Colab would, with pip replaced by a recorder; return the
    commands it ran, what it printed and the exception it raised (or None)."""
    for name in wheels:
        (workdir / name).write_bytes(b"")
    commands = []

    def fake_run(command, check=False, **kwargs):
        commands.append(list(command))
        failed = not repository_installs and any(str(part).startswith("vae_helpers @ git+") for part in command)
        if failed and check:
            raise subprocess.CalledProcessError(1, command)
        return subprocess.CompletedProcess(command, 1 if failed else 0)

    monkeypatch.chdir(workdir)
    monkeypatch.setattr(subprocess, "run", fake_run)
    if on_colab:
        monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    printed, raised = [], None
    monkeypatch.setattr("builtins.print", lambda *args, **kwargs: printed.append(" ".join(map(str, args))))
    try:
        exec(compile(FORK.setup_cell(), "setup cell", "exec"), {})
    except Exception as error:  # the cell's own error, examined by the tests
        raised = error
    monkeypatch.undo()
    return commands, "\n".join(printed), raised


def assert_installs_only_vae_helpers_without_dependencies(commands):
    for command in commands:
        assert command[:4] == [sys.executable, "-m", "pip", "install"] and "--no-deps" in command, command
        targets = [part for part in command[4:] if not part.startswith("-")]
        assert len(targets) == 1 and Path(targets[0].split(" @ ")[0]).name.startswith("vae_helpers"), command
        assert not any(name in part for part in command for name in ("torch", "ipywidgets")), command


def test_setup_cell_does_nothing_off_colab(monkeypatch, tmp_path):
    commands, printed, raised = run_setup_cell(monkeypatch, tmp_path, on_colab=False)
    assert (commands, printed, raised) == ([], "", None)


def test_setup_cell_installs_from_the_repository_without_touching_colabs_packages(monkeypatch, tmp_path):
    commands, printed, raised = run_setup_cell(monkeypatch, tmp_path, wheels=["vae_helpers-0.1.0-py3-none-any.whl"])
    assert raised is None and printed == ""
    assert commands == [[sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                         "vae_helpers @ git+https://github.com/octo-teacher/vae-course-2026@fall"]]
    assert_installs_only_vae_helpers_without_dependencies(commands)


def test_setup_cell_falls_back_to_a_wheel_in_the_working_folder_and_says_so(monkeypatch, tmp_path):
    commands, printed, raised = run_setup_cell(monkeypatch, tmp_path, repository_installs=False,
                                               wheels=["vae_helpers-0.1.0-py3-none-any.whl", "notes.txt"])
    assert raised is None
    assert len(commands) == 2 and commands[1][-1] == "vae_helpers-0.1.0-py3-none-any.whl"
    assert_installs_only_vae_helpers_without_dependencies(commands)
    assert "Could not install vae_helpers from git+https://github.com/octo-teacher/vae-course-2026@fall" in printed
    assert "Installing vae_helpers-0.1.0-py3-none-any.whl from the working folder instead" in printed


def test_setup_cell_without_repository_or_wheel_explains_how_to_get_the_wheel(monkeypatch, tmp_path):
    commands, printed, raised = run_setup_cell(monkeypatch, tmp_path, repository_installs=False)
    assert len(commands) == 1 and "Could not install" in printed
    assert isinstance(raised, RuntimeError)
    for words in ("No vae_helpers-*.whl", "releases", "python -m build --wheel", "Files panel", "run this cell again"):
        assert words in str(raised), str(raised)


def test_setup_cell_is_short_enough_to_read_first():
    lines = FORK.setup_cell().splitlines()
    assert len(lines) <= 16 and max(map(len, lines)) <= 120, FORK.setup_cell()


# ------------------------------------------------------------------------------------------ publish

def test_publish_to_a_fork_changes_badges_setup_cells_and_links_and_nothing_else(series):
    before = snapshot(series)
    changed = dict(publish(series, "octo-teacher/vae-course-2026", branch="fall"))

    notebooks = sorted(path.name for path in (series / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert len(notebooks) >= 9
    assert changed["pyproject.toml"] == ["home"]
    assert read_home(series) == FORK
    assert find_disagreements(series) == []
    for name in notebooks:
        assert "badge" in changed[f"notebooks/{name}"], changed
        old, new = json.loads(before[f"notebooks/{name}"]), json.loads((series / "notebooks" / name).read_text())
        assert "".join(new["cells"][0]["source"]).startswith(FORK.badge(name) + "\n")
        assert "".join(new["cells"][1]["source"]) == FORK.setup_cell()
        assert [cell.get("id") for cell in new["cells"]] == [cell.get("id") for cell in old["cells"]]
        assert [cell.get("outputs") for cell in new["cells"]] == [cell.get("outputs") for cell in old["cells"]]
        assert {key: value for key, value in new.items() if key != "cells"} == \
               {key: value for key, value in old.items() if key != "cells"}
        for index, (old_cell, new_cell) in enumerate(zip(old["cells"], new["cells"])):
            assert {k: v for k, v in old_cell.items() if k != "source"} == \
                   {k: v for k, v in new_cell.items() if k != "source"}, (name, index)
            if index > 1:   # beyond badge and setup cell, a source changes only in its links to the home
                old_source, new_source = "".join(old_cell["source"]), "".join(new_cell["source"])
                expected = old_source.replace("vae-series/vae-notebooks", FORK.slug)
                expected = expected.replace("/blob/main/", "/blob/fall/").replace("@main", "@fall")
                assert new_source == expected, (name, index)
    after = snapshot(series)
    for path in set(before) - set(changed):
        assert before[path] == after[path], f"{path} changed but publish did not report it"
    readme = after["README.md"].decode()
    assert "vae-series/vae-notebooks" not in readme and f"github/{FORK.slug}/blob/fall/notebooks/00_start_here" in readme

    assert publish(series, "octo-teacher/vae-course-2026", branch="fall") == [], "a second run must change nothing"
    assert snapshot(series) == after


def test_publish_dry_run_reports_and_writes_nothing(series):
    before = snapshot(series)
    changed = publish(series, "octo-teacher/vae-course-2026", dry_run=True)
    assert "pyproject.toml" in dict(changed) and any(path.startswith("notebooks/") for path, _ in changed)
    assert snapshot(series) == before


def test_publish_adds_a_missing_badge_and_setup_cell_with_a_fresh_cell_id(series):
    path = series / "notebooks" / "01_probability_basics.ipynb"
    notebook = json.loads(path.read_text())
    title = "".join(notebook["cells"][0]["source"]).split("\n", 2)[2]     # the badge line and blank line dropped
    notebook["cells"][0]["source"] = title.splitlines(keepends=True)
    del notebook["cells"][1]
    path.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n")

    changed = dict(publish(series))
    assert changed["notebooks/01_probability_basics.ipynb"] == ["badge added", "setup cell added"]
    cells = json.loads(path.read_text())["cells"]
    assert "".join(cells[0]["source"]) == read_home(series).badge(path.name) + "\n\n" + title
    assert "".join(cells[1]["source"]) == read_home(series).setup_cell() and cells[1]["outputs"] == []
    ids = [cell["id"] for cell in cells]
    assert len(set(ids)) == len(ids) and ids[2:] == [cell["id"] for cell in notebook["cells"][1:]]


def test_publish_refuses_a_notebook_not_laid_out_as_jupyter_saves_it_and_writes_nothing(series):
    path = series / "notebooks" / "02_autoencoder_vs_vae.ipynb"
    path.write_text(json.dumps(json.loads(path.read_text()), indent=2))
    before = snapshot(series)
    with pytest.raises(PublishError, match="02_autoencoder_vs_vae.ipynb is not laid out as Jupyter saves"):
        publish(series, "octo-teacher/vae-course-2026")
    assert snapshot(series) == before


def test_publish_outside_a_clone_of_the_series_says_where_to_run_it(tmp_path):
    with pytest.raises(PublishError, match="run this from the root of your clone"):
        publish(tmp_path, "octo-teacher/vae-course-2026")


def test_command_line_publish_reports_each_change_and_check_finds_disagreements(series, capsys):
    assert main(["publish", "octo-teacher/vae-course-2026", "--branch", "fall", "--root", str(series)]) == 0
    out = capsys.readouterr().out
    assert "changed notebooks/00_start_here.ipynb: badge, setup cell" in out
    assert "points at https://github.com/octo-teacher/vae-course-2026 at fall" in out
    assert main(["publish", "--check", "--root", str(series)]) == 0
    assert "0 disagreement(s)" in capsys.readouterr().out

    readme = series / "README.md"
    readme.write_text(readme.read_text() + "\n[03](https://colab.research.google.com/github/someone/else/blob/main/"
                      "notebooks/03_elbo.ipynb)\n")
    assert main(["publish", "--check", "--root", str(series)]) == 1
    out = capsys.readouterr().out
    assert "README.md: a Colab link opens someone/else at main, not octo-teacher/vae-course-2026 at fall" in out

    assert main(["publish", "not-a-repository", "--root", str(series)]) == 2
    assert "expected a GitHub repository as OWNER/NAME" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ this repository

def test_every_badge_setup_cell_and_install_line_agrees_with_the_configured_home():
    """Fails when a notebook, the README or a doc names another repository or branch than
    pyproject.toml; ``python -m vae_helpers publish`` brings them in line."""
    problems = find_disagreements(ROOT)
    assert not problems, "\n".join(problems) + "\nrun: python -m vae_helpers publish"
