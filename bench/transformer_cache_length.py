"""The transformer's key/value cache sized by the search's own limit, against sized by
the longest output the translator may write: sentences/s of beam 4 and greedy search,
alternated in one process on the same sentences (batches of 64, three rounds, medians).

    python bench/transformer_cache_length.py RUN_DIR     # a trained transformer run
"""

import statistics
import sys
import time

import tensorflow as tf

from seqlib.conventions import DEFAULT_ALPHA
from seqlib.data import corpus
from seqlib.decoding.loading import load_translator

run = sys.argv[1] if len(sys.argv) > 1 else "runs/cpu-transformer"
sentences = list(corpus.read_pairs(f"{run}/test.tsv").english.drop_duplicates()[:512])
batches = [tf.constant(sentences[start : start + 64]) for start in range(0, len(sentences), 64)]
fitted = load_translator(run)
longest = load_translator(run)
encode = longest.decoder.encode
longest.decoder.encode = lambda context, max_length=None: encode(context, None)  # always max_output_tokens


def beam(translator):
    return [
        translator.beam(text, tf.constant(4), tf.constant(1), tf.constant(DEFAULT_ALPHA), tf.constant(0))["translations"].numpy()
        for text in batches
    ]


def greedy(translator):
    return [translator.greedy(text, tf.constant(0))["translations"].numpy() for text in batches]


translators = {"cache fits the search": fitted, "cache of max_output_tokens": longest}
for translator in translators.values():  # traced and compiled before timing
    beam(translator)
    greedy(translator)
rates = {}
for _ in range(3):
    for name, translator in translators.items():
        for search, decode in (("beam 4", beam), ("greedy", greedy)):
            started = time.perf_counter()
            decode(translator)
            rates.setdefault((search, name), []).append(len(sentences) / (time.perf_counter() - started))
for (search, name), values in sorted(rates.items()):
    print(f"{search:7} {name:28} sentences/s {[round(value, 1) for value in values]}, median {statistics.median(values):.1f}")
same = all((a == b).all() for a, b in zip(beam(fitted), beam(longest)))
print("same beam translations:", same)
