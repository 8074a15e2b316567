"""Command line: ``python -m vae_helpers train | evaluate | assignments | publish ...``.

Run ``python -m vae_helpers train --help`` for every option.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import matplotlib
import torch

from .data import DATASETS, DEFAULT_PREPROCESSING, DatasetError, DeviceBatches, PREPROCESSINGS, load_dataset
from .device import describe_device, pick_device
from .fast_training import PRECISIONS
from .losses import iwae_bound
from .models import Autoencoder, CategoricalVAE, GaussianVAE
from .training import check_output_path, evaluate, fit, load_checkpoint, save_checkpoint
from .code_prior import CodePrior, fit_code_prior
from .vq import VQVAE, codebook_fingerprint, encode_codes

MODEL_CHOICES = ("ae", "gaussian", "conv", "categorical", "vqvae")
RUNS_FOLDER = Path("runs")
RUN_FILES = ("model.pt", "samples.png")
PRIOR_FILE = "prior.pt"  # a VQ-VAE run's learned code prior, beside its model.pt
DEFAULT_PRIOR_EPOCHS = 10


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line and exits with status 2, and shows
    every option's default after its help sentence."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, formatter_class=argparse.ArgumentDefaultsHelpFormatter, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _whole_number_at_least(minimum: int, what: str):
    """An argparse type: a whole number >= ``minimum``, else an error naming ``what`` it must be."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what} >= {minimum}, got {value}")
        return value
    return parse


_positive_int = _whole_number_at_least(1, "a number")
_count = _whole_number_at_least(0, "a count")
_seed = _whole_number_at_least(0, "a seed")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def next_run_folder(runs: Path = RUNS_FOLDER) -> Path:
    """``runs/run-001``, ``runs/run-002``, ...: the first numbered folder that does not exist yet,
    so that a run never replaces another run's files."""
    number = 1
    while (runs / f"run-{number:03d}").exists():
        number += 1
    return runs / f"run-{number:03d}"


def _check_out_folder(folder: Path, force: bool, names) -> None:
    """Before any work: ``folder`` must be creatable, and must not hold any of ``names`` unless ``force``."""
    check_output_path(folder, "--out", folder=True)
    taken = [name for name in names if (folder / name).exists()]
    if taken and not force:
        raise ValueError(f"--out {folder} already holds {', '.join(taken)} from another run; choose another "
                         "folder, leave out --out for a new numbered one, or pass --force to replace them")


def _build_model(kind: str, latent_dim, seed: int):
    """The model ``--model kind`` names, its initial weights drawn from ``seed``."""
    if kind == "ae":
        return Autoencoder(latent_dim=latent_dim or 2, seed=seed)
    if kind == "gaussian":
        return GaussianVAE(latent_dim=latent_dim or 20, hidden_dims=(400,), seed=seed)
    if kind == "conv":
        return GaussianVAE(latent_dim=latent_dim or 20, architecture="conv", seed=seed)
    if kind == "vqvae":
        return VQVAE(n_codes=latent_dim or 64, codebook_update="ema", dead_code_threshold=0.03, seed=seed)
    return CategoricalVAE(n_latents=latent_dim or 30, seed=seed)


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m vae_helpers",
                            description="Train and evaluate the VAEs of the series from the command line.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    train = commands.add_parser("train", help="train a model, write a checkpoint and a grid of samples")
    train.add_argument("--model", choices=MODEL_CHOICES, default="gaussian",
                       help="ae: autoencoder; gaussian: MLP VAE 784-400-20; conv: convolutional VAE; "
                            "categorical: 30 x 10 Gumbel-Softmax VAE; vqvae: VQ-VAE, 7 x 7 codes from a codebook "
                            "of 64 (EMA updates, dead-code reset)")
    train.add_argument("--dataset", choices=tuple(DATASETS), default="mnist", help="the images to train on")
    train.add_argument("--data-root", type=Path, default=None,
                       help="folder holding MNIST/raw or FashionMNIST/raw; a folder named here must hold the files. "
                            "None: data/ or ../data/ if they hold the dataset, else the bundled MNIST subset "
                            "(Fashion-MNIST: Debian's copy)")
    train.add_argument("--download", action="store_true",
                       help="download the dataset through torchvision into --data-root when it is not there")
    train.add_argument("--epochs", type=_positive_int, default=10, help="full passes over the training set")
    train.add_argument("--batch-size", type=_positive_int, default=128, help="images per training step")
    train.add_argument("--learning-rate", type=_positive_float, default=1e-3, help="Adam's learning rate")
    train.add_argument("--latent-dim", type=_positive_int, default=None,
                       help="latent dimensions (categorical: number of 10-class variables; vqvae: codebook "
                            "size K); None: 2 for ae, 20 for gaussian and conv, 30 for categorical, 64 for vqvae")
    train.add_argument("--preprocessing", choices=PREPROCESSINGS, default=DEFAULT_PREPROCESSING,
                       help="dynamic: training pixels binarized afresh each batch, test pixels "
                            "binarized once with the series' fixed seed; static: training pixels binarized "
                            "once; continuous: intensities in [0, 1] (a cross-entropy, not a likelihood)")
    train.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                       help="where to train; auto: a CUDA GPU, else Apple's MPS, else the CPU")
    train.add_argument("--seed", type=_seed, default=0,
                       help="seeds the initial weights, shuffling, binarization and sampling: the same seed on the "
                            "same machine and torch gives the same checkpoint, byte for byte, in the tests (VQ-VAE "
                            "training has differed between runs of notebook 09: docs/performance.md)")
    train.add_argument("--cuda-graph", action="store_true",
                       help="capture the training step as a CUDA graph and replay it (CUDA only)")
    train.add_argument("--precision", choices=PRECISIONS, default="float32",
                       help="bfloat16: matrix products in bf16 under autocast, losses in float32")
    train.add_argument("--prior-epochs", type=_count, default=None,
                       help="vqvae only: epochs of the PixelCNN prior over the 7 x 7 code grids, trained after "
                            f"the VQ-VAE with the same --batch-size and --learning-rate and saved as {PRIOR_FILE} "
                            f"(0: none; samples then decode uniform codes). Default for vqvae: "
                            f"{DEFAULT_PRIOR_EPOCHS} (capped at 2 in smoke mode, VAE_SMOKE=1)")
    train.add_argument("--out", type=Path, default=None,
                       help="folder for model.pt and samples.png (and prior.pt for vqvae); it must not hold "
                            "them already (see --force). "
                            "None: a new numbered folder runs/run-001, runs/run-002, ...")
    train.add_argument("--force", action="store_true",
                       help="replace model.pt, samples.png and prior.pt if --out holds them (a vqvae run with "
                            "--prior-epochs 0 removes an old prior.pt, which belongs to another model)")
    train.add_argument("--json", action="store_true", help="end with one JSON line of the final figures")

    evaluate_command = commands.add_parser("evaluate", help="negative ELBO and importance-weighted -log p(x)")
    evaluate_command.add_argument("checkpoint", type=Path, help="a model.pt written by 'train'")
    evaluate_command.add_argument("--dataset", choices=tuple(DATASETS), default="mnist",
                                  help="the images to score (the model's training dataset, usually)")
    evaluate_command.add_argument("--split", choices=("train", "test"), default="test", help="which split to score")
    evaluate_command.add_argument("--data-root", type=Path, default=None,
                                  help="folder holding MNIST/raw or FashionMNIST/raw, as for train")
    evaluate_command.add_argument("--download", action="store_true",
                                  help="download the dataset through torchvision into --data-root when it is not there")
    evaluate_command.add_argument("--preprocessing", choices=PREPROCESSINGS, default=DEFAULT_PREPROCESSING,
                                  help="dynamic or static: the series' fixed binarization "
                                       "of the images; continuous: intensities in [0, 1]")
    evaluate_command.add_argument("--iw-samples", type=_positive_int, default=100,
                                  help="k, the samples per image of the importance-weighted bound")
    evaluate_command.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                                  help="where to score; auto: a CUDA GPU, else Apple's MPS, else the CPU")
    evaluate_command.add_argument("--seed", type=_seed, default=0,
                                  help="seeds the latent draws of both estimates, so a repeat gives the same figures")
    evaluate_command.add_argument("--prior", type=Path, default=None,
                                  help=f"VQ-VAE checkpoints only: a {PRIOR_FILE} written by 'train'; the rate is then "
                                       "its -log p(codes) instead of the uniform prior's 49 log K")
    evaluate_command.add_argument("--json", action="store_true", help="end with one JSON line of the figures")
    assignments = commands.add_parser("assignments", help="write the student versions of the notebooks")
    assignments.add_argument("--source", type=Path, default=Path("notebooks"),
                             help="folder of the notebooks with solutions")
    assignments.add_argument("--out", type=Path, required=True,
                             help="folder for the student versions; it must not hold them already (see --force)")
    assignments.add_argument("--force", action="store_true", help="replace student versions already in --out")
    publish = commands.add_parser("publish", help="point every badge, Colab setup cell and link at a repository "
                                                  "(your fork); see vae_helpers.publish")
    publish.add_argument("repository", nargs="?",
                         help="OWNER/NAME on GitHub; without it, everything is brought in line with the home "
                              "in pyproject.toml")
    publish.add_argument("--branch", help="the branch the notebooks are on; without it, the configured one")
    publish.add_argument("--root", type=Path, default=Path("."), help="the clone of the series")
    publish.add_argument("--dry-run", action="store_true", help="say what would change and write nothing")
    publish.add_argument("--check", action="store_true",
                         help="change nothing; list what disagrees with the configured home, exit 1 if any")
    return parser


def _assignments(args) -> dict:
    from .assignments import refuse_solution_folder, write_student_versions

    refuse_solution_folder(args.source, args.out)
    names = [path.name for path in sorted(Path(args.source).glob("[0-9][0-9]_*.ipynb"))]
    _check_out_folder(args.out, args.force, names)
    written = write_student_versions(args.source, args.out)
    for path in written:
        print(f"wrote {path}")
    return dict(command="assignments", written=[str(path) for path in written])


def _publish(args) -> dict:
    from .publish import find_disagreements, publish, read_home

    if args.check:
        if args.repository or args.branch or args.dry_run:
            raise ValueError("--check compares with the configured home; give no repository, --branch or --dry-run")
        problems = find_disagreements(args.root)
        for problem in problems:
            print(problem)
        home = read_home(args.root)
        print(f"{len(problems)} disagreement(s) with {home.url} at {home.branch}")
        return dict(command="publish", check=True, disagreements=problems, exit_status=1 if problems else 0)
    changed = publish(args.root, args.repository, args.branch, dry_run=args.dry_run)
    verb = "would change" if args.dry_run else "changed"
    for path, changes in changed:
        print(f"{verb} {path}: {', '.join(changes)}")
    home = read_home(args.root)
    print(f"{len(changed)} file(s) {verb}" if args.dry_run else
          f"{len(changed)} file(s) changed; the series points at {home.url} at {home.branch}")
    return dict(command="publish", dry_run=args.dry_run, changed=[path for path, _ in changed])


def _train(args) -> dict:
    if args.prior_epochs is not None and args.model != "vqvae":
        raise ValueError(f"--prior-epochs is for --model vqvae (a prior over its code grids); --model {args.model} "
                         "samples from its own prior")
    prior_epochs = (DEFAULT_PRIOR_EPOCHS if args.prior_epochs is None else args.prior_epochs) \
        if args.model == "vqvae" else 0
    out = args.out if args.out is not None else next_run_folder()
    _check_out_folder(out, args.force, RUN_FILES + ((PRIOR_FILE,) if args.model == "vqvae" else ()))
    device = pick_device(args.device)
    train = load_dataset(args.dataset, "train", args.data_root, download=args.download)
    test = load_dataset(args.dataset, "test", args.data_root, download=args.download)
    print(f"data: {train.source}; device: {describe_device(device)}")
    model = _build_model(args.model, args.latent_dim, args.seed)  # fit seeds everything after the weights
    history = fit(model, train.images, test.images, epochs=args.epochs, batch_size=args.batch_size,
                  learning_rate=args.learning_rate, device=device, seed=args.seed,
                  preprocessing=args.preprocessing, progress=False, cuda_graph=args.cuda_graph,
                  precision=args.precision)
    loss_name = "reconstruction loss" if args.model == "ae" else "negative ELBO"
    for row in history.rows:
        print(f"epoch {row['epoch']:3d}  test {loss_name} {row['test_loss']:8.2f} nats  "
              f"({row['seconds']:.2f} s)")
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = save_checkpoint(model, out / "model.pt")  # before the prior: its failure must not lose the model
    written = [checkpoint]
    prior, prior_figures = None, {}
    if prior_epochs:
        prior, prior_figures = _train_code_prior(model, train.images, test.images, prior_epochs, args, device)
    elif args.model == "vqvae" and (out / PRIOR_FILE).exists():  # only with --force: it models another run's codes
        (out / PRIOR_FILE).unlink()
        print(f"removed {out / PRIOR_FILE}: it was fitted to the codes of the model this run replaced")
    if prior is not None:
        written.append(save_checkpoint(prior, out / PRIOR_FILE))
        prior_figures["prior_checkpoint"] = str(written[-1])
    samples = out / "samples.png"
    _save_samples(model, test.images, device, samples, prior, args.seed)
    print(f"wrote {', '.join(str(path) for path in written)} and {samples}")
    return dict(command="train", model=args.model, dataset=args.dataset, data_source=train.source,
                device=str(device), cuda_graph=args.cuda_graph, precision=args.precision,
                epochs=len(history), test_loss_nats=history.last["test_loss"],
                seconds_per_epoch=sum(history.column("seconds")) / max(len(history), 1),
                checkpoint=str(checkpoint), samples=str(samples), **prior_figures)


def _train_code_prior(model: VQVAE, train_images, test_images, epochs: int, args, device):
    """A PixelCNN prior over ``model``'s code grids: trained on the codes of two binarizations of
    the training images, scored on the codes of the series' fixed binarization of the test images."""
    from .data import binarize, evaluation_pixels, to_unit_interval

    if args.preprocessing == "continuous":
        train_inputs = [to_unit_interval(train_images)]
    else:
        binarizer = torch.Generator().manual_seed(args.seed)
        train_inputs = [binarize(train_images, binarizer) for _ in range(2)]
    train_codes = torch.cat([encode_codes(model, images) for images in train_inputs])
    test_codes = encode_codes(model, evaluation_pixels(test_images, args.preprocessing))
    prior = CodePrior(n_codes=model.n_codes, channels=48, layers=4, seed=args.seed,
                      fitted_to=codebook_fingerprint(model)).to(device)
    rows = fit_code_prior(prior, train_codes, test_codes, epochs=epochs, batch_size=args.batch_size,
                          learning_rate=args.learning_rate, seed=args.seed)
    for row in rows:
        print(f"prior epoch {row['epoch']:3d}  test -log p(codes) {row['test_nll']:8.2f} nats  "
              f"(uniform: {prior.uniform_nats:.2f})")
    return prior.eval(), dict(prior_epochs=len(rows), prior_test_nll_nats=rows[-1]["test_nll"] if rows else None)


def _save_samples(model, test_images, device, path: Path, prior=None, seed: int = 0) -> None:
    from . import plots
    from .data import to_unit_interval

    model.eval()
    if prior is not None:
        with torch.no_grad():
            codes = prior.sample(64, generator=torch.Generator().manual_seed(seed))
            images = model.decode_codes(codes.to(device))  # pixel means
        title = "Bernoulli means decoded from codes drawn from the learned prior"
    elif isinstance(model, VQVAE):
        images = model.sample_images(64, device)
        title = "Bernoulli means decoded from uniformly drawn codes (no prior trained)"
    elif hasattr(model, "sample_images"):
        images, title = model.sample_images(64, device), "Bernoulli means decoded from prior draws z ~ p(z)"
    else:
        images = model.reconstruct(to_unit_interval(test_images[:64]).to(device))
        title = "Bernoulli means of the reconstructions of test digits"
    figure = plots.image_grid(images, title=title)
    figure.savefig(path, dpi=100)


def _evaluate(args) -> dict:
    device = pick_device(args.device)
    model = load_checkpoint(args.checkpoint, device).eval()
    prior = None
    if args.prior is not None:
        if not isinstance(model, VQVAE):
            raise ValueError(f"--prior is for VQ-VAE checkpoints; {args.checkpoint} holds a {type(model).__name__}")
        prior = load_checkpoint(args.prior, device).eval()
        if not isinstance(prior, CodePrior):
            raise ValueError(f"--prior {args.prior} holds a {type(prior).__name__}, not a CodePrior")
        prior.check_fits(model, f"--prior {args.prior}", f"the VQ-VAE in {args.checkpoint}")
    data = load_dataset(args.dataset, args.split, args.data_root, download=args.download)
    print(f"data: {data.source}; device: {describe_device(device)}")
    torch.manual_seed(args.seed)
    scoring = "continuous" if args.preprocessing == "continuous" else "static"
    batches = DeviceBatches(data.images, data.labels, 250, device, False, scoring)
    figures = evaluate(model, batches)
    result = dict(command="evaluate", checkpoint=str(args.checkpoint), dataset=args.dataset, split=args.split,
                  data_source=data.source, images=len(data.labels))
    if isinstance(model, Autoencoder):
        print(f"reconstruction loss: {figures['loss']:.2f} nats per image (an autoencoder has no ELBO)")
        return dict(result, reconstruction_loss_nats=figures["loss"])
    if isinstance(model, VQVAE):  # a point-mass q: the ELBO is exact given the prior, no sampling to do
        if prior is None:
            rate, rate_name = figures["kl"], f"uniform prior over {model.n_codes} codes, 49 log K"
        else:  # -log p(codes) of each image's code grid under the learned prior, same pixels as the distortion
            with torch.no_grad():
                rate = -sum(float(prior.log_prob(model.codes(x)).sum()) for x, _ in batches) / len(data.labels)
            rate_name = f"learned prior {args.prior}, -log p(codes)"
        total = rate + figures["reconstruction"]
        print(f"rate ({rate_name}): {rate:.2f} nats per image")
        print(f"distortion -log p(x|z_q): {figures['reconstruction']:.2f} nats per image")
        print(f"total, a bound on -log p(x): {total:.2f} nats per image")
        return dict(result, rate_nats=rate, distortion_nats=figures["reconstruction"], total_nats=total,
                    neg_elbo_nats=total, prior=None if prior is None else str(args.prior))
    total, count = 0.0, 0
    with torch.no_grad():
        for x, _ in batches:
            total += float(iwae_bound(model, x, args.iw_samples).sum())
            count += x.shape[0]
    neg_log_px = -total / count
    print(f"negative ELBO: {figures['loss']:.2f} nats per image")
    print(f"-log p(x) estimate (importance-weighted, k={args.iw_samples}): {neg_log_px:.2f} nats per image")
    return dict(result, neg_elbo_nats=figures["loss"], neg_log_likelihood_nats=neg_log_px, iw_samples=args.iw_samples)


def main(argv=None) -> int:
    """Entry point; returns the exit status (0 success, 2 bad input)."""
    matplotlib.use("Agg")
    args = _parser().parse_args(argv)
    try:
        result = {"train": _train, "evaluate": _evaluate, "assignments": _assignments,
                  "publish": _publish}[args.command](args)
    except (DatasetError, FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"python -m vae_helpers {args.command}: error: {error}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(result))
    return result.get("exit_status", 0)
