"""The README's Python shows what works: its "From Python" block runs as written, on a tiny run."""

import re

import pytest

from tests.helpers import ROOT


def python_block(heading):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


@pytest.mark.core
def test_the_from_python_block_runs_on_a_trained_run(tiny_run, tmp_path, monkeypatch, capsys):
    import shutil

    run = tmp_path / "runs" / "cpu"
    shutil.copytree(tiny_run, run)
    monkeypatch.chdir(tmp_path)
    exec(compile(python_block("From Python"), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "tf.Tensor" in printed and printed.count("[(") == 1  # the batch's translations, then one n-best list
    assert (tmp_path / "attention.png").stat().st_size > 1000
