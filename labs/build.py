"""Generates the exercise notebooks from the solution notebooks.

    python labs/build.py          # write labs/NN_topic.ipynb from labs/solutions/NN_topic.ipynb
    python labs/build.py --check  # exit 1 if any of them is out of date (CI runs this)

The solution notebook is the one source. In its code cells, a solution region

    ### BEGIN SOLUTION: a hint for the learner
    ...the answer...
    ### END SOLUTION

becomes `raise NotImplementedError("TODO: a hint for the learner")` at the
marker's indentation, so regions belong inside function bodies: the exercise
cell still runs (it defines the function) and the check cell below it fails at
the TODO. An answer region (`### BEGIN ANSWER` … `### END ANSWER`, used for the
quiz answers inside a dict) becomes a `# TODO` comment, so the cell stays valid
and simply scores nothing.

Both kinds of notebook are stored without outputs: building also strips the
solutions' outputs, execution counts and editor metadata in place, and
`--check` fails while a solution still has them.

The setup cell is the same in every lab and has one source, labs/setup_cell.py:
building copies it into each notebook's first cell tagged `setup`, and `--check`
fails while a notebook's copy differs.

Colab links are formed from one constant, REPOSITORY below: building points
each notebook's "Open in Colab" badge at that notebook and the setup cell's
default course source (`git+https://github.com/…`) at the repository, and
rewrites the Colab links in labs/README.md.
"""

import argparse
import ast
import copy
import json
import re
import sys
from pathlib import Path

import nbformat

LABS = Path(__file__).resolve().parent
SOLUTIONS = LABS / "solutions"
SETUP_CELL = LABS / "setup_cell.py"

# The GitHub repository that hosts the course, "account/name". OWNER is a placeholder:
# set it when publishing the course, then run `python labs/build.py`, which stamps it into
# every notebook's Colab badge, into the setup cell's default source and into the links of labs/README.md.
REPOSITORY = "OWNER/seqlib"
BRANCH = "main"  # the branch Colab opens the notebooks from

_COLAB = "https://colab.research.google.com/github/"
_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
_BADGE = re.compile(r"\[!\[Open In Colab\]\(" + re.escape(_BADGE_IMAGE) + r"\)\]\([^)\s]*\)")
# A Colab link to a notebook of this repository, whatever repository and branch it names now.
_COLAB_LINK = re.compile(re.escape(_COLAB) + r"[\w.-]+/[\w.-]+/blob/[\w.-]+/(?P<path>[\w./-]+?\.ipynb)")
# The setup cell's default course source: pip's git URL of the repository.
_SOURCE = re.compile(r"git\+https://github\.com/[\w.-]+/[\w.-]+?(?:\.git)?(?=[\s\"'@#]|$)", re.MULTILINE)
_MARKER = re.compile(r"^(?P<indent>[ \t]*)### (?P<kind>BEGIN|END) (?P<region>SOLUTION|ANSWER)\b:?\s*(?P<hint>.*?)\s*$")
_LINE_LENGTH = 130  # pyproject.toml's ruff line-length
# Notebook metadata worth keeping: how to run it, and Colab's GPU request.
_NOTEBOOK_METADATA = ("kernelspec", "language_info", "colab", "accelerator")


class BuildError(Exception):
    """A solution notebook's markers are malformed; the message names file, cell and line."""


def strip_regions(source, where="cell"):
    """Replaces every solution and answer region of a code cell's source by its stub.

    Returns:
        (new source, number of regions replaced).
    """
    lines, regions, open_marker = [], 0, None
    for number, line in enumerate(source.split("\n"), start=1):
        marker = _MARKER.match(line)
        if marker is None:
            if open_marker is None:
                lines.append(line)
            continue
        kind, region, indent, hint = marker["kind"], marker["region"], marker["indent"], marker["hint"]
        if kind == "BEGIN":
            if open_marker is not None:
                raise BuildError(f"{where} line {number}: BEGIN {region} inside the region opened on line {open_marker[1]}")
            open_marker = (region, number)
            if region == "SOLUTION":
                message = "TODO: " + (hint or "write this part, then run the check below")
                literal = json.dumps(message, ensure_ascii=False)
                stub = f"{indent}raise NotImplementedError({literal})"
                if len(stub) > _LINE_LENGTH:
                    # Wrapped as `ruff format` would, so the exercises stay formatted.
                    stub = f"{indent}raise NotImplementedError(\n{indent}    {literal}\n{indent})"
                lines.append(stub)
            else:
                lines.append(f"{indent}# TODO{': ' + hint if hint else ': your answers here'}")
        else:
            if open_marker is None or open_marker[0] != region:
                raise BuildError(f"{where} line {number}: END {region} without a matching BEGIN {region}")
            open_marker = None
            regions += 1
    if open_marker is not None:
        raise BuildError(f"{where} line {open_marker[1]}: BEGIN {open_marker[0]} is never closed")
    return "\n".join(lines), regions


def _python_of(source):
    """The plain Python of a cell, with IPython's %magics and !commands translated."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # without IPython, only magic-free cells can be parsed
        return source
    return TransformerManager().transform_cell(source)


def clean(notebook):
    """A copy without outputs, execution counts or editor metadata (cell tags are kept)."""
    notebook = copy.deepcopy(notebook)
    notebook.metadata = nbformat.from_dict(
        {key: notebook.metadata[key] for key in _NOTEBOOK_METADATA if key in notebook.metadata}
    )
    if "language_info" in notebook.metadata:
        notebook.metadata.language_info = nbformat.from_dict({"name": notebook.metadata.language_info.get("name", "python")})
    for cell in notebook.cells:
        tags = cell.metadata.get("tags")
        cell.metadata = nbformat.from_dict({"tags": tags} if tags else {})
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


def exercise_of(solution, name="notebook"):
    """The exercise notebook for a (cleaned) solution notebook."""
    exercise = clean(solution)
    total = 0
    for index, cell in enumerate(exercise.cells):
        if cell.cell_type != "code":
            continue
        where = f"{name} cell {index}"
        cell.source, regions = strip_regions(cell.source, where)
        total += regions
        if regions:
            try:
                ast.parse(_python_of(cell.source))
            except SyntaxError as error:
                raise BuildError(
                    f"{where}: the exercise version is not valid Python ({error.msg}, line {error.lineno})"
                ) from None
    if total == 0:
        raise BuildError(f"{name}: no ### BEGIN SOLUTION region, so the exercise would equal the solution")
    first_markdown = next((cell for cell in exercise.cells if cell.cell_type == "markdown"), None)
    if first_markdown is not None:
        first_markdown.source += (
            f"\n\n> **Exercise version.** Fill in each `TODO`, then run the `check` cell below it. "
            f"Generated from [`solutions/{name}`](solutions/{name}) by `labs/build.py`: edit the solution, not this file."
        )
    return exercise


def colab_url(path):
    """The "Open in Colab" URL of a notebook; path from the repository root, e.g. labs/01_data_and_teacher_forcing.ipynb."""
    return f"{_COLAB}{REPOSITORY}/blob/{BRANCH}/{path}"


def stamp_setup_cell(text):
    """labs/setup_cell.py with its default course source formed from REPOSITORY."""
    text, count = _SOURCE.subn(lambda match: f"git+https://github.com/{REPOSITORY}", text)
    if not count:
        raise BuildError(f"{SETUP_CELL.name}: no default course source `git+https://github.com/…`")
    return text


def setup_cell_source():
    """The setup cell every notebook holds: labs/setup_cell.py, stamped (a cell has no final newline)."""
    return stamp_setup_cell(SETUP_CELL.read_text(encoding="utf-8")).rstrip("\n")


def setup_cell_of(notebook):
    """The notebook's first code cell tagged `setup` (the one labs/setup_cell.py fills), or None."""
    return next((cell for cell in notebook.cells if cell.cell_type == "code" and "setup" in cell.metadata.get("tags", [])), None)


def stamp(notebook, path, name="notebook", setup_source=None):
    """Points the notebook's Colab badge at `path` and fills its setup cell from labs/setup_cell.py (in place).

    Returns:
        the notebook. Raises BuildError when it has no badge in its first
        markdown cell or no code cell tagged `setup`.
    """
    first_markdown = next((cell for cell in notebook.cells if cell.cell_type == "markdown"), None)
    if first_markdown is None or not _BADGE.search(first_markdown.source):
        raise BuildError(f"{name}: the first markdown cell needs an Open In Colab badge, [![Open In Colab]({_BADGE_IMAGE})](…)")
    badge = f"[![Open In Colab]({_BADGE_IMAGE})]({colab_url(path)})"
    first_markdown.source = _BADGE.sub(lambda match: badge, first_markdown.source)
    setup = setup_cell_of(notebook)
    if setup is None:
        raise BuildError(f"{name}: no code cell tagged `setup` to hold {SETUP_CELL.name}")
    setup.source = setup_source if setup_source is not None else setup_cell_source()
    return notebook


def stamp_readme(text):
    """labs/README.md with every Colab link formed from REPOSITORY and BRANCH."""
    return _COLAB_LINK.sub(lambda match: colab_url(match["path"]), text)


def text_of(notebook):
    nbformat.validate(notebook)
    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"


def planned_files():
    """{path: expected text} for every solution (cleaned) and exercise notebook, and labs/README.md."""
    planned = {}
    setup_source = setup_cell_source()
    for solution_path in sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb")):
        name = solution_path.name
        solution = stamp(
            clean(nbformat.read(solution_path, as_version=4)), f"labs/solutions/{name}", f"solutions/{name}", setup_source
        )
        planned[solution_path] = text_of(solution)
        planned[LABS / name] = text_of(stamp(exercise_of(solution, name), f"labs/{name}", name, setup_source))
    if not planned:
        raise BuildError(f"{SOLUTIONS}: no solution notebooks (NN_topic.ipynb)")
    planned[SETUP_CELL] = setup_source + "\n"
    readme = LABS / "README.md"
    if readme.is_file():
        planned[readme] = stamp_readme(readme.read_text(encoding="utf-8"))
    return planned


def _problem(path, expected):
    """Why a file differs from what the build would write, for --check."""
    if path == SETUP_CELL:
        return f"names a course source other than git+https://github.com/{REPOSITORY}"
    if path.suffix == ".md":
        return f"has Colab links not formed from REPOSITORY = {REPOSITORY!r}"
    if not path.is_file():
        return "is missing"
    try:
        setup = setup_cell_of(nbformat.read(path, as_version=4))
    except Exception:  # an unreadable notebook is simply out of date
        setup = None
    if setup is None or setup.source != setup_cell_of(nbformat.reads(expected, as_version=4)).source:
        return f"has a setup cell that differs from {SETUP_CELL.relative_to(LABS.parent)}"
    if path.parent == SOLUTIONS:
        return "has outputs, editor metadata or a Colab link not formed from REPOSITORY"
    return "is out of date"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Generate the exercise notebooks from labs/solutions/.")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook is out of date")
    args = parser.parse_args(argv)
    try:
        planned = planned_files()
    except BuildError as error:
        print(f"labs/build.py: error: {error}", file=sys.stderr)
        return 2
    stale = [path for path, text in planned.items() if not path.is_file() or path.read_text(encoding="utf-8") != text]
    orphans = sorted(set(LABS.glob("[0-9][0-9]_*.ipynb")) - set(planned))
    if args.check:
        for path in stale:
            print(f"{path.relative_to(LABS.parent)} {_problem(path, planned[path])}", file=sys.stderr)
        for path in orphans:
            print(f"{path.relative_to(LABS.parent)} has no solution notebook in labs/solutions/", file=sys.stderr)
        if stale or orphans:
            print("run `python labs/build.py` and commit the result", file=sys.stderr)
            return 1
        print(f"{sum(path.parent == SOLUTIONS for path in planned)} labs up to date")
        return 0
    for path in stale:
        path.write_text(planned[path], encoding="utf-8")
        print(f"wrote {path.relative_to(LABS.parent)}")
    for path in orphans:
        print(f"warning: {path.relative_to(LABS.parent)} has no solution notebook; delete it if the lab is gone", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
