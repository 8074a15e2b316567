"""Run every notebook top to bottom and print how long each takes, in smoke or full mode.

    python bench/time_notebooks.py            # full mode (the default mode learners run)
    python bench/time_notebooks.py --smoke    # smoke mode, as CI runs it
    python bench/time_notebooks.py --write    # full mode, and save the executed notebooks

Each notebook runs in a fresh kernel from the notebooks/ folder, as "Restart and Run All" would.
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="run with VAE_SMOKE=1")
    parser.add_argument("--write", action="store_true", help="save the executed notebooks in place")
    parser.add_argument("--keep-going", action="store_true",
                        help="after a notebook fails, report it and run the rest (exit status 1 at the end)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/NN_*.ipynb")
    args = parser.parse_args(argv)
    os.environ["VAE_SMOKE"] = "1" if args.smoke else "0"
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:  # before any notebook runs, not after the first ones have taken their minutes
        parser.error(f"no such notebook: {', '.join(missing)}")
    total, failed = 0.0, []
    print(f"mode: {'smoke' if args.smoke else 'full'}; {os.cpu_count()} CPUs")
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        started = time.perf_counter()
        try:
            NotebookClient(notebook, timeout=3600, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        except CellExecutionError as error:
            if not args.keep_going:
                raise
            failed.append(path.name)
            print(f"{path.name:40s} FAILED: {str(error).strip().splitlines()[-1][:200]}", flush=True)
            continue
        seconds = time.perf_counter() - started
        total += seconds
        print(f"{path.name:40s} {seconds:8.1f} s", flush=True)
        if args.write:
            nbformat.write(notebook, path)
    print(f"{'total':40s} {total:8.1f} s" + (f" (failed: {', '.join(failed)})" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
