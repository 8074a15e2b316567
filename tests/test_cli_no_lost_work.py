"""Issue 13, the command line side: same seed, same bytes; no run replaces another's files; a bad
--out, data folder or checkpoint fails at once with one line that names the problem."""

import argparse
import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vae_helpers.cli import _parser

REPOSITORY = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd):
    env = dict(os.environ, VAE_SMOKE="1", MPLBACKEND="Agg", PYTHONPATH=str(REPOSITORY))
    env.pop("VAE_DATA_ROOT", None)
    return subprocess.run([sys.executable, "-m", "vae_helpers", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env=env)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def last_json(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_same_seed_runs_are_byte_identical_and_never_replace_each_other(tmp_path):
    train = ("train", "--epochs", "1", "--latent-dim", "2", "--device", "cpu", "--seed", "3", "--json")
    first, second = last_json(run_cli(*train, cwd=tmp_path)), last_json(run_cli(*train, cwd=tmp_path))
    runs = tmp_path / "runs"
    assert (first["checkpoint"], second["checkpoint"]) == ("runs/run-001/model.pt", "runs/run-002/model.pt")
    for name in ("model.pt", "samples.png"):
        assert sha256(runs / "run-001" / name) == sha256(runs / "run-002" / name)
    assert first["test_loss_nats"] == second["test_loss_nats"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((runs / "run-001" / "model.pt").stat().st_mode) == 0o666 & ~umask

    evaluate = ("evaluate", "runs/run-001/model.pt", "--iw-samples", "3", "--seed", "1", "--json")
    once, again = last_json(run_cli(*evaluate, cwd=tmp_path)), last_json(run_cli(*evaluate, cwd=tmp_path))
    assert once["neg_log_likelihood_nats"] == again["neg_log_likelihood_nats"]
    assert once["neg_elbo_nats"] == again["neg_elbo_nats"]

    before = sha256(runs / "run-001" / "model.pt")
    refused = run_cli("train", "--out", "runs/run-001", "--epochs", "1", cwd=tmp_path)
    assert refused.returncode == 2 and refused.stdout == ""  # refused before loading data or training
    assert "already holds model.pt, samples.png from another run" in refused.stderr and "--force" in refused.stderr
    assert sha256(runs / "run-001" / "model.pt") == before
    forced = last_json(run_cli("train", "--out", "runs/run-001", "--force", "--epochs", "1", "--latent-dim", "2",
                               "--device", "cpu", "--seed", "4", "--json", cwd=tmp_path))
    assert forced["checkpoint"] == "runs/run-001/model.pt" and sha256(runs / "run-001" / "model.pt") != before


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "notes.txt").write_text("hello notes\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "run").mkdir()
    return tmp_path


@pytest.mark.parametrize("args, reason", [
    (("train", "--out", "notes.txt"), "--out notes.txt is a file; expected a folder"),
    (("train", "--out", "notes.txt/run"), "--out notes.txt/run cannot be created: notes.txt is a file"),
    (("train", "--data-root", "empty"), "no mnist train data in the folder you named: looked for "
                                        "train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] in empty/MNIST/raw"),
    (("train", "--data-root", "mistyped"), "folder you named"),
    (("train", "--learning-rate", "0"), "--learning-rate: expected a finite number > 0"),
    (("evaluate", "run"), "checkpoint run is a folder, not a checkpoint file"),
    (("evaluate", "notes.txt"), "notes.txt is not a readable torch checkpoint: expected a model.pt"),
    (("assignments", "--source", str(REPOSITORY / "notebooks"), "--out", "notes.txt"), "is a file; expected a folder"),
])
def test_bad_paths_fail_at_once_with_one_line_that_names_the_problem(args, reason, workspace):
    result = run_cli(*args, cwd=workspace)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and reason in result.stderr
    assert "epoch" not in result.stdout
    assert (workspace / "notes.txt").read_text() == "hello notes\n"
    assert sorted(path.name for path in workspace.iterdir()) == ["empty", "notes.txt", "run"]  # nothing created


def test_assignments_refuse_to_replace_student_versions_without_force(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    (source / "00_start_here.ipynb").write_bytes((REPOSITORY / "notebooks" / "00_start_here.ipynb").read_bytes())
    out = tmp_path / "out"
    out.mkdir()
    (out / "00_start_here.ipynb").write_text("a student's work")
    result = run_cli("assignments", "--source", str(source), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2 and "already holds 00_start_here.ipynb" in result.stderr
    assert (out / "00_start_here.ipynb").read_text() == "a student's work"


def test_a_diverging_run_exits_non_zero_and_writes_no_checkpoint(tmp_path):
    result = run_cli("train", "--model", "categorical", "--learning-rate", "1e6", "--epochs", "2", "--device", "cpu",
                     "--out", "run", cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "Lower the learning rate" in result.stderr
    assert not (tmp_path / "run").exists()


def test_help_gives_every_option_a_sentence_and_its_default(monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no line breaks inside words such as --data-root
    commands = next(action for action in _parser()._actions if isinstance(action, argparse._SubParsersAction))
    assert {"train", "evaluate", "assignments"} <= set(commands.choices)
    for name, command in commands.choices.items():
        text = " ".join(command.format_help().split())  # argparse wraps lines; compare words
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and len(action.help.split()) >= 3, f"{name} {action.dest} has no sentence"
            shown = " ".join(action.help.split())
            if action.option_strings and not action.required:
                shown += f" (default: {action.default})"
            assert shown in text, f"{name} {action.dest}: its help or its default is not shown"
