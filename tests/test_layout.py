"""The house stays readable: the README's map matches the tree, imports flow one way, nothing needs scrolling."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "seqlib"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 100


def readme_map():
    """The code block under the README's "How the code is laid out"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    return section


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def seqlib_modules():
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def test_the_readme_map_names_every_subpackage_and_top_level_module_and_nothing_else():
    section = readme_map()
    subpackages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    top_modules = {path.name for path in PACKAGE.glob("*.py") if path.name not in ("__init__.py", "__main__.py")}
    named_packages = set(re.findall(r"^seqlib/(\w+)/", section, re.MULTILINE))
    named_modules = set(re.findall(r"^seqlib/(\w+\.py)", section, re.MULTILINE))
    assert named_packages == subpackages, "README's layout section and seqlib/'s subpackages differ"
    assert named_modules == top_modules, "README's layout section and seqlib/'s top-level modules differ"
    # Every module a subpackage line names exists there.
    for package, modules in re.findall(r"^seqlib/(\w+)/\s+([\w., ]+?)\s*$", section, re.MULTILINE):
        for module in re.findall(r"\w+", modules):
            assert (PACKAGE / package / f"{module}.py").exists() or (PACKAGE / package / module).is_dir(), (package, module)
    # The data flow picture is there.
    assert "text -> ids -> model -> logits -> search -> text" in section


def test_every_module_of_a_subpackage_is_named_on_its_line():
    section = readme_map()
    lines = dict(re.findall(r"^seqlib/(\w+)/\s+([\w., ]+?)\s*$", section, re.MULTILINE))
    for init in PACKAGE.glob("*/__init__.py"):
        package = init.parent
        present = {path.stem for path in package.glob("*.py") if path.name != "__init__.py"}
        present |= {path.parent.name for path in package.glob("*/__init__.py")}
        assert set(re.findall(r"\w+", lines.get(package.name, ""))) == present, package.name


def imports_of(path, modules):
    """The seqlib modules a file imports, at any depth (lazy imports inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("seqlib"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("seqlib")}
    return {name for name in found if name in modules and name != module_name(path)}


def test_no_import_cycle_between_modules():
    modules = seqlib_modules()
    graph = {name: imports_of(path, modules) - {"seqlib"} for name, path in modules.items()}
    done, on_path = set(), []

    def visit(name):
        if name in on_path:
            raise AssertionError("import cycle: " + " -> ".join(on_path[on_path.index(name) :] + [name]))
        if name in done:
            return
        on_path.append(name)
        for target in sorted(graph[name]):
            # A package's __init__ is not a step of the chain: importing seqlib.x.y runs it, not the reverse.
            visit(target)
        on_path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_no_module_over_600_lines_and_no_function_over_100():
    too_long = []
    for name, path in seqlib_modules().items():
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}.{node.name}: {length} lines")
    assert not too_long, too_long


def test_the_installed_package_carries_every_subpackage():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    present = {module_name(init) for init in PACKAGE.rglob("__init__.py")}
    assert present <= listed, f"pyproject.toml's packages lack {sorted(present - listed)}: `pip install .` would leave them out"
