"""Numbers written in a notebook's prose, and whether the notebook backs each one.

A number in a markdown cell is *backed* when it appears, to the rounding it is written with,
in a text output of the same notebook, or in a code cell's source (a budget, an architecture
size), or when it is a *cited constant*: listed in the notebook's metadata under
``vae_series.cited_numbers`` and written in a cell that names its source (an author, a year or
a link). Numbers inside LaTeX, code spans, links and HTML are not prose and are not read;
nor are section, exercise, notebook and seed numbers, the numbers of a numbered list, nor the
year of a citation ("Burda et al. 2016").
"""

import json
import re
from pathlib import Path

PROSE_NUMBER = re.compile(r"(?<![\w.\-/])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(%?)(?![\w/])")
OUTPUT_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?")
CITATION = re.compile(r"et al\.|\b(?:19|20)\d\d\b|https?://")
NOT_PROSE = [
    re.compile(r"```.*?```", re.S),                       # fenced code
    re.compile(r"\$\$.*?\$\$", re.S),                     # display math
    re.compile(r"(?<!\\)\$.+?(?<!\\)\$", re.S),           # inline math
    re.compile(r"\\\(.*?\\\)|\\\[.*?\\\]", re.S),
    re.compile(r"`[^`]*`"),                               # code spans
    re.compile(r"\]\([^)]*\)"),                           # link targets
    re.compile(r"<!--.*?-->|<[^>]+>", re.S),              # HTML
    re.compile(r"^\s*#+\s*[\d.]*", re.M),                 # heading numbers
    re.compile(r"^\s*\d+[.)]\s", re.M),                   # numbered list items
    re.compile(r"\b(?:[Ee]xercises?|[Nn]otebooks?|[Ss]ections?|[Ss]eeds?|[Ss]tep|[Pp]art|[Ff]igure|[Tt]able)"
               r"\s+\d+(?:\s*(?:,|and|-|to|or)\s*\d+)*"),
    re.compile(r"\b\d\d_\w+"),                            # notebook file stems
    re.compile(r"(?:et al\.|[A-Z][\w-]+),?\s+(?:19|20)\d\d[a-z]?\b"),  # a citation's year
]


def _text(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def prose_numbers(markdown: str) -> list:
    """[(value, decimals, is_percent, written)] for every number of a markdown cell's prose."""
    for pattern in NOT_PROSE:
        markdown = pattern.sub(" ", markdown)
    markdown = re.sub(r"(?:(?<=\s)|(?<=\()|^)[-\u2212](?=\d)", " ", markdown)  # a minus sign: read the magnitude
    found = []
    for match in PROSE_NUMBER.finditer(markdown):
        whole, fraction, percent = match.groups()
        written = match.group(0)
        value = float(whole.replace(",", "") + (fraction or ""))
        found.append((value, len(fraction) - 1 if fraction else 0, bool(percent), written))
    return found


def _output_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            parts.append(_text({"source": output["text"]}))
        for kind in ("text/plain", "text/markdown", "text/html"):
            if kind in output.get("data", {}):
                parts.append(_text({"source": output["data"][kind]}))
    return "\n".join(parts)


def backing_values(notebook) -> list:
    """Every number in the notebook's text outputs and code sources, as floats (magnitudes)."""
    values = []
    for cell in notebook["cells"]:
        if cell.get("cell_type") != "code":
            continue
        for text in (_output_text(cell), _text(cell)):
            for token in OUTPUT_NUMBER.findall(text):
                try:
                    values.append(abs(float(token.replace(",", ""))))
                except ValueError:
                    continue
    return values


def _backed(value: float, decimals: int, percent: bool, values) -> bool:
    tolerance = 0.5 * 10 ** (-decimals) * (1 + 1e-9)
    candidates = [value, value / 100] if percent else [value]
    for candidate in candidates:
        scale_tolerance = tolerance / 100 if candidate is not value else tolerance
        if any(abs(v - candidate) <= scale_tolerance for v in values):
            return True
    return False


def unbacked_numbers(path) -> list:
    """[(cell index, number as written, a line of context)] for every prose number that the
    notebook does not back."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    values = backing_values(notebook)
    cited = set(notebook.get("metadata", {}).get("vae_series", {}).get("cited_numbers", []))
    problems = []
    for index, cell in enumerate(notebook["cells"]):
        if cell.get("cell_type") != "markdown":
            continue
        text = _text(cell)
        for value, decimals, percent, written in prose_numbers(text):
            if written in cited and CITATION.search(text):
                continue
            if _backed(value, decimals, percent, values):
                continue
            line = next((line for line in text.split("\n") if written in line), "")
            problems.append((index, written, line.strip()[:160]))
    return problems
