"""Train each model with the command line's defaults, then score it: the series' headline figures.

    python bench/default_budgets.py                      # every model, on the CPU
    python bench/default_budgets.py --models gaussian --device cuda

For each model this runs, in a temporary folder, exactly what a learner types:

    python -m vae_helpers train --model MODEL --device DEVICE --out TMP/MODEL --json
    python -m vae_helpers evaluate TMP/MODEL/model.pt --device DEVICE --json

(the default budget: 10 epochs, batch 128, Adam 1e-3, seed 0, dynamic binarization for training)
and prints one markdown table: seconds per epoch, the test negative ELBO and the importance-weighted
estimate of -log p(x) (k = 100), in nats per image, on the fixed binarization of the test images.
A VQ-VAE's -ELBO column holds two bounds, rate + distortion with the rate under a uniform prior over
the codes and under the PixelCNN code prior that ``train`` fits after it (``--prior-epochs``, 10 by
default; ``evaluate --prior``); its q is a point mass, so it has no importance-weighted estimate. The data line says
which images were used: with no MNIST files in data/, the bundled test part, which is made of MNIST
*training* digits, so the figures are not comparable with published test-set numbers.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("gaussian", "conv", "categorical", "vqvae")


def _run(arguments: list) -> dict:
    """Run ``python -m vae_helpers ARGUMENTS --json`` and return its final JSON line."""
    result = subprocess.run([sys.executable, "-m", "vae_helpers", *arguments, "--json"],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"python -m vae_helpers {' '.join(arguments)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"))
    args = parser.parse_args(argv)
    rows, source = [], None
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models:
            out = Path(folder) / model
            started = time.perf_counter()
            trained = _run(["train", "--model", model, "--device", args.device, "--out", str(out)])
            scored = _run(["evaluate", str(out / "model.pt"), "--device", args.device])
            if model == "vqvae":
                with_prior = _run(["evaluate", str(out / "model.pt"), "--prior", str(out / "prior.pt"),
                                   "--device", args.device])
            seconds = time.perf_counter() - started
            source = scored["data_source"]
            if model == "vqvae":
                bound = (f"{scored['total_nats']:.1f} with the uniform prior; {with_prior['total_nats']:.1f} with the "
                         "learned code prior")
                log_px = "none: q is a point mass, so importance sampling adds nothing"
            else:
                bound, log_px = f"{scored['neg_elbo_nats']:.1f}", f"{scored['neg_log_likelihood_nats']:.1f}"
            rows.append(f"| {model} | {trained['epochs']} | {trained['seconds_per_epoch']:.2f} | "
                        f"{bound} | {log_px} | {seconds:.0f} |")
    print(f"data: {source}; {scored['images']} test images, fixed binarization "
          "(vae_helpers.data.TEST_BINARIZATION_SEED); device: " + args.device)
    print("| model | epochs | s/epoch | test -ELBO (nats) | -log p(x), k = 100 (nats) | train + evaluate (s) |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
