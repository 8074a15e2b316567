"""Prose that cannot drift from its outputs: every number a notebook's markdown states is backed
by that notebook (see tests/prose_numbers.py for what counts)."""

from pathlib import Path

import pytest

from tests.prose_numbers import prose_numbers, unbacked_numbers

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_every_number_in_the_prose_is_backed_by_an_output_a_code_cell_or_a_citation(path):
    problems = unbacked_numbers(path)
    assert not problems, f"{path.name}: numbers in prose that no output backs:\n" + "\n".join(
        f"  cell {index}: {number!r} in: {line}" for index, number, line in problems)


def test_the_reader_finds_prose_numbers_and_skips_math_code_links_and_citations():
    text = ("After 10 epochs the ELBO is -98.3 nats on 60,000 digits (about 16%). "
            "$\\log 2 = 0.693$ and `epochs=50` and [link](https://x.org/1234) and Burda et al. 2016.\n"
            "## 3. Section\n1. first item\nExercise 2 and notebook 05 and seed 002.")
    assert [written for *_, written in prose_numbers(text)] == ["10", "98.3", "60,000", "16%"]
    value, decimals, percent, _ = prose_numbers("-98.3")[0]
    assert (value, decimals, percent) == (98.3, 1, False)
