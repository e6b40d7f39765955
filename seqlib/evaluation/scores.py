"""Scoring translations with sacreBLEU (corpus BLEU and chrF, several references)."""

import json
import time
import unicodedata
from pathlib import Path

import pandas as pd
import sacrebleu

from seqlib.conventions import DEFAULT_ALPHA
from seqlib.data import corpus
from seqlib.data.text import normalize_reference
from seqlib.decoding.loading import load_translator
from seqlib.decoding.serving import translate_sentences
from seqlib.errors import SeqlibError
from seqlib.files import is_temporary, write_atomically
from seqlib.rundir import RunDir

# Rows of the best and of the worst sentences shown by `evaluate`.
SHOWN_EXAMPLES = 5


def fold(text):
    """Lower-cases and strips accents: the TF tutorial's measure, for comparison only."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(character for character in decomposed if unicodedata.category(character) != "Mn")


def _reference_streams(references):
    """[[refs of sentence 1], …] -> sacreBLEU's streams, padded with None."""
    most = max(len(refs) for refs in references)
    return [[refs[i] if i < len(refs) else None for refs in references] for i in range(most)]


def score(hypotheses, references):
    """Corpus BLEU and chrF against several references per sentence.

    Args:
        hypotheses: list of str, one translation a source.
        references: list of lists of str, the references of each source.

    Returns:
        dict: bleu, chrf, bleu_folded (lower-cased, accents stripped), and the
        sacreBLEU signatures.
    """
    references = [[normalize_reference(reference) for reference in refs] for refs in references]
    streams = _reference_streams(references)
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, streams)
    chrf_score = chrf.corpus_score(hypotheses, streams)
    folded_streams = [[None if reference is None else fold(reference) for reference in stream] for stream in streams]
    folded = sacrebleu.metrics.BLEU().corpus_score([fold(hypothesis) for hypothesis in hypotheses], folded_streams)
    return {
        "bleu": round(bleu_score.score, 2),
        "chrf": round(chrf_score.score, 2),
        "bleu_folded": round(folded.score, 2),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def evaluate_run(run_dir, pairs_file=None, beam_width=None, alpha=DEFAULT_ALPHA, limit=None, batch_size=64, translator=None):
    """Translates every distinct source of a pairs file once and scores it.

    Args:
        run_dir: the run directory; its test split is the default pairs file.
        pairs_file: corpus-format file; lines sharing an English sentence are
            several references for one source.
        beam_width: None for greedy search.
        limit: score only the first N distinct sources.

    Returns:
        dict with bleu, chrf, bleu_folded, n (distinct sources), signatures, the
        decoding settings, seconds, and `examples`: a DataFrame of source,
        references, hypothesis and sentence BLEU.
    """
    run = RunDir(run_dir)
    # The run first: a wrong --model is named as such, not as a missing test.tsv.
    translator = translator or load_translator(run_dir)
    pairs_path = pairs_file or run.test_pairs
    sources, references = corpus.group_references(corpus.read_pairs(pairs_path))
    if limit is not None:
        sources, references = sources[:limit], references[:limit]
    started = time.perf_counter()
    hypotheses = [
        hypotheses[0][0]
        for hypotheses in translate_sentences(translator, sources, beam_width=beam_width, alpha=alpha, batch_size=batch_size)
    ]
    seconds = time.perf_counter() - started
    result = score(hypotheses, references)
    result.update(
        n=len(sources),
        pairs=str(pairs_path),
        own_test_split=pairs_file is None,
        limit=limit,
        decoding="greedy" if beam_width is None else "beam",
        beam_width=beam_width or 1,
        alpha=alpha if beam_width else None,
        seconds=round(seconds, 2),
        sentences_per_s=round(len(sources) / seconds, 1),
        bfloat16_projection=getattr(translator, "bfloat16_kernel", None) is not None,
    )
    by_length = score_by_length(sources, references, hypotheses, buckets=SUMMARY_BUCKETS)
    result["by_length"] = {
        label: {"sentences": int(row.sentences), "bleu": row.bleu, "chrf": row.chrf} for label, row in by_length.iterrows()
    }
    result["examples"] = pd.DataFrame(
        {
            "source": sources,
            "references": [" | ".join(refs) for refs in references],
            "hypothesis": hypotheses,
            "sentence_bleu": [
                sacrebleu.sentence_bleu(hypothesis, [normalize_reference(r) for r in refs]).score
                for hypothesis, refs in zip(hypotheses, references)
            ],
        }
    )
    return result


# Source lengths in words, bucketed for score_by_length: (first, last) of each bucket; last None: no limit.
LENGTH_BUCKETS = ((1, 3), (4, 5), (6, 7), (8, 9), (10, 12), (13, None))
# Fewer, for evaluate's summary: where short sentences end and long ones (11 words and more) begin.
SUMMARY_BUCKETS = ((1, 4), (5, 7), (8, 10), (11, None))
LONG_SENTENCES = "11+ words"


def score_by_length(sources, references, hypotheses, buckets=LENGTH_BUCKETS):
    """Corpus BLEU and chrF of the sentences in each source-length bucket.

    Args:
        sources: list of str; their length is counted in whitespace-separated words.
        references: list of lists of str, as for `score`.
        hypotheses: list of str, one per source.
        buckets: (first, last) word counts, inclusive (last None: no upper limit);
            empty buckets are left out.

    Returns:
        DataFrame indexed by bucket label ("4-5 words"), with the columns
        sentences, words (the mean source length), bleu and chrf.
    """
    if not len(sources) == len(references) == len(hypotheses):
        raise SeqlibError(f"{len(sources)} sources, {len(references)} reference lists and {len(hypotheses)} hypotheses: one each")
    lengths = [len(source.split()) for source in sources]
    rows = {}
    for first, last in buckets:
        chosen = [i for i, length in enumerate(lengths) if first <= length and (last is None or length <= last)]
        if not chosen:
            continue
        scores = score([hypotheses[i] for i in chosen], [references[i] for i in chosen])
        label = f"{first}+ words" if last is None else f"{first}-{last} words"
        rows[label] = {
            "sentences": len(chosen),
            "words": round(sum(lengths[i] for i in chosen) / len(chosen), 1),
            "bleu": scores["bleu"],
            "chrf": scores["chrf"],
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def best_and_worst(examples, count=SHOWN_EXAMPLES):
    """The best and the worst sentences by sentence BLEU, never the same row in both.

    Args:
        examples: DataFrame with a `sentence_bleu` column (`evaluate_run`'s examples).
        count: most rows in each table; with fewer than 2 * count sentences, the
            better half is "best" and the rest "worst".

    Returns:
        (best, worst): DataFrames, best first in `best` and worst last in `worst`.
    """
    # A stable sort keeps ties in corpus order, so the tables do not change between runs.
    ranked = examples.sort_values("sentence_bleu", ascending=False, kind="stable")
    shown_best = min(count, (len(ranked) + 1) // 2)
    shown_worst = min(count, len(ranked) - shown_best)
    return ranked.head(shown_best), ranked.tail(shown_worst)


def save_result(run_dir, result):
    """Writes the scores (not the examples) to RUN_DIR/evaluations/<settings>.json.

    The name holds every setting that changes the score (e.g. `beam4`,
    `beam4-alpha1`, `greedy-first100`, `greedy-news`, `greedy-bfloat16`), so one evaluation never
    overwrites another made differently.
    """
    run = RunDir(run_dir)
    run.evaluations.mkdir(exist_ok=True)
    name = "greedy" if result["decoding"] == "greedy" else f"beam{result['beam_width']}"
    if result.get("alpha") is not None and result["alpha"] != DEFAULT_ALPHA:
        name += f"-alpha{result['alpha']:g}"
    if not result.get("own_test_split", True):
        name += "-" + Path(result["pairs"]).name.split(".")[0]
    if result.get("limit") is not None:
        name += f"-first{result['limit']}"
    if result.get("bfloat16_projection"):
        name += "-bfloat16"
    path = run.evaluations / f"{name}.json"
    write_atomically(path, json.dumps({key: value for key, value in result.items() if key != "examples"}, indent=2))
    return path


def compare_runs(run_dirs):
    """A table of every saved evaluation of the given runs, one row each; a run
    without any gets one row saying so, with empty scores."""
    rows = []
    for run_dir in run_dirs:
        run = RunDir(run_dir)
        config, _ = run.load_config()
        # A killed evaluation's half-written file is not one.
        found = run.evaluations.glob("*.json") if run.evaluations.is_dir() else []
        saved_files = sorted(path for path in found if not is_temporary(path))
        if not saved_files:
            rows.append(
                {
                    "run": str(run_dir),
                    "preset": config.name,
                    "tokenizer": config.tokenizer,
                    "decoding": f"none yet: run python -m seqlib evaluate --model {run_dir}",
                }
            )
        for path in saved_files:
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                saved["bleu"], saved["chrf"], saved["n"]
            except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
                raise SeqlibError(
                    f"{path}: not a readable evaluation ({type(error).__name__}: {error}); delete it or evaluate again"
                ) from None
            rows.append(
                {
                    "run": str(run_dir),
                    "preset": config.name,
                    "tokenizer": config.tokenizer,
                    "decoding": path.stem,
                    "bleu": saved["bleu"],
                    "chrf": saved["chrf"],
                    "bleu_folded": saved.get("bleu_folded"),
                    # Evaluations saved before by_length existed have none.
                    "bleu_11plus_words": saved.get("by_length", {}).get(LONG_SENTENCES, {}).get("bleu"),
                    "n": saved["n"],
                }
            )
    columns = ["run", "preset", "tokenizer", "decoding", "bleu", "chrf", "bleu_folded", "bleu_11plus_words", "n"]
    return pd.DataFrame(rows, columns=columns)
