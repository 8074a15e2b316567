"""The command line: train, evaluate, --json, --help and bad arguments."""

import json
import subprocess
import sys

import pytest
import torch


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vae_helpers", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env=_env())


def _env():
    import os

    return dict(os.environ, VAE_SMOKE="1", MPLBACKEND="Agg")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run_cli("train", "--model", "gaussian", "--epochs", "2", "--device", "cpu", "--out", str(out), "--json")
    return out, result


def test_train_prints_epochs_and_a_final_json_line(trained):
    out, result = trained
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert sum(line.startswith("epoch") for line in lines) == 2
    assert "nats" in lines[1]
    figures = json.loads(lines[-1])
    assert figures["model"] == "gaussian" and figures["epochs"] == 2
    assert "bundled MNIST subset" in figures["data_source"]
    assert 100 < figures["test_loss_nats"] < 545
    assert (out / "model.pt").is_file() and (out / "samples.png").stat().st_size > 5000


def test_evaluate_reports_the_elbo_and_a_tighter_importance_weighted_estimate(trained):
    out, _ = trained
    result = run_cli("evaluate", str(out / "model.pt"), "--dataset", "mnist", "--iw-samples", "20", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["neg_log_likelihood_nats"] <= figures["neg_elbo_nats"] + 0.5
    assert figures["images"] == 500 and figures["iw_samples"] == 20
    assert "negative ELBO" in result.stdout and "-log p(x)" in result.stdout


@pytest.mark.parametrize("model", ["ae", "categorical", "conv"])
def test_every_model_trains_from_the_command_line(model, tmp_path):
    result = run_cli("train", "--model", model, "--epochs", "1", "--batch-size", "256", "--out", str(tmp_path),
                     "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["model"] == model
    evaluated = run_cli("evaluate", str(tmp_path / "model.pt"), "--iw-samples", "2", "--json")
    assert evaluated.returncode == 0, evaluated.stderr


def test_help_documents_every_option():
    train_help = run_cli("train", "--help").stdout
    for option in ("--model", "--dataset", "--data-root", "--epochs", "--batch-size", "--latent-dim", "--device",
                   "--seed", "--out", "--json", "--cuda-graph", "--precision", "--prior-epochs"):
        assert option in train_help
    evaluate_help = run_cli("evaluate", "--help").stdout
    for option in ("checkpoint", "--dataset", "--split", "--data-root", "--iw-samples", "--json", "--prior"):
        assert option in evaluate_help


@pytest.mark.parametrize("args, reason", [
    (("train", "--model", "gan"), "invalid choice: 'gan'"),
    (("train", "--epochs", "0"), "expected a number >= 1"),
    (("train", "--epochs", "ten"), "expected a whole number"),
    (("evaluate", "missing.pt"), "checkpoint missing.pt does not exist"),
    (("fly",), "invalid choice: 'fly'"),
    (("train", "--device", "cpu", "--cuda-graph", "--epochs", "1"), "cuda_graph=True needs a CUDA device"),
    (("train", "--precision", "float16"), "invalid choice: 'float16'"),
])
def test_bad_arguments_exit_non_zero_with_a_one_line_reason(args, reason, tmp_path):
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1
    assert reason in result.stderr


def test_bfloat16_training_from_the_command_line_records_its_precision(tmp_path):
    result = run_cli("train", "--model", "gaussian", "--epochs", "1", "--device", "cpu", "--precision", "bfloat16",
                     "--out", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["precision"] == "bfloat16" and figures["cuda_graph"] is False
    assert 100 < figures["test_loss_nats"] < 545


def test_asking_for_cuda_trains_there_or_says_there_is_none(tmp_path):
    result = run_cli("train", "--device", "cuda", "--epochs", "1", "--out", str(tmp_path), "--json", cwd=tmp_path)
    if torch.cuda.is_available():
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout.strip().splitlines()[-1])["device"].startswith("cuda")
    else:
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
        assert "no CUDA GPU" in result.stderr
