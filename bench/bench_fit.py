"""Epoch time of ``vae_helpers.fit`` against the pytorch/examples training loop, in one run.

The reference loop is written the pytorch/examples ``vae/main.py`` way: a Dataset that turns
each image into a PIL image and through ``transforms.ToTensor()``, a ``DataLoader`` with
batch size 128, Adam(1e-3), sigmoid outputs with ``binary_cross_entropy`` summed per batch,
and ``loss.item()`` after every step. Both loops train the same architecture on the same
images for the same number of epochs, with the series' default pixels: each training batch
binarized afresh (``torch.bernoulli`` in the reference loop), the test images scored on the
series' one fixed binarization (``vh.evaluation_pixels``). The script prints seconds per epoch
for each loop, their ratio, and the test negative ELBO (nats per image) each reaches.

``fit`` runs in several variants, each against the same reference run: ``default`` (what the
notebooks use), ``foreach-adam`` (the unfused Adam that was the default before), and on CUDA
``graph`` (``cuda_graph=True``), ``graph+bf16`` (plus ``precision="bfloat16"``) and, for the
conv model, ``graph+bf16+channels-last``. Seconds per epoch are the mean over epochs 2..n
(the first holds one-off set-up: CUDA context, cuBLAS handles, graph capture) for both loops.

    python bench/bench_fit.py                       # all four models, both datasets, CPU
    python bench/bench_fit.py --datasets mnist --models gaussian     # the quick one
    python bench/bench_fit.py --device cuda --epochs 5 --json

The full 60,000-image Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` package
(``apt-get install dataset-fashion-mnist``) or ``data/FashionMNIST/raw``; it is never downloaded.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import vae_helpers as vh  # noqa: E402
from vae_helpers.training import evaluate  # noqa: E402

BATCH_SIZE = 128
LEARNING_RATE = 1e-3


class ReferenceImages(torch.utils.data.Dataset):
    """What torchvision.datasets.MNIST does per item: uint8 array -> PIL image -> ToTensor."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        from torchvision import transforms

        self.images, self.labels = images[:, 0].numpy(), labels.numpy()
        self.transform = transforms.ToTensor()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        from PIL import Image

        image = Image.fromarray(self.images[index])
        return self.transform(image), int(self.labels[index])


def reference_loss(logits, x, loc, log_var):
    """pytorch/examples' loss: BCE(sigmoid(logits), x) summed + KL, per batch (nats)."""
    bce = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum")
    kld = -0.5 * torch.sum(1 + log_var - loc.pow(2) - log_var.exp())
    return bce + kld


def reference_step_loss(model, x):
    if isinstance(model, vh.VQVAE):  # zalandoresearch's VQ-VAE notebook: nearest code, straight-through by hand
        z_e = model.encode(x)
        flat = z_e.reshape(-1, z_e.shape[-1])
        z_q = model.codebook[torch.cdist(flat, model.codebook).argmin(1)].view_as(z_e)
        bce = F.binary_cross_entropy(torch.sigmoid(model.decode(z_e + (z_q - z_e).detach())), x, reduction="sum")
        return bce + (z_q - z_e.detach()).pow(2).sum() + model.beta * (z_e - z_q.detach()).pow(2).sum()
    if isinstance(model, vh.CategoricalVAE):
        posterior = model.posterior(x)
        z = model.draw_latent(posterior)
        bce = F.binary_cross_entropy(torch.sigmoid(model.decode(z)), x, reduction="sum")
        return bce + model.kl_to_prior(posterior).sum()
    loc, log_var = model.encode(x)
    z = loc + torch.randn_like(loc) * torch.exp(0.5 * log_var)
    return reference_loss(model.decode(z), x, loc, log_var)


def reference_train(model, train, test, epochs, device):
    """Train the pytorch/examples way; returns (seconds per epoch, test negative ELBO)."""
    loader = torch.utils.data.DataLoader(ReferenceImages(train.images, train.labels), batch_size=BATCH_SIZE,
                                         shuffle=True)
    test_pixels = vh.evaluation_pixels(test.images)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    model.to(device)
    seconds = []
    for _ in range(epochs):
        model.train()
        started = time.perf_counter()
        train_loss = 0.0
        for x, _ in loader:
            x = torch.bernoulli(x.to(device))
            optimizer.zero_grad()
            loss = reference_step_loss(model, x)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        seconds.append(time.perf_counter() - started)  # loss.item() each step: already synchronised
    model.eval()
    test_loss = 0.0
    with torch.no_grad():
        for x in test_pixels.split(BATCH_SIZE):
            x = x.to(device)
            if isinstance(model, vh.VQVAE):  # point-mass q, uniform prior: the ELBO needs no sampling
                test_loss += -model.loss_parts(x).elbo.item() * x.shape[0]
            else:
                test_loss += -vh.elbo(model, x, reduction="none", **_eval_options(model)).elbo.sum().item()
    return steady_state(seconds), test_loss / len(test.labels)


def steady_state(seconds) -> float:
    """Mean seconds per epoch, leaving out the first epoch when there are more."""
    return float(np.mean(seconds[1:] if len(seconds) > 1 else seconds))


def _eval_options(model):
    return {"discrete": True} if isinstance(model, vh.CategoricalVAE) else {}


VARIANTS = {
    "default": {},
    "foreach-adam": {"optimizer": "foreach"},
    "graph": {"cuda_graph": True},
    "graph+bf16": {"cuda_graph": True, "precision": "bfloat16"},
    "graph+bf16+channels-last": {"cuda_graph": True, "precision": "bfloat16", "channels_last": True},
}
CUDA_ONLY = {"graph", "graph+bf16", "graph+bf16+channels-last"}


def ours_train(model, train, test, epochs, device, variant="default"):
    """Train with vae_helpers.fit in one of VARIANTS; returns (seconds per epoch, test negative ELBO)."""
    options = dict(VARIANTS[variant])
    if options.pop("optimizer", None) == "foreach":
        options["optimizer"] = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, foreach=True)
    if options.pop("channels_last", False):
        model = model.to(memory_format=torch.channels_last)
    history = vh.fit(model, train.images, test.images, epochs=epochs, batch_size=BATCH_SIZE,
                     learning_rate=LEARNING_RATE, device=device, progress=False, **options)
    return steady_state(history.column("seconds")), history.last["test_loss"]


def default_variants(model: str, device: torch.device) -> list:
    if device.type != "cuda":
        return ["default", "foreach-adam"]
    return ["default", "graph", "graph+bf16"] + (["graph+bf16+channels-last"] if model == "conv" else [])


MODELS = {
    "gaussian": lambda: vh.GaussianVAE(latent_dim=20, hidden_dims=(400,)),
    "conv": lambda: vh.GaussianVAE(architecture="conv"),
    "categorical": lambda: vh.CategoricalVAE(),
    "vqvae": lambda: vh.VQVAE(),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=("mnist", "fashion-mnist"),
                        default=["mnist", "fashion-mnist"])
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda", "mps"))
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=None,
                        help="fit variants to time (default: default and foreach-adam on CPU; "
                             "default, graph, graph+bf16 (+channels-last for conv) on CUDA)")
    parser.add_argument("--limit", type=int, default=None, help="use only this many training images")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    device = vh.pick_device(args.device)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is left out of the timings")
    if device.type != "cuda" and set(args.variants or ()) & CUDA_ONLY:
        parser.error(f"variants {', '.join(sorted(CUDA_ONLY))} need --device cuda")
    print(f"device: {vh.describe_device(device)}; torch {torch.__version__}; {args.epochs} epochs "
          f"(timed: epochs 2..{args.epochs}); batch {BATCH_SIZE}")
    results, failures = [], 0
    for dataset in args.datasets:
        train = vh.load_dataset(dataset, "train", limit=args.limit)
        test = vh.load_dataset(dataset, "test")
        print(f"\ndata: {train.source} ({len(train.labels)} train / {len(test.labels)} test images)")
        print(f"{'model':12s} {'fit variant':25s} {'reference s/epoch':>18s} {'fit s/epoch':>12s} {'ratio':>7s} "
              f"{'reference -ELBO':>16s} {'fit -ELBO':>10s}")
        for name in args.models:
            torch.manual_seed(0)
            reference_seconds, reference_elbo = reference_train(MODELS[name](), train, test, args.epochs, device)
            for variant in args.variants or default_variants(name, device):
                if variant == "graph+bf16+channels-last" and name != "conv":
                    continue
                torch.manual_seed(0)
                try:
                    ours_seconds, ours_elbo = ours_train(MODELS[name](), train, test, args.epochs, device, variant)
                except RuntimeError as error:  # report and go on: one broken variant must not hide the rest
                    print(f"{name:12s} {variant:25s} FAILED: {str(error).splitlines()[0][:150]}", flush=True)
                    failures += 1
                    continue
                ratio = ours_seconds / reference_seconds
                print(f"{name:12s} {variant:25s} {reference_seconds:18.3f} {ours_seconds:12.3f} {ratio:7.3f} "
                      f"{reference_elbo:16.2f} {ours_elbo:10.2f}", flush=True)
                results.append(dict(model=name, variant=variant, dataset=dataset, device=vh.describe_device(device),
                                    torch=torch.__version__, epochs=args.epochs, train_images=len(train.labels),
                                    reference_seconds_per_epoch=reference_seconds,
                                    fit_seconds_per_epoch=ours_seconds, ratio=ratio,
                                    reference_test_neg_elbo=reference_elbo, fit_test_neg_elbo=ours_elbo))
    if args.json:
        print(json.dumps(results))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
