"""Run notebooks with every seed shifted, to see whether their asserts hold on other seeds.

    python bench/seed_robustness.py --offset 1000 notebooks/04_reparameterization.ipynb
    python bench/seed_robustness.py --offset 1000 --offset 2000      # every notebook, two shifts
    python bench/seed_robustness.py --smoke --offset 7                # smoke mode, as CI runs

The notebooks seed everything they draw (``torch.manual_seed(s)``, ``torch.Generator().manual_seed(s)``,
the package's ``seed=`` arguments, which call the same two). Before the first cell, this script adds
``offset`` to every seed those two calls receive, so each run draws new data binarizations, weights,
shuffles and latent samples, then runs the notebook top to bottom in a fresh kernel. A notebook
whose prose claims hold on any seed passes for every offset; a failure prints the cell and the
assertion that broke. Nothing is written back to the notebooks.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]

SHIFT_SEEDS = """\
import torch as _torch
_OFFSET = {offset}
_plain_manual_seed = _torch.manual_seed
_torch.manual_seed = lambda seed: _plain_manual_seed(int(seed) + _OFFSET)
class _ShiftedGenerator(_torch.Generator):
    def manual_seed(self, seed):
        return super().manual_seed(int(seed) + _OFFSET)
_torch.Generator = _ShiftedGenerator
"""


def run(path: Path, offset: int, keep: Path = None) -> tuple:
    """(seconds, None) when ``path`` runs through with seeds shifted by ``offset``, else (seconds, reason).
    keep: a folder to save the executed notebook in (as NAME-offsetN.ipynb), failed or not."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(SHIFT_SEEDS.format(offset=offset)))
    started = time.perf_counter()
    try:
        NotebookClient(notebook, timeout=3600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    except CellExecutionError as error:
        lines = [line for line in str(error).splitlines() if line.strip()]
        return time.perf_counter() - started, " | ".join(lines[-3:])[:600]
    finally:
        if keep is not None:
            nbformat.write(notebook, keep / f"{path.stem}-offset{offset}.ipynb")
    return time.perf_counter() - started, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--offset", type=int, action="append", required=True,
                        help="added to every seed (repeat for several runs); 0 is the committed run")
    parser.add_argument("--smoke", action="store_true", help="run with VAE_SMOKE=1")
    parser.add_argument("--keep", type=Path, default=None,
                        help="a new or empty folder to save the executed notebooks in, to read what failed")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if args.keep is not None:
        if args.keep.exists() and (not args.keep.is_dir() or any(args.keep.iterdir())):
            parser.error(f"--keep {args.keep} must be a new or empty folder (nothing in it is replaced)")
        args.keep.mkdir(parents=True, exist_ok=True)
    os.environ["VAE_SMOKE"] = "1" if args.smoke else "0"
    os.environ.setdefault("VAE_PROGRESS", "0")
    print(f"mode: {'smoke' if args.smoke else 'full'}; seed offsets {args.offset}")
    failures = 0
    for path in paths:
        for offset in args.offset:
            seconds, reason = run(path, offset, args.keep)
            failures += reason is not None
            print(f"{path.name} offset {offset}: {'passed' if reason is None else 'FAILED: ' + reason} "
                  f"({seconds:.0f} s)", flush=True)
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
