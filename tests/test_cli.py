"""The command line as a user runs it: subprocesses, exit codes, one-line errors (and, where only
what follows the TensorFlow import is tested, the same main() in the test process: run_main_here)."""

import argparse
import gzip
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, one_line_error, run_main_here, run_main_without_tensorflow, run_seqlib


@pytest.fixture
def own_run(cli_run, tmp_path):
    """A copy of the session's cli_run (1 epoch) for a test that changes it (trains it further, saves evaluations)."""
    return Path(shutil.copytree(cli_run, tmp_path / "run"))


def test_help_on_every_verb():
    for verb in ("train", "translate", "evaluate", "export", "quiz", "bench"):
        done = run_main_without_tensorflow(verb, "--help")
        assert done.returncode == 0 and b"usage" in done.stdout, verb


def test_every_option_of_every_verb_has_help_text():
    from seqlib.cli.main import build_parser

    parser = build_parser()
    for verb, verb_parser in parser.verb_parsers.items():
        for action in verb_parser._actions:
            assert action.help and action.help != argparse.SUPPRESS, f"{verb} {action.option_strings or action.dest}"


@pytest.mark.core
def test_train_then_translate_from_stdin_keeps_lines_aligned(cli_run):
    done = run_seqlib("translate", "--model", cli_run, input=b"Go.\n\nI am cold.\n   \nWho?\n")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    lines = done.stdout.decode().split("\n")
    assert len(lines) == 6 and lines[-1] == ""
    assert lines[1] == "" and lines[3] == ""
    # Every real sentence got a translation, so the blank lines are the blank inputs.
    assert all(lines[i].strip() for i in (0, 2, 4)), lines


@pytest.mark.core
def test_translate_arguments_and_n_best(cli_run):
    done = run_main_here("translate", "--model", cli_run, "--beam", "3", "--n-best", "2", "Go.", "Hi.")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    rows = [line.split("\t") for line in done.stdout.decode().splitlines()]
    assert [row[0] for row in rows] == ["0", "0", "1", "1"]
    assert float(rows[0][1]) >= float(rows[1][1])


def test_inputs_longer_than_the_model_reads_are_named_with_a_warning(cli_run):
    # The tiny preset reads at most 12 source tokens. One line a batch: the
    # warnings count lines over the whole input, not within a batch.
    lines = ["Go.", " ".join(["cat"] * 20), "x" * 15000, "Hi."]
    done = run_seqlib("translate", "--model", cli_run, "--batch-size", "1", input="\n".join(lines).encode() + b"\n")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert len(done.stdout.decode().splitlines()) == 4
    warnings = [line for line in done.stderr.decode().splitlines() if "warning" in line]
    assert warnings == [
        "seqlib translate: warning: line 2: 20 tokens, translating only the first 12",
        "seqlib translate: warning: line 3: 15000 characters, translating only the first 2000",
    ]


def test_time_budget_stops_at_the_first_step_and_checkpoints_it(tmp_path):
    run_dir = tmp_path / "run"
    done = run_main_here(
        "train", "--config", "tiny", "--out", run_dir, "--epochs", "3", "--max-pairs", "600", "--time-budget", "0.001"
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"time budget of 0.001 s reached in epoch 1, 1 steps into it" in done.stderr
    # The rate followed the budget: one step into the 100-step warm-up, with the budget
    # spent, so 1/100 of 1 % of the preset's 3e-3 (the epoch line logs the rate used).
    rate = float(re.search(rb"learning_rate: ([0-9.e+-]+)", done.stdout).group(1))
    assert rate == pytest.approx(3e-3 / 100 * 0.01, rel=0.05)
    assert sorted(path.name for path in (run_dir / "checkpoints").iterdir()) == ["epoch-0001.weights.h5"]


def test_resuming_says_which_new_settings_it_ignores(own_run):
    done = run_main_here("train", "--config", "tiny", "--out", own_run, "--epochs", "1", "--max-pairs", "500")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"ignoring max_pairs=500 (run: 2000)" in done.stderr
    # Settings the user did not give are not "ignored", even where the preset differs.
    done = run_main_here("train", "--config", "tiny", "--out", own_run, "--epochs", "1")
    assert done.returncode == 0 and b"ignoring" not in done.stderr, done.stderr.decode()[-2000:]


@pytest.mark.core
def test_train_resumes_from_the_last_epoch(own_run):
    # In this process: cli_run itself was trained by a `python -m seqlib train` process, and
    # test_reliability resumes killed ones the same way.
    done = run_main_here("train", "--config", "tiny", "--out", own_run, "--epochs", "2", "--max-pairs", "2000")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert b"resuming from epoch 1" in done.stderr
    assert (own_run / "checkpoints" / "epoch-0002.weights.h5").exists()
    assert not (own_run / "checkpoints" / "epoch-0001.weights.h5").exists()
    assert (own_run / "logs").is_dir()


def test_set_types_each_value_like_the_setting_it_changes():
    from seqlib.config import get_preset, setting_from_text

    transformer = get_preset("cpu", "transformer")
    given = [
        "num_heads=2",
        "tie_embeddings=true",
        "tie-embeddings=False",
        "max_pairs=none",
        "max_pairs=500",
        "learning_rate=1e-3",
    ]
    assert [setting_from_text(transformer, text) for text in given] == [
        ("num_heads", 2),
        ("tie_embeddings", True),
        ("tie_embeddings", False),
        ("max_pairs", None),
        ("max_pairs", 500),
        ("learning_rate", 0.001),
    ]
    changed = transformer.replace(**dict(setting_from_text(transformer, text) for text in given[:2]))
    assert (changed.model.num_heads, changed.model.tie_embeddings, changed.model.units) == (2, True, 192)
    assert setting_from_text(get_preset("cpu"), "attention=false") == ("attention", False)  # the GRU's own


@pytest.mark.parametrize(
    "args, message",
    [
        (["translate", "--model", "{run}", "--beam", "0", "Go."], "--beam must be at least 1"),
        (["translate", "--model", "{run}", "--beam", "2", "--n-best", "3", "Go."], "--n-best 3 needs"),
        (["translate", "--model", "{run}", "--n-best", "-1", "Go."], "--n-best must be at least 1"),
        (["translate", "--model", "{run}", "--temperature", "0", "Go."], "--temperature must be greater than 0"),
        (
            ["translate", "--model", "{missing}", "Go."],
            "no such run directory (train one with `python -m seqlib train --config tiny --out {missing}`)",
        ),
        (["translate", "--model", "{run}", "--seed", "4294967296", "Go."], "--seed must be between 0 and 2147483647"),
        (["translate", "--model", "{run}", "--bogus", "Go."], "unrecognized arguments: --bogus (see python -m seqlib"),
        (
            ["translate", "--modle", "{run}", "Go."],
            "unrecognized arguments: --modle (did you mean --model?); the following arguments are required: --model",
        ),
        (["evaluate"], "give --model RUN_DIR (or --compare RUN_DIR ...)"),
        (["evaluate", "--model", "{missing}"], "no such run directory"),
        (["evaluate", "--compare", "{missing}"], "no such run directory"),
        (["evaluate", "--model", "{run}", "--pairs", "{missing}"], "no such file"),
        (["export", "--model", "{missing}", "--out", "{missing}"], "no such run directory"),
        (["export", "--model", "{run}", "--out", "{run}"], "exists and is not an empty directory"),
        (["train", "--config", "huge", "--out", "{missing}"], "unknown preset 'huge': choose one of tiny, cpu, gpu"),
        (["train", "--config", "tiny", "--out", "{missing}", "--epochs", "0"], "--epochs must be at least 1"),
        (["train", "--config", "tiny", "--out", "{missing}", "--time-budget", "-5"], "--time-budget must be a positive"),
        (["train", "--config", "tiny", "--out", "{missing}", "--data", "{missing}"], "no such file"),
        (["train", "--config", "tiny", "--out", "{missing}", "--label-smoothing", "1"], "--label-smoothing must be at least 0"),
        (["train", "--config", "tiny", "--out", "{missing}", "--tokenizer", "bpe"], "invalid choice: 'bpe'"),
        (["train", "--config", "tiny", "--out", "{missing}", "--learning-rate", "0"], "--learning-rate must be a positive"),
        (["train", "--config", "tiny", "--out", "{missing}", "--dropout", "1"], "--dropout must be at least 0 and below 1"),
        (["train", "--config", "tiny", "--out", "{missing}", "--precision", "half"], "invalid choice: 'half'"),
        (
            ["train", "--config", "tiny", "--out", "{missing}", "--set", "num_heads=2"],
            "not a setting of a gru config (it is a transformer setting: give --arch transformer)",
        ),
        (
            ["train", "--config", "tiny", "--arch", "transformer", "--out", "{missing}", "--set", "num_heads=0"],
            "num_heads must be at least 1",
        ),
        (["train", "--config", "tiny", "--out", "{missing}", "--set", "epochs=3"], "give --epochs 3 instead"),
        (["train", "--config", "tiny", "--out", "{missing}", "--set", "test_fraction=0.99"], "must leave some pairs to train on"),
        (
            ["train", "--config", "tiny", "--arch", "transformer", "--out", "{missing}", "--set", "num_heads=3"],
            "units (64) must be a multiple of num_heads (3)",
        ),
        (["train", "--config", "tiny", "--out", "{missing}", "--set", "units=wide"], "units takes a whole number, not 'wide'"),
        (["train", "--config", "tiny", "--out", "{missing}", "--set", "attention"], "write NAME=VALUE"),
        (
            ["train", "--config", "tiny", "--out", "{missing}", "--set", "dropout_rate=1"],
            "dropout_rate must be at least 0 and below 1",
        ),
        (["train", "--config", "tiny", "--out", "{missing}", "--dropout", "0", "--set", "dropout_rate=0.1"], "given twice"),
        (
            ["train", "--config", "tiny", "--out", "{missing}", "--set", "arch=transformer"],
            "choose the preset with --config and the family with --arch",
        ),
        (["bench", "--model", "{missing}"], "no such run directory"),
    ],
)
def test_usage_errors_are_one_line_before_tensorflow_loads(cli_run, tmp_path, args, message):
    missing = tmp_path / "nothing"
    args = [arg.format(run=cli_run, missing=missing) for arg in args]
    done = run_main_without_tensorflow(*args)
    assert done.returncode == 2, done.stderr.decode()[-2000:]
    line = one_line_error(done)
    assert line.startswith(f"seqlib {args[0]}: error: ") and message.format(missing=missing) in line


@pytest.mark.parametrize(
    "args",
    [["translate", "--model", "{run}", "--beam", "100000", "Go."], ["evaluate", "--model", "{run}", "--beam", "100000"]],
)
def test_more_beams_than_target_words_is_one_line(cli_run, args):
    # Known only once the model is loaded, so after TensorFlow: main() in this process
    # (a process's one-line error after the import: the non-UTF-8 stdin test).
    done = run_main_here(*[arg.format(run=cli_run) for arg in args])
    assert done.returncode == 2
    assert one_line_error(done).startswith(f"seqlib {args[0]}: error: --beam 100000 is more than the model's")


@pytest.mark.parametrize("module, package", [("tensorflow", "tensorflow"), ("tensorflow_text", "tensorflow-text")])
def test_without_tensorflow_or_tensorflow_text_the_error_says_where_seqlib_runs(cli_run, module, package):
    # A finder that answers "no such module", as on a platform without a build of it.
    not_installed = f"""
import importlib.abc
import sys


class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise ModuleNotFoundError("No module named " + name, name=name)


sys.meta_path.insert(0, NotInstalled())
"""
    done = run_main_without_tensorflow("translate", "--model", cli_run, "Go.", prelude=not_installed)
    assert done.returncode == 2, done.stderr.decode()[-2000:]
    assert one_line_error(done) == (
        f"seqlib translate: error: {package} is not installed (or has no build for this platform): "
        "seqlib runs on Linux x86-64, macOS arm64 and Colab; on Windows use WSL2; install with pip install -r requirements.txt"
    )


def test_non_utf8_stdin_names_the_line_after_translating_the_lines_before(cli_run):
    # One line a batch: the number counts over the whole input.
    done = run_seqlib("translate", "--model", cli_run, "--batch-size", "1", input=b"Go.\nHi.\nHi \xff there\nGo.\n")
    assert done.returncode == 2
    assert "standard input line 3: not valid UTF-8" in one_line_error(done)
    assert len(done.stdout.decode().splitlines()) == 2


def test_empty_input_is_empty_output_without_tensorflow(cli_run):
    # As for sort or sed: `grep nothing | python -m seqlib translate` prints nothing and succeeds.
    done = run_main_without_tensorflow("translate", "--model", cli_run, input=b"")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def read_line(stream, timeout):
    """One line from a pipe, or TimeoutError: a co-process that holds its answer back would hang the test."""
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        if not select.select([stream], [], [], max(0.0, deadline - time.monotonic()))[0]:
            raise TimeoutError(f"no line after {timeout} s (got {line!r})")
        byte = os.read(stream.fileno(), 1)
        if not byte:
            raise EOFError(f"output ended (got {line!r})")
        line += byte
    return line.decode()


def test_translate_as_a_co_process_answers_each_line_before_the_next_comes(cli_run):
    # Without the tests' TF_CPP_MIN_LOG_LEVEL, as a user starts it: TensorFlow's start-up
    # lines must not reach stderr either.
    process = subprocess.Popen(
        [sys.executable, "-m", "seqlib", "translate", "--model", str(cli_run)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={name: value for name, value in os.environ.items() if name != "TF_CPP_MIN_LOG_LEVEL"},
    )
    try:
        for sentence in (b"Go.\n", b"\n", b"I am cold.\n"):
            process.stdin.write(sentence)
            process.stdin.flush()
            translation = read_line(process.stdout, timeout=180)
            assert bool(translation.strip()) == bool(sentence.strip()), translation
        process.stdin.close()
        assert process.wait(timeout=60) == 0
        assert process.stdout.read() == b"" and process.stderr.read() == b""
    finally:
        process.kill()
        process.wait()


def test_a_reader_that_goes_away_ends_the_command_quietly_by_sigpipe(tmp_path):
    # Far more than a pipe holds (64 KiB), so quiz is still writing when the reader leaves.
    question = {"lab": 1, "question": "Which?", "options": ["This one", "That one"], "answers": ["This one"]}
    question.update(hint="Think.", kind="recall")
    bank = {"questions": [{"id": f"question-{number}", **question} for number in range(5000)]}
    (tmp_path / "bank.json").write_text(json.dumps(bank), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "seqlib", "quiz", "--print", "--bank", str(tmp_path / "bank.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    lines = [process.stdout.readline() for _ in range(3)]
    process.stdout.close()  # as `| head -3` does
    assert process.wait(timeout=60) == -13  # killed by SIGPIPE: a shell shows status 141
    assert lines[0].startswith(b"1. [question-0] Which?") and all(lines)
    assert process.stderr.read() == b""


def test_translate_into_head_ends_with_status_141(cli_run, tmp_path):
    # 20,000 lines: their translations fill the pipe long before translate is done.
    (tmp_path / "many.txt").write_text("Go.\n" * 20000, encoding="utf-8")
    pipeline = '"$1" -m seqlib translate --model "$2" < "$3" | head -2; echo "${PIPESTATUS[0]}" >&2'
    done = subprocess.run(
        ["bash", "-c", pipeline, "-", sys.executable, str(cli_run), str(tmp_path / "many.txt")],
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )
    assert len(done.stdout.decode().splitlines()) == 2
    assert done.stderr.decode().strip() == "141"


@pytest.mark.core
def test_evaluate_json(own_run):
    done = run_main_here("evaluate", "--model", own_run, "--json", "--limit", "20")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result = json.loads(done.stdout)
    for key in ("bleu", "chrf", "n", "decoding", "beam_width", "bleu_signature"):
        assert key in result
    assert result["n"] == 20
    assert (own_run / "evaluations" / "greedy-first20.json").exists()
    done = run_main_here("evaluate", "--compare", own_run)
    assert done.returncode == 0 and b"greedy" in done.stdout


@pytest.mark.parametrize(
    "content, message",
    [
        (b"Go.\tVa !\nHello.\tBonjour.\tSalut.\n", b"line 2: expected 'English<TAB>French', got 3 fields"),
        (b"Go.\tVa !\nno tab here\n", b"line 2: expected 'English<TAB>French', got 1 field"),
        (b"", b"holds no sentence pairs"),
    ],
)
def test_bad_corpus_for_train_and_evaluate(cli_run, tmp_path, content, message):
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes(content)
    for args in (
        ["train", "--config", "tiny", "--out", tmp_path / "run", "--data", corpus],
        ["evaluate", "--model", cli_run, "--pairs", corpus],
    ):
        done = run_main_without_tensorflow(*args)  # found before TensorFlow is imported
        assert done.returncode == 2, done.stderr.decode()[-2000:]
        line = one_line_error(done)
        assert message.decode() in line and str(corpus) in line
    assert not (tmp_path / "run").exists(), "a failed train should not leave an empty run directory"


def cut_gzip(path):
    """A valid gzip of 20,000 distinct pairs, cut after 200 bytes (far fewer lines than --max-pairs)."""
    whole = gzip.compress("".join(f"Go {i}.\tVa {i} !\n" for i in range(20000)).encode())
    path.write_bytes(whole[:200])


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("absent.txt", lambda path: None, "no such file"),
        ("cut.txt.gz", cut_gzip, "(is the file truncated?)"),
    ],
    ids=["missing", "gzip cut short"],
)
def test_missing_or_cut_corpus_is_a_one_line_error(tmp_path, name, make, message):
    corpus = tmp_path / name
    make(corpus)
    done = run_main_without_tensorflow("train", "--config", "tiny", "--out", tmp_path / "run", "--data", corpus, "--epochs", "1")
    assert done.returncode == 2, done.stderr.decode()[-2000:]
    line = one_line_error(done)
    assert str(corpus) in line and message in line
    if make is cut_gzip:
        assert "cannot read its first line: Compressed file ended before the end-of-stream marker" in line


def test_corpus_with_bom_and_crlf_trains(tmp_path):
    from seqlib.data import corpus

    pairs = corpus.read_pairs(max_pairs=600)
    corpus = tmp_path / "windows.txt"
    text = "".join(f"{english}\t{french}\r\n" for english, french in zip(pairs.english, pairs.french))
    corpus.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    run_dir = tmp_path / "run"
    # In-process: what --data FILE reaches is train(data_path=FILE); the CLI's own part of
    # --data (a missing file) is tested above, without TensorFlow.
    from seqlib.config import get_preset
    from seqlib.training.train import train

    train(get_preset("tiny").replace(epochs=1), run_dir, data_path=corpus, verbose=0)
    assert (run_dir / "checkpoints" / "epoch-0001.weights.h5").exists()
    # The BOM and the carriage returns stayed out of the sentences and the vocabulary.
    for written in ("source_vocab.txt", "target_vocab.txt", "test.tsv"):
        raw = (run_dir / written).read_bytes()
        assert b"\r" not in raw and b"\xef\xbb\xbf" not in raw, written


def test_bfloat16_projection_from_the_command_line(cli_run, own_run):
    done = run_main_here("translate", "--model", cli_run, "--bfloat16", "--beam", "2", "Go.", "", "I am cold.")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    lines = done.stdout.decode().split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[0] and lines[2] and lines[3] == ""
    done = run_main_here("evaluate", "--model", own_run, "--bfloat16", "--limit", "10", "--json")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert json.loads(done.stdout)["bfloat16_projection"] is True
    assert (own_run / "evaluations" / "greedy-first10-bfloat16.json").exists()
