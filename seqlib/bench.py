"""`python -m seqlib bench`: training and decoding speed, side by side in one run.

Every figure is measured here, now, on this machine; variants are compared in
the same process because shared machines are noisy. Nothing is asserted: the
report is the product.
"""

import json
import platform
import resource
import time

import keras
import numpy as np
import tensorflow as tf

from seqlib import data, search, vocabulary
from seqlib.config import get_preset
from seqlib.model import InferenceModels, build_training_model, compile_model, cudnn_eligible
from seqlib.pipeline import keep_shorter_than, make_dataset, vectorize_pairs
from seqlib.rundir import build_translator, load_translator
from seqlib.vocabulary import END_ID, START_ID

# Reference figures of the TensorFlow "NMT with attention" tutorial, measured on
# this project's 2-core CPU machine (see the issues).
TUTORIAL = {"train_tokens_per_s": 2560, "greedy_batch64_sentences_per_s": 1100, "greedy_batch1_ms": 3.5, "first_call_s": 0.74}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_peak_gflops(size=2048, repeats=10):
    """The machine's float32 matmul throughput, as the ceiling for model FLOPs."""
    a = tf.random.normal([size, size])
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        result = matmul(a)
    result.numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


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
    pairs = data.read_pairs()
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


def train_tokens_per_s(config, source_ids, target_ids, steps, bucketing=True, jit_compile=False, mixed_precision=False):
    """Target (non-padding) tokens per second of model training on the same batches."""
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed_precision else "float32")
    try:
        return _train_tokens_per_s(config, source_ids, target_ids, steps, bucketing, jit_compile)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _train_tokens_per_s(config, source_ids, target_ids, steps, bucketing, jit_compile):
    dataset = make_dataset(source_ids, target_ids, config.batch_size, shuffle_seed=1, bucketing=bucketing, repeat=True)
    batches = list(dataset.take(steps + 3))
    tokens = sum(int(tf.reduce_sum(tf.cast(target_out > 0, tf.int32))) for _, target_out in batches[3:])
    model = build_training_model(config, config.source_vocab_size, config.target_vocab_size)
    compile_model(model, config.replace(jit_compile=jit_compile))
    for (context, target_in), target_out in batches[:3]:  # trace for the first shapes
        model.train_on_batch((context, target_in), target_out)
    started = time.perf_counter()
    for (context, target_in), target_out in batches[3:]:
        model.train_on_batch((context, target_in), target_out)
    return tokens / (time.perf_counter() - started)


def eager_greedy(models, context, max_length):
    """The TF-tutorial way: a Python loop calling the decoder step eagerly."""
    encoder_outputs, keys, state = models.encoder(context)
    tokens = tf.fill([context.shape[0]], START_ID)
    done = np.zeros(context.shape[0], bool)
    for _ in range(max_length):
        logits, state, _ = models.decoder_step([tokens, state, encoder_outputs, keys, context])
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


def run(quick=False, model_dir=None, preset="cpu"):
    """Measures everything and returns the report (a dict)."""
    config = get_preset(preset)
    steps = 12 if quick else 60
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {len(tf.config.list_physical_devices('CPU'))} CPU device(s), "
        f"GPU: {[d.name for d in tf.config.list_physical_devices('GPU')] or 'none'}",
        "preset": preset,
        "quick": quick,
        "tutorial_reference": TUTORIAL,
    }
    peak = matmul_peak_gflops()
    report["matmul_peak_gflops"] = round(peak, 1)

    pairs = sample_pairs(6000 if quick else 30000)
    source_vocab, target_vocab, (source_ids, target_ids) = vectorized_sample(config, pairs)
    variants = {"bucketing": dict(bucketing=True), "padding_to_longest": dict(bucketing=False)}
    if not quick:
        variants["bucketing_jit"] = dict(bucketing=True, jit_compile=True)
    if tf.config.list_physical_devices("GPU"):
        variants["bucketing_mixed_float16"] = dict(bucketing=True, mixed_precision=True)
    report["train_tokens_per_s"] = {}
    for name, options in variants.items():
        try:
            report["train_tokens_per_s"][name] = round(train_tokens_per_s(config, source_ids, target_ids, steps, **options))
        except Exception as error:  # XLA may refuse a graph; report it, do not hide it
            report["train_tokens_per_s"][name] = f"failed: {type(error).__name__}: {str(error)[:200]}"
    flops = training_flops_per_target_token(config)
    report["model_flops_per_target_token"] = round(flops)
    best = max(v for v in report["train_tokens_per_s"].values() if isinstance(v, (int, float)))
    report["fraction_of_matmul_peak"] = round(best * flops / (peak * 1e9), 3)

    # Decoding: a trained run decodes real lengths; without one, an untrained model
    # of the preset's size decodes to a fixed length (reported). The bfloat16
    # translator projects onto the vocabulary in bfloat16 (AMX / AVX512-BF16 CPUs).
    if model_dir:
        translator = load_translator(model_dir)
        xla_translator = load_translator(model_dir, jit_compile=True)
        bfloat16 = load_translator(model_dir, bfloat16_projection=True)
        sentences = list(data.read_pairs(f"{model_dir}/test.tsv").english.drop_duplicates()[:256])
        max_length = 0
    else:
        model = build_training_model(config, len(source_vocab) + 2, len(target_vocab) + 2)
        translator = build_translator(model, config, source_vocab, target_vocab)
        xla_translator = build_translator(model, config, source_vocab, target_vocab, jit_compile=True)
        bfloat16 = build_translator(model, config, source_vocab, target_vocab, bfloat16_projection=True)
        sentences = list(pairs.english[:256])
        max_length = 16
    report["decoding_model"] = model_dir or f"untrained {preset} model, {max_length} tokens a sentence"
    # Batch 1: the mean over 32 different sentences, one at a time; batch 64: the
    # mean over 4 batches. One sentence or batch alone says little about speed.
    singles = [tf.constant([sentence]) for sentence in (sentences * 32)[:32]]
    batches = [tf.constant((sentences * 4)[start : start + 64]) for start in range(0, 256, 64)]
    text = {1: singles[0], 64: batches[0]}
    length = tf.constant(max_length)

    def each(translator, inputs):
        return lambda: [translator.greedy(text, length)["translation"].numpy() for text in inputs]

    started = time.perf_counter()
    translator.greedy(text[1], length)["translation"].numpy()
    report["first_call_s"] = round(time.perf_counter() - started, 3)
    repeats = 2 if quick else 5
    greedy_1 = timed(each(translator, singles), repeats) / len(singles)
    greedy_64 = timed(each(translator, batches), repeats) / len(batches)
    report["greedy_batch1_ms"] = round(1000 * greedy_1, 2)
    # The same text-to-text call with the numeric part compiled by XLA (once per
    # shape: the timed() warm-up call compiles every shape used).
    started = time.perf_counter()
    xla_translator.greedy(text[1], length)["translation"].numpy()
    report["first_call_xla_s"] = round(time.perf_counter() - started, 3)
    report["greedy_batch1_ms_xla"] = round(1000 * timed(each(xla_translator, singles), repeats) / len(singles), 2)
    xla_64 = timed(each(xla_translator, batches), repeats) / len(batches)
    report["greedy_sentences_per_s"] = {
        "batch_1": round(1 / greedy_1, 1),
        "batch_64": round(64 / greedy_64, 1),
        "batch_64_xla": round(64 / xla_64, 1),
    }

    context = translator.vectorize(text[64])
    inference = _inference_models(translator)
    eager_64 = timed(lambda: eager_greedy(inference, context, max_length or int(2 * context.shape[1] + 10)), 1)
    report["greedy_sentences_per_s"]["batch_64_eager_python_loop"] = round(64 / eager_64, 1)
    report["greedy_sentences_per_s"].update(
        _numeric_greedy(translator, context, max_length or 2 * int(context.shape[1]) + 10, repeats)
    )

    report["greedy_sentences_per_s"]["batch_64_bfloat16_projection"] = round(
        64 / (timed(each(bfloat16, batches), repeats) / len(batches)), 1
    )

    report["beam_sentences_per_s"] = {}
    for width in (4, 8):
        for name, beam_translator in (("", translator), ("_bfloat16_projection", bfloat16)):

            def beam_all(width=width, beam_translator=beam_translator):
                for text in batches:
                    beam_translator.beam(text, tf.constant(width), tf.constant(1), tf.constant(0.6), length)[
                        "translations"
                    ].numpy()

            seconds = timed(beam_all, repeats)
            report["beam_sentences_per_s"][f"beam_{width}_batch_64{name}"] = round(64 * len(batches) / seconds, 1)
    report["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if tf.config.list_physical_devices("GPU"):
        # On a GPU, Keras takes the cuDNN path when every GRU is eligible; say so, do not assume it.
        report["cudnn_gru"] = cudnn_eligible(build_training_model(config, 100, 100))
        report["gpu_peak_memory_mb"] = round(tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20, 1)
    return report


def _inference_models(translator):
    return InferenceModels(
        encoder=translator.encoder, decoder_step=translator.decoder_step, decoder_features=translator.decoder_features
    )


def _numeric_greedy(translator, context, max_length, repeats):
    """Greedy search's numeric part (encoder + loop, no string ops) in sentences/s:
    every sentence kept until the longest ends, finished ones dropped (the
    translator's default), and XLA (fixed shapes, so every sentence kept)."""

    def decode(context, drop_finished, fixed_length):
        step, state = translator._start(context)
        start = tf.fill([tf.shape(context)[0]], START_ID)
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
    lines = [f"seqlib bench — {report['machine']}, preset {report['preset']}{' (quick)' if report['quick'] else ''}"]
    lines.append(f"  matmul peak                     {report['matmul_peak_gflops']:>10} GFLOP/s")
    for name, value in report["train_tokens_per_s"].items():
        lines.append(f"  train tokens/s  {name:<16} {value:>10}")
    lines.append(f"  model FLOPs per target token    {report['model_flops_per_target_token']:>10}")
    lines.append(f"  fraction of matmul peak         {report['fraction_of_matmul_peak']:>10}")
    lines.append(f"  decoding model: {report['decoding_model']}")
    lines.append(f"  first call (trace + run)        {report['first_call_s']:>10} s")
    lines.append(f"  greedy batch 1 latency          {report['greedy_batch1_ms']:>10} ms")
    lines.append(f"  first call with XLA             {report['first_call_xla_s']:>10} s")
    lines.append(f"  greedy batch 1 latency, XLA     {report['greedy_batch1_ms_xla']:>10} ms")
    for name, value in report["greedy_sentences_per_s"].items():
        lines.append(f"  greedy sentences/s {name:<36} {value:>10}")
    for name, value in report["beam_sentences_per_s"].items():
        lines.append(f"  beam sentences/s   {name:<36} {value:>10}")
    lines.append(f"  peak RSS                        {report['peak_rss_mb']:>10} MB")
    if "cudnn_gru" in report:
        lines.append(f"  cuDNN GRU kernel eligible       {report['cudnn_gru']}")
    if "gpu_peak_memory_mb" in report:
        lines.append(f"  GPU peak memory                 {report['gpu_peak_memory_mb']:>10} MB")
    lines.append(f"  TF tutorial on this CPU: {report['tutorial_reference']}")
    return "\n".join(lines)


def main(quick=False, json_file=None, model_dir=None, preset="cpu"):
    report = run(quick=quick, model_dir=model_dir, preset=preset)
    print(format_report(report))
    if json_file:
        with open(json_file, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)
    return report
