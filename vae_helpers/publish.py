"""Where the series lives, kept in one place, and everything made from it.

The repository's home is written once, in ``pyproject.toml``: ``[project.urls] Homepage``
(``https://github.com/OWNER/NAME``) and ``[tool.vae_helpers] branch``. From that :class:`Home`
renders each notebook's Open-in-Colab badge (:meth:`Home.badge`), the Colab setup cell that
every notebook runs first (:meth:`Home.setup_cell`) and the links of the README and docs.

:func:`publish` points all of them at another repository (an instructor's fork, say); run it
as ``python -m vae_helpers publish OWNER/NAME [--branch BRANCH]`` from the root of a clone.
It rewrites only the home in ``pyproject.toml``, the badges, the setup cells and the links
that name the old home; outputs, cell ids and every other byte stay as they were.
:func:`find_disagreements` lists every badge, setup cell and link that does not match the
configured home (``publish --check``; the tests call it too).
"""

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
NOTEBOOK_GLOB = "notebooks/[0-9][0-9]_*.ipynb"
MARKDOWN_GLOBS = ("README.md", "docs/**/*.md", "data/README.md")
SETUP_CELL_MARKER = '"google.colab" in sys.modules'

_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_NAME = r"[A-Za-z0-9._-]{1,100}"
_BRANCH = r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*"
# A badge line: [![Open In Colab](<image>)](<a Colab URL>), whatever repository it names.
_BADGE_LINE = re.compile(r"^\[!\[Open In Colab\]\([^)\s]*\)\]\(https://colab\.research\.google\.com/github/[^)\s]*\)$")
# URLs that name a repository of the series, in Markdown and in cells.
_COLAB_URL = re.compile(r"https://colab\.research\.google\.com/github/(?P<slug>[^/\s)]+/[^/\s)]+)/blob/"
                        r"(?P<branch>[^\s)]+?)/notebooks/")
_GIT_INSTALL = re.compile(r"git\+https://github\.com/(?P<slug>[^/\s\"'@)]+/[^/\s\"'@)]+?)(?:\.git)?"
                          r"(?:@(?P<branch>[^\s\"')]+))?(?=[\s\"')]|$)")

SETUP_CELL_TEMPLATE = '''\
# Colab only: install the series' helper package, vae_helpers, from the repository or, if that
# fails, from a wheel in the working folder. Colab's own torch, torchvision and ipywidgets stay.
import glob, subprocess, sys
if "google.colab" in sys.modules:
    REPOSITORY = "git+{url}@{branch}"
    pip_install = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    if subprocess.run(pip_install + [f"vae_helpers @ {{REPOSITORY}}"]).returncode != 0:
        print(f"Could not install vae_helpers from {{REPOSITORY}}: it may be private, or Colab offline.")
        wheels = sorted(glob.glob("vae_helpers-*.whl"))
        if not wheels:
            raise RuntimeError("No vae_helpers-*.whl in the working folder either. Download the wheel from "
                               "the repository's releases (or build it in a clone: python -m build --wheel), "
                               "upload it with the Files panel on the left, and run this cell again.")
        print(f"Installing {{wheels[-1]}} from the working folder instead.")
        subprocess.run(pip_install + [wheels[-1]], check=True)'''


class PublishError(ValueError):
    """A repository that cannot be published to as asked; the message says what to fix."""


@dataclass(frozen=True)
class Home:
    """The series' repository on GitHub: ``owner/name`` and the branch the notebooks are on."""

    owner: str
    name: str
    branch: str = "main"

    def __post_init__(self):
        if not re.fullmatch(_OWNER, self.owner) or not re.fullmatch(_NAME, self.name) or self.name in {".", ".."}:
            raise PublishError(f"expected a GitHub repository as OWNER/NAME, got {self.owner}/{self.name!s}")
        if (not re.fullmatch(_BRANCH, self.branch) or ".." in self.branch or self.branch.endswith(".lock")
                or self.branch.startswith(("-", "."))):
            raise PublishError(f"expected a git branch name such as main, got {self.branch!r}")

    @classmethod
    def parse(cls, repository: str, branch: str = "main") -> "Home":
        """From ``OWNER/NAME`` or ``https://github.com/OWNER/NAME`` (a trailing ``.git`` or ``/`` is dropped)."""
        text = re.sub(r"^(?:https?://)?(?:www\.)?github\.com/", "", repository.strip())
        text = re.sub(r"(?:\.git)?/?$", "", text)
        parts = text.split("/")
        if len(parts) != 2:
            raise PublishError(f"expected a GitHub repository as OWNER/NAME, got {repository!r}")
        return cls(parts[0], parts[1], branch)

    @property
    def slug(self) -> str:
        """``owner/name``."""
        return f"{self.owner}/{self.name}"

    @property
    def url(self) -> str:
        """The repository's page, ``https://github.com/owner/name``."""
        return f"https://github.com/{self.slug}"

    @property
    def requirement(self) -> str:
        """What the setup cell gives pip: ``vae_helpers @ git+https://github.com/owner/name@branch``."""
        return f"vae_helpers @ git+{self.url}@{self.branch}"

    def colab_url(self, notebook: str) -> str:
        """The Colab page that opens ``notebooks/<notebook>`` (a file name such as ``00_start_here.ipynb``)."""
        return f"https://colab.research.google.com/github/{self.slug}/blob/{self.branch}/notebooks/{notebook}"

    def badge(self, notebook: str) -> str:
        """The Markdown Open-in-Colab badge for ``notebooks/<notebook>``: one line."""
        return f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({self.colab_url(notebook)})"

    def setup_cell(self) -> str:
        """The source of the Colab setup cell, the second cell of every notebook."""
        return SETUP_CELL_TEMPLATE.format(url=self.url, branch=self.branch)


def _pyproject(root: Path) -> Path:
    path = Path(root) / "pyproject.toml"
    if not path.is_file() or 'name = "vae_helpers"' not in path.read_text(encoding="utf-8"):
        raise PublishError(f"no pyproject.toml of vae_helpers in {Path(root).resolve()}: run this from the root "
                           "of your clone of the series")
    return path


def read_home(root=".") -> Home:
    """The home configured in ``<root>/pyproject.toml`` (``[project.urls] Homepage``, ``[tool.vae_helpers] branch``)."""
    config = tomllib.loads(_pyproject(root).read_text(encoding="utf-8"))
    homepage = config.get("project", {}).get("urls", {}).get("Homepage")
    if not homepage:
        raise PublishError("pyproject.toml has no [project.urls] Homepage = \"https://github.com/OWNER/NAME\"")
    branch = config.get("tool", {}).get("vae_helpers", {}).get("branch", "main")
    return Home.parse(homepage, branch)


# ------------------------------------------------------------------------------------------ rewriting

def _retarget_links(text: str, old: Home, new: Home) -> str:
    """Every URL in ``text`` that names ``old`` (or a Colab page of any repository) made to name ``new``."""
    text = _COLAB_URL.sub(f"https://colab.research.google.com/github/{new.slug}/blob/{new.branch}/notebooks/", text)
    text = _GIT_INSTALL.sub(lambda match: f"git+{new.url}@{new.branch}", text)
    old_page = re.escape(old.url)
    text = re.sub(old_page + r"/(blob|tree|raw)/" + re.escape(old.branch) + r"/",
                  lambda match: f"{new.url}/{match.group(1)}/{new.branch}/", text)
    return re.sub(old_page + r"(?![A-Za-z0-9._-])", new.url, text)


def _lines(text: str) -> list:
    return text.splitlines(keepends=True)


def _notebook_json(notebook, sort_keys: bool = True, ensure_ascii: bool = False, end: str = "\n") -> str:
    """A notebook as JSON with indent 1; by default nbformat's own layout (sorted keys, non-ASCII
    kept, final newline)."""
    return json.dumps(notebook, indent=1, sort_keys=sort_keys, ensure_ascii=ensure_ascii) + end


def _layout_of(text: str, notebook) -> dict:
    """The keyword arguments of :func:`_notebook_json` that reproduce ``text`` byte for byte, or None."""
    for sort_keys in (True, False):
        for ensure_ascii in (False, True):
            for end in ("\n", ""):
                layout = dict(sort_keys=sort_keys, ensure_ascii=ensure_ascii, end=end)
                if _notebook_json(notebook, **layout) == text:
                    return layout
    return None


def _new_cell_id(cells) -> str:
    taken = {cell.get("id") for cell in cells}
    number = len(cells)
    while f"colab-{number}" in taken:
        number += 1
    return f"colab-{number}"


def _published_notebook(path: Path, old: Home, new: Home):
    """(new file text, [what changed]) for one notebook; raises PublishError when its layout is not nbformat's."""
    text = path.read_text(encoding="utf-8")
    notebook = json.loads(text)
    layout = _layout_of(text, notebook)
    if layout is None:
        raise PublishError(f"{path} is not laid out as Jupyter saves notebooks (JSON with indent 1); open and "
                           "save it in Jupyter first, so that publish changes nothing but links")
    cells = notebook["cells"]
    changes = []
    if not cells or cells[0]["cell_type"] != "markdown":
        raise PublishError(f"{path}: the first cell must be the title cell (Markdown), as "
                           "docs/notebook_conventions.md says")
    title = "".join(cells[0]["source"])
    first_line, _, rest = title.partition("\n")
    badge = new.badge(path.name)
    if _BADGE_LINE.match(first_line):
        if first_line != badge:
            cells[0]["source"] = _lines(badge + "\n" + rest)
            changes.append("badge")
    else:
        cells[0]["source"] = _lines(badge + "\n\n" + title)
        changes.append("badge added")
    setup = new.setup_cell()
    if len(cells) > 1 and cells[1]["cell_type"] == "code" and SETUP_CELL_MARKER in "".join(cells[1]["source"]):
        if "".join(cells[1]["source"]) != setup:
            cells[1]["source"] = _lines(setup)
            changes.append("setup cell")
    else:
        fresh = {"cell_type": "code", "execution_count": None, "id": _new_cell_id(cells), "metadata": {},
                 "outputs": [], "source": _lines(setup)}
        if notebook.get("nbformat", 4) == 4 and notebook.get("nbformat_minor", 0) < 5:
            del fresh["id"]
        cells.insert(1, fresh)
        changes.append("setup cell added")
    for index, cell in enumerate(cells):
        if index == 1:
            continue
        source = "".join(cell["source"])
        retargeted = _retarget_links(source, old, new)
        if retargeted != source:
            cell["source"] = _lines(retargeted)
            changes.append(f"links in cell {index}")
    return _notebook_json(notebook, **layout), changes


def _published_pyproject(text: str, new: Home) -> str:
    """pyproject.toml with Homepage and the branch set to ``new``, everything else untouched."""
    config = tomllib.loads(text)
    old_homepage = config.get("project", {}).get("urls", {}).get("Homepage")
    if not old_homepage:
        raise PublishError("pyproject.toml has no [project.urls] Homepage to change")
    old = Home.parse(old_homepage)
    text = re.sub(re.escape(old.url) + r"(?![A-Za-z0-9._-])", new.url, text)
    text, count = re.subn(r'(?m)^(\[tool\.vae_helpers\]\n(?:(?!\[).*\n)*?)branch = "[^"\n]*"',
                          lambda match: f'{match.group(1)}branch = "{new.branch}"', text)
    if not count:
        raise PublishError('pyproject.toml has no branch = "..." line under [tool.vae_helpers]')
    return text


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".publish.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def publish(root, repository: str = None, branch: str = None, dry_run: bool = False) -> list:
    """Point the series in ``root`` at ``repository`` (``OWNER/NAME``; default: the configured home).

    Rewrites, in place: the home in pyproject.toml, each notebook's badge (first line of the
    first cell) and setup cell (the second cell; both added when missing), and every link that
    names the old home in the notebooks' Markdown and code, README.md, docs/ (all .md) and
    data/README.md. Nothing else changes: not outputs, not cell ids, not metadata. ``branch``
    defaults to the configured branch. With ``dry_run`` nothing is written.

    Returns ``[(path relative to root, [what changed])]`` for the files that change, in order;
    an empty list when everything already names ``repository``.
    """
    root = Path(root)
    old = read_home(root)
    new = Home.parse(repository, branch or old.branch) if repository else Home(old.owner, old.name,
                                                                              branch or old.branch)
    planned = []
    pyproject = _pyproject(root)
    text = pyproject.read_text(encoding="utf-8")
    updated = _published_pyproject(text, new)
    if updated != text:
        planned.append((pyproject, updated, ["home"]))
    notebooks = sorted(root.glob(NOTEBOOK_GLOB))
    if not notebooks:
        raise PublishError(f"no notebooks matching {NOTEBOOK_GLOB} in {root.resolve()}")
    for path in notebooks:
        updated, changes = _published_notebook(path, old, new)
        if changes:
            planned.append((path, updated, changes))
    for pattern in MARKDOWN_GLOBS:
        for path in sorted(root.glob(pattern)):
            text = path.read_text(encoding="utf-8")
            updated = _retarget_links(text, old, new)
            if updated != text:
                planned.append((path, updated, ["links"]))
    if not dry_run:
        for path, updated, _ in planned:
            _write(path, updated)
    return [(path.relative_to(root).as_posix(), changes) for path, _, changes in planned]


# ------------------------------------------------------------------------------------------ checking

def find_disagreements(root=".") -> list:
    """Every badge, setup cell, Colab link and git install line under ``root`` that does not match
    the configured home, one sentence each; an empty list when all agree."""
    root = Path(root)
    home = read_home(root)
    problems = []

    def check_links(where: str, text: str) -> None:
        for match in _COLAB_URL.finditer(text):
            if (match["slug"], match["branch"]) != (home.slug, home.branch):
                problems.append(f"{where}: a Colab link opens {match['slug']} at {match['branch']}, "
                                f"not {home.slug} at {home.branch}")
        for match in _GIT_INSTALL.finditer(text):
            if (match["slug"], match["branch"]) != (home.slug, home.branch):
                problems.append(f"{where}: installs from {match.group(0)}, not git+{home.url}@{home.branch}")

    for path in sorted(root.glob(NOTEBOOK_GLOB)):
        name = path.relative_to(root).as_posix()
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        title = "".join(cells[0]["source"]) if cells and cells[0]["cell_type"] == "markdown" else ""
        if title.partition("\n")[0] != home.badge(path.name):
            problems.append(f"{name}: the first line of the first cell is not the badge {home.badge(path.name)}")
        setup_ok = (len(cells) > 1 and cells[1]["cell_type"] == "code"
                    and "".join(cells[1]["source"]) == home.setup_cell())
        if not setup_ok:
            problems.append(f"{name}: the second cell is not the Colab setup cell for {home.slug}@{home.branch} "
                            "(python -m vae_helpers publish writes it)")
        for index, cell in enumerate(cells):
            if index == 1 and not setup_ok:
                continue
            check_links(f"{name} cell {index}", "".join(cell["source"]))
    for pattern in MARKDOWN_GLOBS:
        for path in sorted(root.glob(pattern)):
            check_links(path.relative_to(root).as_posix(), path.read_text(encoding="utf-8"))
    return problems
