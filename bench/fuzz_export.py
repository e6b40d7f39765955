"""Fuzzes an exported SavedModel with random Unicode text.

    python bench/fuzz_export.py EXPORT_DIR [--count 10000] [--seed 0]

Sends strings of every kind (empty, whitespace, control characters, emoji,
mixed scripts, unpaired-surrogate-free random code points, very long) through
the `translate` and `translate_beam` signatures, in batches, and checks that
nothing crashes and every output is valid UTF-8. Needs TensorFlow and
tensorflow-text only, like any user of the export.
"""

import argparse
import random
import sys
import time

import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the text ops the export uses

ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,!?'\"-",
    "àâçéèêëîïôûùüÿœæÀÉÈ’«» ",
    "Привет мир Ёё",
    "東京大阪日本語中文한국어",
    "😀🎉👍🏽🇫🇷‍",
    "\t\n\r\x00\x07\x1b\u200b\u202f\u00a0\ufeff",
    "0123456789%$€£+*/=<>()[]{}",
]


def random_text(rng):
    kind = rng.random()
    if kind < 0.05:
        return ""
    if kind < 0.1:
        return " " * rng.randint(1, 20)
    if kind < 0.15:
        return "".join(rng.choice(ALPHABETS[0]) for _ in range(rng.randint(2000, 20000)))
    if kind < 0.35:
        # Any code point except surrogates, which cannot be UTF-8 encoded.
        return "".join(
            chr(rng.choice([rng.randint(0, 0xD7FF), rng.randint(0xE000, 0x10FFFF)])) for _ in range(rng.randint(1, 60))
        )
    return "".join(rng.choice(rng.choice(ALPHABETS)) for _ in range(rng.randint(1, 80)))


def fuzz(export_dir, count, seed=0, batch_size=50):
    """Returns (strings sent, seconds); raises on a crash or invalid UTF-8."""
    model = tf.saved_model.load(export_dir)
    translate = model.signatures["translate"]
    translate_beam = model.signatures["translate_beam"]
    rng = random.Random(seed)
    started = time.perf_counter()
    sent = 0
    while sent < count:
        batch = [random_text(rng) for _ in range(min(batch_size, count - sent))]
        text = tf.constant([s.encode("utf-8") for s in batch])
        greedy = translate(text=text)["translation"].numpy()
        beam = translate_beam(text=text, beam_width=tf.constant(rng.randint(1, 4)), n_best=tf.constant(1))["translations"].numpy()
        for output in list(greedy) + list(beam.ravel()):
            output.decode("utf-8")  # raises UnicodeDecodeError if invalid
        assert len(greedy) == len(batch) and beam.shape[0] == len(batch)
        sent += len(batch)
    return sent, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sent, seconds = fuzz(args.export_dir, args.count, args.seed)
    print(f"{sent} random strings through translate and translate_beam in {seconds:.1f} s: no crash, all outputs valid UTF-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
