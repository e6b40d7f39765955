"""`python -m seqlib bench`: training and decoding speed, side by side in one run.

Every figure is measured here, now, on this machine, and so is the baseline: the
TensorFlow tutorial's model (`seqlib.models.tutorial`) trains on the same pairs
for the same seconds and decodes the same sentences in the same process, and
every ratio is computed from the two figures of this run (shared machines are
noisy, and CPUs differ: see bench/README.md). Nothing is asserted: the report
is the product.
"""

import itertools
import json
import os
import resource
import time

import keras
import numpy as np
import tensorflow as tf

from seqlib.config import get_preset
from seqlib.conventions import DEFAULT_ALPHA, END_ID, START_ID, automatic_max_length
from seqlib.data import corpus, vocabulary
from seqlib.data.pipeline import keep_shorter_than, make_dataset, vectorize_pairs
from seqlib.decoding import search
from seqlib.hardware import cpu_description
from seqlib.models import tutorial
from seqlib.models.gru import compile_model, cudnn_eligible
from seqlib.models.registry import build_training_model
from seqlib.rundir import build_translator, load_training_model, load_translator


def gpu_description():
    """The visible GPUs by name, or an empty list."""
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return names


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_peak_gflops(size=2048, repeats=10):
    """The float32 matmul throughput of TensorFlow and of numpy on this machine.

    The higher of the two is the ceiling model FLOPs are measured against: where
    TensorFlow's own kernel is far below numpy's BLAS, the CPU could do more.
    """
    a = tf.random.normal([size, size])
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        result = matmul(a)
    result.numpy()
    tensorflow = 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9
    b = a.numpy()
    b @ b
    started = time.perf_counter()
    for _ in range(repeats):
        b @ b
    numpy = 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9
    return {"tensorflow": round(tensorflow, 1), "numpy": round(numpy, 1)}


def training_flops_per_target_token(config, source_to_target_ratio=1.0, mean_source_length=8.0):
    """Multiply-adds of the forward pass per target token, times 3 (forward + backward) times 2 (FLOPs a MAC).

    Encoder work is counted per source token and scaled by the source/target length ratio.
    """
    embedding, units, vocab = config.embedding_dim, config.units, config.target_vocab_size
    gru = 3 * (embedding * units + units * units)
    encoder = 2 * gru + 2 * units * units  # both directions + attention keys
    decoder = gru + mean_source_length * (units + 2 * units) + 3 * units * units + units * vocab
    return 3 * 2 * (decoder + source_to_target_ratio * encoder)


def sample_pairs(count, seed=0):
    pairs = corpus.read_pairs()
    return pairs.sample(min(count, len(pairs)), random_state=seed)


def vectorized_sample(config, pairs):
    """Pairs vectorized with vocabularies padded to the preset's sizes, so the
    embedding and output layers cost what they cost in real training."""
    source = vocabulary.build_vocabulary(list(pairs.english), config.source_vocab_size, 2)
    target = vocabulary.build_vocabulary(list(pairs.french), config.target_vocab_size, 2, vocabulary.TARGET_SPECIAL_TOKENS)
    source += [f"<unused{i}>" for i in range(config.source_vocab_size - 2 - len(source))]
    target += [f"<unused{i}>" for i in range(config.target_vocab_size - 2 - len(target))]
    ids = vectorize_pairs(
        pairs.english,
        pairs.french,
        vocabulary.make_vectorizer(source, ragged=True),
        vocabulary.make_vectorizer(target, ragged=True),
    )
    return source, target, keep_shorter_than(*ids, config.max_tokens)


def tutorial_flops_per_target_token(source_to_target_ratio=1.0, mean_source_length=8.0):
    """The same count for the tutorial's model (256 units, 5,000 words, one-head attention)."""
    units, vocab = tutorial.UNITS, tutorial.VOCABULARY_SIZE
    gru = 3 * (units * units + units * units)
    encoder = 2 * gru
    # Query and output projections a target token; key and value projections a source
    # token (so scaled by the length ratio); scores and weighted sum over the source.
    attention = 2 * units * units + source_to_target_ratio * 2 * units * units + 2 * mean_source_length * units
    decoder = gru + attention + units * vocab
    return 3 * 2 * (decoder + source_to_target_ratio * encoder)


def tokens_per_s_for(seconds, model, batches):
    """Target (non-padding) tokens per second of `model.train_on_batch` over `batches`
    (an iterator of ((context, target_in), target_out)) for `seconds`, after three
    untimed steps that trace the training function."""
    for (context, target_in), target_out in itertools.islice(batches, 3):
        model.train_on_batch((context, target_in), target_out)
    tokens, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        (context, target_in), target_out = next(batches)
        model.train_on_batch((context, target_in), target_out)
        tokens += int(np.count_nonzero(target_out.numpy()))
    return tokens / (time.perf_counter() - started)


def train_seqlib(config, source_ids, target_ids, seconds, bucketing=True, jit_compile=False, mixed_precision=False):
    """seqlib's model of `config` trained for `seconds`: (model, target tokens/s)."""
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    try:
        dataset = make_dataset(source_ids, target_ids, config.batch_size, shuffle_seed=1, bucketing=bucketing, repeat=True)
        model = build_training_model(config, config.source_vocab_size, config.target_vocab_size)
        compile_model(model, config.replace(jit_compile=jit_compile))
        return model, tokens_per_s_for(seconds, model, iter(dataset))
    finally:
        keras.mixed_precision.set_global_policy("float32")


def train_tutorial(pairs, seconds):
    """The tutorial's model trained the tutorial's way on `pairs` for `seconds`:
    (TutorialGreedy translator, target tokens/s)."""
    source_vectorizer, target_vectorizer = tutorial.make_vectorizers(pairs.english, pairs.french)

    def vectorize(english, french):
        # As the tutorial does it: text batches vectorized in the pipeline, each padded to its longest.
        target = target_vectorizer(french)
        return (source_vectorizer(english).to_tensor(), target[:, :-1].to_tensor()), target[:, 1:].to_tensor()

    dataset = (
        tf.data.Dataset.from_tensor_slices((list(pairs.english), list(pairs.french)))
        .shuffle(len(pairs), seed=1)
        .repeat()
        .batch(tutorial.BATCH_SIZE)
        .map(vectorize, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    model = tutorial.build(source_vectorizer, target_vectorizer)
    tokens_per_s = tokens_per_s_for(seconds, model, iter(dataset))
    return tutorial.TutorialGreedy(model, source_vectorizer, target_vectorizer), tokens_per_s


def eager_greedy(translator, context, max_length):
    """The TF-tutorial way: a Python loop calling the decoder step eagerly."""
    state = translator.encode(context)
    tokens = tf.fill([context.shape[0]], START_ID)
    done = np.zeros(context.shape[0], bool)
    for _ in range(max_length):
        logits, state = translator.step(tokens, state)
        tokens = tf.cast(tf.argmax(logits, axis=-1), tf.int32)
        done |= tokens.numpy() == END_ID
        if done.all():
            break


def timed(function, repeats):
    function()
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - started) / repeats


def first_call_s(function):
    started = time.perf_counter()
    function()
    return round(time.perf_counter() - started, 3)


def ratio(ours, theirs):
    return round(ours / theirs, 2) if isinstance(ours, int | float) and isinstance(theirs, int | float) and theirs else None


def run(quick=False, model_dir=None, preset="cpu", train_seconds=None, transformer_dir=None):
    """Measures seqlib and the tutorial's model side by side; returns the report (a dict).

    Args:
        quick: fewer variants and repeats (under 3 minutes on 2 CPU cores).
        model_dir: decode with this trained run (its test sentences); else with the
            model trained here.
        preset: the seqlib preset measured.
        train_seconds: seconds each model trains (default 10 quick, 60 otherwise).
        transformer_dir: decode with this trained transformer run; else with the
            preset's transformer trained here (its training speed is measured either way).
    """
    config = get_preset(preset)
    seconds = train_seconds if train_seconds is not None else (10 if quick else 60)
    report = {
        "cpu": cpu_description(),
        "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow's default"),
        "gpu": gpu_description(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "preset": preset,
        "quick": quick,
        "train_seconds": seconds,
    }
    peaks = matmul_peak_gflops()
    report["matmul_peak_gflops"] = peaks
    peak = max(peaks.values())

    pairs = sample_pairs(6000 if quick else 30000)
    source_vocab, target_vocab, (source_ids, target_ids) = vectorized_sample(config, pairs)
    variants = {"bucketing": dict(bucketing=True)}
    if not quick:
        variants["padding_to_longest"] = dict(bucketing=False)
        variants["bucketing_jit"] = dict(bucketing=True, jit_compile=True)
    if tf.config.list_physical_devices("GPU"):
        variants["bucketing_mixed_float16"] = dict(bucketing=True, mixed_precision=True)
    report["train_tokens_per_s"] = {}
    trained = None
    for name, options in variants.items():
        try:
            model, tokens_per_s = train_seqlib(config, source_ids, target_ids, seconds, **options)
            report["train_tokens_per_s"][name] = round(tokens_per_s)
            trained = trained or model
        except Exception as error:  # XLA may refuse a graph; report it, do not hide it
            report["train_tokens_per_s"][name] = f"failed: {type(error).__name__}: {str(error)[:200]}"
    tutorial, tutorial_tokens_per_s = train_tutorial(pairs, seconds)
    flops, tutorial_flops = training_flops_per_target_token(config), tutorial_flops_per_target_token()
    ours = max(v for v in report["train_tokens_per_s"].values() if isinstance(v, int | float))
    report["model_flops_per_target_token"] = round(flops)
    report["fraction_of_matmul_peak"] = round(ours * flops / (peak * 1e9), 3)
    report["baseline"] = {
        "train_tokens_per_s": round(tutorial_tokens_per_s),
        "model_flops_per_target_token": round(tutorial_flops),
        "fraction_of_matmul_peak": round(tutorial_tokens_per_s * tutorial_flops / (peak * 1e9), 3),
    }

    # Decoding: a trained run decodes its own test sentences; without one, the
    # model trained above for `seconds` decodes sentences of the sample. The
    # tutorial's model (trained as long) decodes the same sentences either way.
    if model_dir:
        translator = load_translator(model_dir)
        sentences = list(corpus.read_pairs(f"{model_dir}/test.tsv").english.drop_duplicates()[:256])
    else:
        translator = build_translator(trained, config, source_vocab, target_vocab)
        sentences = list(pairs.english[-256:])
    report["decoding_model"] = model_dir or f"{preset} model trained {seconds:g} s here"
    singles = [tf.constant([sentence]) for sentence in (sentences * 32)[: 8 if quick else 32]]
    batches = [tf.constant((sentences * 4)[start : start + 64]) for start in range(0, 128 if quick else 256, 64)]
    length = tf.constant(0)  # each translator's own limit: it stops when every sentence has ended
    repeats = 1 if quick else 5

    def each(translate, inputs):
        return lambda: [translate(text)["translation"].numpy() for text in inputs]

    def batch1_ms(translate):
        """Mean ms a sentence, one sentence at a time."""
        return round(1000 * timed(each(translate, singles), repeats) / len(singles), 2)

    def batch64_sentences_per_s(translate):
        return 64 / (timed(each(translate, batches), repeats) / len(batches))

    def greedy_of(translator):
        # The tutorial's shape, {"translation": (batch,)}, so one timing helper serves all.
        return lambda text: {"translation": translator.greedy(text, length)["translations"][:, 0]}

    def beam_sentences_per_s(translator, width):
        def beam_all():
            for text in batches:
                translator.beam(text, tf.constant(width), tf.constant(1), tf.constant(DEFAULT_ALPHA), length)[
                    "translations"
                ].numpy()

        return round(64 * len(batches) / timed(beam_all, repeats), 1)

    ours_greedy = greedy_of(translator)

    report["first_call_s"] = first_call_s(lambda: ours_greedy(singles[0])["translation"].numpy())
    report["baseline"]["first_call_s"] = first_call_s(lambda: tutorial.translate(singles[0])["translation"].numpy())
    report["greedy_batch1_ms"] = batch1_ms(ours_greedy)
    report["baseline"]["greedy_batch1_ms"] = batch1_ms(tutorial.translate)
    greedy_64 = batch64_sentences_per_s(ours_greedy)
    report["greedy_sentences_per_s"] = {"batch_64": round(greedy_64, 1)}
    report["baseline"]["greedy_batch_64_sentences_per_s"] = round(batch64_sentences_per_s(tutorial.translate), 1)
    report["mean_output_words"] = {
        "seqlib": _mean_words([ours_greedy(text)["translation"] for text in batches]),
        "baseline": _mean_words([tutorial.translate(text)["translation"] for text in batches]),
    }

    if not quick:
        xla_translator = (
            load_translator(model_dir, jit_compile=True)
            if model_dir
            else build_translator(trained, config, source_vocab, target_vocab, jit_compile=True)
        )

        def xla_greedy(text):
            return {"translation": xla_translator.greedy(text, length)["translations"][:, 0]}

        report["first_call_xla_s"] = first_call_s(lambda: xla_greedy(singles[0])["translation"].numpy())
        report["greedy_batch1_ms_xla"] = batch1_ms(xla_greedy)
        report["greedy_sentences_per_s"]["batch_64_xla"] = round(batch64_sentences_per_s(xla_greedy), 1)
        context = translator.vectorize(batches[0])
        max_length = automatic_max_length(int(context.shape[1]))
        eager_64 = timed(lambda: eager_greedy(translator, context, max_length), 1)
        report["greedy_sentences_per_s"]["batch_64_eager_python_loop"] = round(64 / eager_64, 1)
        report["greedy_sentences_per_s"].update(_numeric_greedy(translator, context, max_length, repeats))

    # The bfloat16 projection only where the CPU computes bfloat16 natively (elsewhere
    # it is emulated and slower, so seqlib never chooses it there).
    projections = {"": translator}
    if report["cpu"]["amx"] or report["cpu"]["avx512_bf16"]:
        projections["_bfloat16_projection"] = (
            load_translator(model_dir, bfloat16_projection=True)
            if model_dir
            else build_translator(trained, config, source_vocab, target_vocab, bfloat16_projection=True)
        )
        report["greedy_sentences_per_s"]["batch_64_bfloat16_projection"] = round(
            batch64_sentences_per_s(greedy_of(projections["_bfloat16_projection"])), 1
        )
    report["beam_sentences_per_s"] = {}
    for width in (4,) if quick else (4, 8):
        for name, beam_translator in projections.items():
            report["beam_sentences_per_s"][f"beam_{width}_batch_64{name}"] = beam_sentences_per_s(beam_translator, width)

    # The transformer of the same preset: trained as long on the same pairs, decoding the same sentences.
    transformer_config = get_preset(preset, "transformer")
    transformer_model, transformer_tokens_per_s = train_seqlib(transformer_config, source_ids, target_ids, seconds)
    if transformer_dir:
        transformer = load_translator(transformer_dir)
        transformer_model = load_training_model(transformer_dir)[2]
    else:
        transformer = build_translator(transformer_model, transformer_config, source_vocab, target_vocab)
    report["transformer"] = {
        "decoding_model": transformer_dir or f"{preset} transformer trained {seconds:g} s here",
        "parameters": transformer_model.count_params(),
        "train_tokens_per_s": round(transformer_tokens_per_s),
        "first_call_s": first_call_s(lambda: greedy_of(transformer)(singles[0])["translation"].numpy()),
        "greedy_batch1_ms": batch1_ms(greedy_of(transformer)),
        "greedy_batch_64_sentences_per_s": round(batch64_sentences_per_s(greedy_of(transformer)), 1),
        "beam_4_batch_64_sentences_per_s": beam_sentences_per_s(transformer, 4),
    }
    report["parameters"] = (load_training_model(model_dir)[2] if model_dir else trained).count_params()

    baseline = report["baseline"]
    report["ratios"] = {
        "train_tokens_per_s": ratio(ours, baseline["train_tokens_per_s"]),
        "greedy_batch_64_sentences_per_s": ratio(greedy_64, baseline["greedy_batch_64_sentences_per_s"]),
        "greedy_batch1_latency": ratio(report["greedy_batch1_ms"], baseline["greedy_batch1_ms"]),
        "first_call": ratio(report["first_call_s"], baseline["first_call_s"]),
        "beam_4_to_our_greedy": ratio(report["beam_sentences_per_s"]["beam_4_batch_64"], greedy_64),
    }
    report["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if tf.config.list_physical_devices("GPU"):
        # On a GPU, Keras takes the cuDNN path when every GRU is eligible; say so, do not assume it.
        report["cudnn_gru"] = cudnn_eligible(build_training_model(config, 100, 100))
        report["gpu_peak_memory_mb"] = round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
    return report


def _mean_words(translations):
    words = [len(text.split()) for batch in translations for text in batch.numpy()]
    return round(sum(words) / max(len(words), 1), 2)


def _numeric_greedy(translator, context, max_length, repeats):
    """Greedy search's numeric part (encoder + loop, no string ops) in sentences/s:
    every sentence kept until the longest ends, finished ones dropped (the
    translator's default), and XLA (fixed shapes, so every sentence kept)."""

    def decode(context, drop_finished, fixed_length):
        step, state, start = translator._start(context)
        result = search.greedy_search(
            step, state, start, END_ID, tf.constant(max_length), fixed_length=fixed_length, drop_finished=drop_finished
        )
        return result["tokens"][:, : result["steps"]]

    variants = {
        "batch_64_numeric_keep_finished": tf.function(lambda context: decode(context, False, False), autograph=False),
        "batch_64_numeric_drop_finished": tf.function(lambda context: decode(context, True, False), autograph=False),
        "batch_64_numeric_xla": tf.function(lambda context: decode(context, False, True), jit_compile=True, autograph=False),
    }
    expected = variants["batch_64_numeric_keep_finished"](context)
    results = {}
    for name, decode_fn in variants.items():
        try:
            agreement = _same_rows(decode_fn(context), expected)
            # Every variant must give the same tokens, or its speed means nothing.
            # XLA and other batch shapes can pick other kernels, whose rounding
            # may flip a near tie (common in an untrained model): a few sentences
            # may differ, not more.
            if agreement < 0.95:
                results[name] = f"failed: only {agreement:.0%} of sentences equal the compiled loop's"
            else:
                results[name] = round(context.shape[0] / timed(lambda fn=decode_fn: fn(context).numpy(), repeats), 1)
        except Exception as error:  # XLA may refuse a graph; report it, do not hide it
            results[name] = f"failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return results


def _same_rows(tokens, expected):
    """The fraction of sentences (rows of int32 (batch, t) ids) that two decodings agree on."""
    width = max(int(tokens.shape[1]), int(expected.shape[1]))
    tokens, expected = (tf.pad(t, [[0, 0], [0, width - int(t.shape[1])]]) for t in (tokens, expected))
    return float(tf.reduce_mean(tf.cast(tf.reduce_all(tokens == expected, axis=1), tf.float32)))


def format_report(report):
    cpu = report["cpu"]
    extensions = ", ".join(name for name in ("avx2", "avx512", "avx512_bf16", "amx") if cpu[name]) or "none"
    gpu = ", ".join(report["gpu"]) or "none"
    lines = [
        f"seqlib bench: {cpu['model']}, {cpu['cores']} cores ({extensions}), GPU: {gpu}; "
        f"preset {report['preset']}{' (quick)' if report['quick'] else ''}; each model trained {report['train_seconds']:g} s",
        f"  matmul peak, GFLOP/s            TensorFlow {report['matmul_peak_gflops']['tensorflow']}, "
        f"numpy {report['matmul_peak_gflops']['numpy']}",
        f"  {'':<44} {'seqlib':>10} {'tutorial':>10} {'ratio':>7}",
    ]
    baseline, ratios = report["baseline"], report["ratios"]

    def row(label, ours, theirs="", ratio=""):
        lines.append(f"  {label:<44} {ours!s:>10} {theirs!s:>10} {'' if ratio is None else ratio!s:>7}")

    best = max(v for v in report["train_tokens_per_s"].values() if isinstance(v, int | float))
    row("training, target tokens/s", best, baseline["train_tokens_per_s"], ratios["train_tokens_per_s"])
    row("  model FLOPs per target token", report["model_flops_per_target_token"], baseline["model_flops_per_target_token"])
    row("  fraction of the matmul peak", report["fraction_of_matmul_peak"], baseline["fraction_of_matmul_peak"])
    row(
        "greedy, batch 64, sentences/s",
        report["greedy_sentences_per_s"]["batch_64"],
        baseline["greedy_batch_64_sentences_per_s"],
        ratios["greedy_batch_64_sentences_per_s"],
    )
    row(
        "greedy, batch 1, ms a sentence",
        report["greedy_batch1_ms"],
        baseline["greedy_batch1_ms"],
        ratios["greedy_batch1_latency"],
    )
    row("first call (trace + run), s", report["first_call_s"], baseline["first_call_s"], ratios["first_call"])
    row("mean words a translation", report["mean_output_words"]["seqlib"], report["mean_output_words"]["baseline"])
    row("beam 4 / our greedy", "", "", ratios["beam_4_to_our_greedy"])
    lines.append(f"  decoding model: {report['decoding_model']}")
    transformer = report["transformer"]
    lines.append(f"  {'GRU (seqlib) and transformer, same preset and pairs':<44} {'GRU':>10} {'transformer':>11}")
    for label, ours, theirs in (
        ("parameters", report["parameters"], transformer["parameters"]),
        ("training, target tokens/s", best, transformer["train_tokens_per_s"]),
        (
            "greedy, batch 64, sentences/s",
            report["greedy_sentences_per_s"]["batch_64"],
            transformer["greedy_batch_64_sentences_per_s"],
        ),
        ("greedy, batch 1, ms a sentence", report["greedy_batch1_ms"], transformer["greedy_batch1_ms"]),
        (
            "beam 4, batch 64, sentences/s",
            report["beam_sentences_per_s"]["beam_4_batch_64"],
            transformer["beam_4_batch_64_sentences_per_s"],
        ),
        ("first call (trace + run), s", report["first_call_s"], transformer["first_call_s"]),
    ):
        lines.append(f"  {label:<44} {ours!s:>10} {theirs!s:>11}")
    lines.append(f"  transformer decoding model: {transformer['decoding_model']}")
    for name, value in report["train_tokens_per_s"].items():
        lines.append(f"  train tokens/s     {name:<36} {value:>10}")
    for key, label in (("first_call_xla_s", "first call with XLA, s"), ("greedy_batch1_ms_xla", "greedy batch 1, XLA, ms")):
        if key in report:
            lines.append(f"  {label:<55} {report[key]:>10}")
    for name, value in report["greedy_sentences_per_s"].items():
        lines.append(f"  greedy sentences/s {name:<36} {value:>10}")
    for name, value in report["beam_sentences_per_s"].items():
        lines.append(f"  beam sentences/s   {name:<36} {value:>10}")
    lines.append(f"  peak RSS, MB {report['peak_rss_mb']:>52}")
    if "cudnn_gru" in report:
        lines.append(f"  cuDNN GRU kernel eligible       {report['cudnn_gru']}")
    if "gpu_peak_memory_mb" in report:
        lines.append(f"  GPU peak memory                 {report['gpu_peak_memory_mb']:>10} MB")
    return "\n".join(lines)


def main(quick=False, json_file=None, model_dir=None, preset="cpu", train_seconds=None, transformer_dir=None):
    report = run(quick=quick, model_dir=model_dir, preset=preset, train_seconds=train_seconds, transformer_dir=transformer_dir)
    print(format_report(report))
    if json_file:
        with open(json_file, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)
    return report
