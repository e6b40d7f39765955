"""The lab notebooks: generated exercises are up to date, every solution runs top to
bottom on the tiny preset, and every exercise notebook fails only at its TODOs."""

import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "labs"
SOLUTIONS = sorted((LABS / "solutions").glob("[0-9][0-9]_*.ipynb"))
# Generous per cell: a hung kernel fails the test instead of stalling the suite.
CELL_TIMEOUT = 300
STUB = re.compile(r'raise NotImplementedError\(\s*"TODO')


def tags(cell):
    return set(cell.metadata.get("tags", []))


def inject_parameters(notebook, **parameters):
    """Papermill's convention: a cell tagged `injected-parameters` right after the `parameters` cell."""
    index = next(i for i, cell in enumerate(notebook.cells) if "parameters" in tags(cell))
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))
    return notebook


def execute(notebook, allow_errors=False, kernel=None):
    """Runs a notebook from labs/, in a fresh kernel as a learner would, or in `kernel`
    (a started KernelManager, left running); returns seconds taken."""
    started = time.perf_counter()
    NotebookClient(
        notebook,
        km=kernel,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(LABS)}},
    ).execute()
    return time.perf_counter() - started


def errors_of(cell):
    return [output for output in cell.get("outputs", []) if output.output_type == "error"]


def text_of(cell):
    return "".join(output.get("text", "") for output in cell.get("outputs", []) if output.output_type == "stream")


@pytest.fixture(scope="module")
def lab_run_dir(tmp_path_factory):
    """One run directory for the labs: lab 3 trains the tiny model into it, labs 4 and 5 reuse it."""
    return tmp_path_factory.mktemp("lab_run") / "run"


def tiny_parameters(run_dir):
    return {"PRESET": "tiny", "RUN_DIR": str(run_dir), "SHOW_TENSORBOARD": False}


def test_the_course_has_five_labs_each_with_an_exercise_notebook():
    assert [path.name[:2] for path in SOLUTIONS] == ["01", "02", "03", "04", "05"]
    for path in SOLUTIONS:
        assert (LABS / path.name).is_file(), f"{path.name}: run python labs/build.py"


def test_build_check_passes():
    result = subprocess.run([sys.executable, "labs/build.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def load_build():
    """labs/build.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("labs_build", LABS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_check_fails_on_a_stale_exercise(tmp_path, monkeypatch):
    build = load_build()
    solution = nbformat.read(SOLUTIONS[0], as_version=4)
    exercise = build.exercise_of(build.clean(solution), SOLUTIONS[0].name)
    stubs = [cell.source for cell in exercise.cells if "exercise" in tags(cell)]
    assert stubs and all(STUB.search(source) and "### BEGIN" not in source for source in stubs)

    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / SOLUTIONS[0].name).write_text(SOLUTIONS[0].read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "setup_cell.py").write_text((LABS / "setup_cell.py").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(build, "LABS", tmp_path)
    monkeypatch.setattr(build, "SOLUTIONS", tmp_path / "solutions")
    monkeypatch.setattr(build, "SETUP_CELL", tmp_path / "setup_cell.py")
    assert build.main(["--check"]) == 1  # the exercise notebook is missing
    assert build.main([]) == 0
    assert build.main(["--check"]) == 0
    stale = tmp_path / SOLUTIONS[0].name
    stale.write_text(stale.read_text(encoding="utf-8").replace("TODO", "DONE"), encoding="utf-8")
    assert build.main(["--check"]) == 1


def test_build_check_fails_while_a_setup_cell_differs_from_its_source(tmp_path, monkeypatch, capsys):
    build = load_build()
    (tmp_path / "solutions").mkdir()
    solution = tmp_path / "solutions" / SOLUTIONS[0].name
    solution.write_text(SOLUTIONS[0].read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "setup_cell.py").write_text((LABS / "setup_cell.py").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(build, "LABS", tmp_path)
    monkeypatch.setattr(build, "SOLUTIONS", tmp_path / "solutions")
    monkeypatch.setattr(build, "SETUP_CELL", tmp_path / "setup_cell.py")
    assert build.main([]) == 0
    # A hand edit of one notebook's copy: --check names the cell's one source.
    notebook = nbformat.read(solution, as_version=4)
    build.setup_cell_of(notebook).source += "\nprint('edited here')"
    nbformat.write(notebook, solution)
    capsys.readouterr()
    assert build.main(["--check"]) == 1
    assert re.search(
        r"01_data_and_teacher_forcing\.ipynb has a setup cell that differs from \S*setup_cell\.py", capsys.readouterr().err
    )
    # An edit of the source: every notebook is stale until rebuilt, which copies it everywhere.
    assert build.main([]) == 0
    (tmp_path / "setup_cell.py").write_text(
        (LABS / "setup_cell.py").read_text(encoding="utf-8") + "# one more line\n", encoding="utf-8"
    )
    assert build.main(["--check"]) == 1
    assert build.main([]) == 0
    for path in (solution, tmp_path / SOLUTIONS[0].name):
        assert build.setup_cell_of(nbformat.read(path, as_version=4)).source.endswith("# one more line"), path


def test_build_rejects_unclosed_regions():
    build = load_build()
    source, regions = build.strip_regions("def f():\n    ### BEGIN SOLUTION: hint\n    return 1\n    ### END SOLUTION\n")
    assert regions == 1 and source == 'def f():\n    raise NotImplementedError("TODO: hint")\n'
    with pytest.raises(build.BuildError, match="never closed"):
        build.strip_regions("def f():\n    ### BEGIN SOLUTION\n    return 1\n")
    with pytest.raises(build.BuildError, match="without a matching"):
        build.strip_regions("### END ANSWER\n")


COLAB_LINK = re.compile(
    r"\]\((?P<url>https://colab\.research\.google\.com/github/(?P<repository>[^/\s]+/[^/\s]+)/blob/(?P<branch>[^/\s]+)/(?P<path>[^)\s]+))\)"
)


def test_the_readme_has_a_colab_link_per_lab_to_notebooks_that_exist():
    build = load_build()
    links = list(COLAB_LINK.finditer((LABS / "README.md").read_text(encoding="utf-8")))
    for link in links:
        assert (link["repository"], link["branch"]) == (build.REPOSITORY, build.BRANCH), link["url"]
        assert link["path"].endswith(".ipynb") and (ROOT / link["path"]).is_file(), f"{link['url']}: no such notebook"
    exercises = [link["path"] for link in links if link["path"].count("/") == 1]
    solutions = [link["path"] for link in links if link["path"].startswith("labs/solutions/")]
    assert exercises == [f"labs/{path.name}" for path in SOLUTIONS], "one exercise link per lab, in order"
    assert solutions == [f"labs/solutions/{path.name}" for path in SOLUTIONS], "one solution link per lab, in order"
    assert len(links) == len(exercises) + len(solutions)


@pytest.mark.parametrize(
    "path", [*SOLUTIONS, *(LABS / path.name for path in SOLUTIONS)], ids=lambda path: str(path.relative_to(LABS))
)
def test_each_notebook_opens_itself_in_colab_and_installs_from_the_repository(path):
    build = load_build()
    notebook = nbformat.read(path, as_version=4)
    first_markdown = next(cell for cell in notebook.cells if cell.cell_type == "markdown")
    assert [link["url"] for link in COLAB_LINK.finditer(first_markdown.source)] == [build.colab_url(str(path.relative_to(ROOT)))]
    setup = build.setup_cell_of(notebook)
    assert setup is notebook.cells[2], "the setup cell comes right after the parameters"
    assert setup.source == (LABS / "setup_cell.py").read_text(encoding="utf-8").rstrip("\n")
    assert f'"git+https://github.com/{build.REPOSITORY}"' in setup.source


def test_the_repository_is_one_constant_stamped_by_the_build(monkeypatch):
    build = load_build()
    original = build.REPOSITORY
    published = build.planned_files()
    assert published[LABS / "README.md"] == (LABS / "README.md").read_text(encoding="utf-8")
    monkeypatch.setattr(build, "REPOSITORY", "someone/course")
    for path, text in build.planned_files().items():
        if path.suffix != ".py":
            assert f"https://colab.research.google.com/github/someone/course/blob/{build.BRANCH}/labs/" in text, path
        if path.suffix != ".md":
            assert "git+https://github.com/someone/course" in text, path
        assert original not in text, f"{path} still names {original}"
        # The stamped links are the only places that name the repository.
        assert text.replace("someone/course", original) == published[path], path


# One worker runs the solutions in order: lab 3 trains into lab_run_dir, labs 4 and 5 reuse it.
@pytest.mark.core
@pytest.mark.xdist_group("lab_run")
@pytest.mark.parametrize("path", SOLUTIONS, ids=[path.stem for path in SOLUTIONS])
def test_solution_notebook_runs_top_to_bottom_on_tiny(path, lab_run_dir, request):
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "stored with outputs"
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    assert "parameters" in tags(first_code) and "PRESET" in first_code.source
    parameters = tiny_parameters(lab_run_dir)
    if "TRANSFORMER_RUN_DIR" in first_code.source:
        # The session's tiny transformer (trained by the command line for test_transformer),
        # not a second one: lab 5 trains the same way through course.trained_translator.
        parameters["TRANSFORMER_RUN_DIR"] = str(request.getfixturevalue("transformer_run"))
    seconds = execute(inject_parameters(notebook, **parameters))
    print(f"{path.name}: {seconds:.0f} s")
    for cell in notebook.cells:
        if "check" in tags(cell):
            assert "✓" in text_of(cell), f"a check failed on the solution:\n{cell.source}\n{text_of(cell)}"
        if "quiz" in tags(cell) and "quiz.submit" in cell.source:
            assert "(100%)" in text_of(cell), text_of(cell)
    # Every lab shows what it computed, not only tells it: at least two figures.
    figures = sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))
    assert figures >= 2, f"{path.name} drew {figures} figures"
    # How long each lab takes on tiny is printed (pytest -s shows it), not asserted: speed
    # is the benchmarks' business, and under a loaded CI machine a wall-clock bound only flakes.


@pytest.fixture(scope="module")
def exercise_kernel():
    """One kernel for the exercise notebooks' runs, which only set up and call their checks:
    each run empties its namespace first (%reset -f), so a name one notebook forgot to define
    still fails there, and the kernel's start and TensorFlow's import are paid once, not five times."""
    from jupyter_client.manager import KernelManager

    kernel = KernelManager(kernel_name="python3")
    kernel.start_kernel(cwd=str(LABS))
    yield kernel
    kernel.shutdown_kernel(now=True)


# One worker runs them all, in the one exercise_kernel.
@pytest.mark.xdist_group("lab_exercises")
@pytest.mark.parametrize("path", SOLUTIONS, ids=[path.stem for path in SOLUTIONS])
def test_exercise_notebook_fails_only_at_its_todos(path, lab_run_dir, exercise_kernel):
    exercise = nbformat.read(LABS / path.name, as_version=4)
    nbformat.validate(exercise)
    solution = nbformat.read(path, as_version=4)

    # Statically: the same cells as the solution (which runs), except the stubs.
    assert len(exercise.cells) == len(solution.cells)
    first_markdown = next(i for i, cell in enumerate(solution.cells) if cell.cell_type == "markdown")
    for index, (exercise_cell, solution_cell) in enumerate(zip(exercise.cells, solution.cells)):
        assert not exercise_cell.get("outputs"), f"cell {index} stored with outputs"
        if exercise_cell.source != solution_cell.source:
            assert index == first_markdown or tags(solution_cell) & {"exercise", "quiz"}, (
                f"cell {index} differs:\n{exercise_cell.source}"
            )
        if "exercise" in tags(exercise_cell):
            assert STUB.search(exercise_cell.source), exercise_cell.source
        assert "### BEGIN" not in exercise_cell.source and "### END" not in exercise_cell.source

    # Dynamically: the setup, exercise, check and quiz cells run; each check cell
    # stops at a TODO (NotImplementedError) and no other cell fails.
    kept = [cell for cell in exercise.cells if tags(cell) & {"parameters", "setup", "exercise", "check", "quiz"}]
    assert any("check" in tags(cell) for cell in kept)
    pruned = inject_parameters(nbformat.v4.new_notebook(cells=kept, metadata=exercise.metadata), **tiny_parameters(lab_run_dir))
    pruned.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))
    execute(pruned, allow_errors=True, kernel=exercise_kernel)
    for cell in pruned.cells:
        errors = errors_of(cell)
        if "check" in tags(cell):
            assert errors, f"this check passed on an unfinished exercise:\n{cell.source}"
            assert errors[0].ename == "NotImplementedError" and errors[0].evalue.startswith("TODO"), errors[0]
        else:
            assert not errors, f"{sorted(tags(cell))} cell failed with {errors[0].ename}: {errors[0].evalue}\n{cell.source}"
