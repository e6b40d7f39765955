"""Which ops a 16-bit precision slows down on this CPU, and by how much.

    python bench/precision_ops.py [--json FILE]

Times the ops a training step of the `cpu` preset spends its time in (the output
projection's matmul forward and backward, a batched matmul as in attention, the
decoder GRU's forward and backward, Keras's and with its input projection hoisted out
of the time loop, softmax cross-entropy, layer normalisation), each
in float32, bfloat16 and float16, under the TF_ENABLE_ONEDNN_OPTS this process
started with; run it once with 1 and once with 0 to see which kernels oneDNN takes
off the fast path. Prints milliseconds a call, and each 16-bit type's time over
float32's. Figures hold for the CPU named in the first line only.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Importing seqlib makes its oneDNN choice (unless TF_ENABLE_ONEDNN_OPTS is set), so
# TensorFlow is imported after it, inside the functions below.
from seqlib.hardware import cpu_description  # noqa: E402

# The cpu preset's shapes: 256 pairs a batch, about 12 target tokens, 256 units, 4,000 pieces.
BATCH, STEPS, UNITS, VOCAB, SOURCE = 256, 12, 256, 4000, 12
DTYPES = ("float32", "bfloat16", "float16")


def ops_of(dtype):
    """{name: a function of no arguments running one op (and its gradient where named so)}."""
    import keras
    import tensorflow as tf

    tf.random.set_seed(0)
    features = tf.random.normal([BATCH * STEPS, UNITS], dtype=tf.float32)
    kernel = tf.Variable(tf.random.normal([UNITS, VOCAB]) * 0.05)
    queries = tf.random.normal([BATCH, STEPS, UNITS])
    keys = tf.random.normal([BATCH, SOURCE, UNITS])
    labels = tf.random.uniform([BATCH * STEPS], maxval=VOCAB, dtype=tf.int32)
    cast = lambda x: tf.cast(x, dtype)  # noqa: E731
    gru = keras.layers.GRU(
        UNITS, return_sequences=True, dtype=keras.DTypePolicy("float32" if dtype == "float32" else f"mixed_{dtype}")
    )
    sequence = tf.random.normal([BATCH, STEPS, UNITS])
    gru(sequence)
    hoisted_gru = gru_with_input_projection_hoisted(UNITS, return_sequences=True, dtype=gru.dtype_policy)
    hoisted_gru(sequence)
    hoisted_gru.set_weights(gru.get_weights())
    norm = keras.layers.LayerNormalization(dtype=keras.DTypePolicy("float32" if dtype == "float32" else f"mixed_{dtype}"))
    norm(sequence)

    @tf.function
    def projection_forward():
        return tf.matmul(cast(features), cast(kernel))

    @tf.function
    def projection_backward():
        with tf.GradientTape() as tape:
            logits = tf.cast(tf.matmul(cast(features), cast(kernel)), tf.float32)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
        return tape.gradient(loss, kernel)

    @tf.function
    def attention_scores():
        return tf.matmul(cast(queries), cast(keys), transpose_b=True)

    @tf.function
    def gru_forward_backward():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.cast(gru(sequence), tf.float32))
        return tape.gradient(loss, gru.trainable_variables)

    @tf.function
    def hoisted_gru_forward_backward():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.cast(hoisted_gru(sequence), tf.float32))
        return tape.gradient(loss, hoisted_gru.trainable_variables)

    @tf.function
    def layer_norm():
        return norm(cast(sequence))

    @tf.function
    def softmax():
        return tf.nn.softmax(cast(tf.matmul(features, kernel)))

    return {
        "projection matmul, forward": projection_forward,
        "projection matmul + cross-entropy, gradient": projection_backward,
        "attention scores, batched matmul": attention_scores,
        "decoder GRU, forward + gradient": gru_forward_backward,
        "decoder GRU, input projection hoisted": hoisted_gru_forward_backward,
        "layer normalisation": layer_norm,
        "softmax over the vocabulary": softmax,
    }


def gru_with_input_projection_hoisted(units, **kwargs):
    """A Keras GRU layer (reset_after, no dropout) that multiplies every step's input by
    its kernel at once before the time loop, where Keras's multiplies each step's input
    inside it; same weights, same outputs (batch, steps, units)."""
    import keras

    class HoistedGRU(keras.layers.GRU):
        def inner_loop(self, sequences, initial_state, mask, training=False):
            cell = self.cell
            input_bias, recurrent_bias = cell.bias[0], cell.bias[1]
            projected = keras.ops.matmul(sequences, cell.kernel) + input_bias  # (batch, steps, 3 * units)

            def step(inputs, states):
                previous = states[0]
                x_z, x_r, x_h = keras.ops.split(inputs, 3, axis=-1)
                h_z, h_r, h_h = keras.ops.split(keras.ops.matmul(previous, cell.recurrent_kernel) + recurrent_bias, 3, axis=-1)
                z = cell.recurrent_activation(x_z + h_z)
                state = z * previous + (1 - z) * cell.activation(x_h + cell.recurrent_activation(x_r + h_r) * h_h)
                return state, [state]

            # Keras's own loop (a tf.while_loop), so that only the hoisting differs.
            return keras.src.backend.rnn(
                step,
                projected,
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state],
                mask=mask[0] if isinstance(mask, (list, tuple)) else mask,
                input_length=sequences.shape[1],
                return_all_outputs=self.return_sequences,
            )

    return HoistedGRU(units, **kwargs)


def milliseconds(function, budget=2.0, most=50):
    """Mean ms a call over up to `most` calls or `budget` seconds, after one untimed call."""
    import tensorflow as tf

    function()
    calls, started = 0, time.perf_counter()
    while calls < most and time.perf_counter() - started < budget:
        result = function()
        calls += 1
    tf.nest.map_structure(lambda tensor: tensor.numpy(), result)
    return 1000 * (time.perf_counter() - started) / calls


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args()
    import tensorflow as tf

    cpu = cpu_description()
    onednn = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "TensorFlow's default")
    print(f"{cpu['model']}, {cpu['cores']} cores; TF_ENABLE_ONEDNN_OPTS={onednn}; TensorFlow {tf.__version__}")
    figures = {}
    for dtype in DTYPES:
        for name, function in ops_of(dtype).items():
            figures.setdefault(name, {})[dtype] = round(milliseconds(function), 2)
    print(f"  {'op (ms a call)':<46}" + "".join(f"{dtype:>10}" for dtype in DTYPES) + f"{'bf16/f32':>10}{'f16/f32':>10}")
    for name, row in figures.items():
        ratios = [row["bfloat16"] / row["float32"], row["float16"] / row["float32"]]
        print(f"  {name:<46}" + "".join(f"{row[d]:>10.2f}" for d in DTYPES) + "".join(f"{r:>9.2f}x" for r in ratios))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu, "onednn": onednn, "ms": figures}, indent=2))


if __name__ == "__main__":
    main()
