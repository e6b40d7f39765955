"""Which floating-point precision training computes in, chosen from the hardware.

Mixed precision keeps the weights in float32 and computes the layers in a 16-bit
type; the logits, softmax and loss stay float32 (seqlib's output layers say so).
Which 16-bit type pays depends on the silicon:
- bfloat16 has float32's range, so it needs no loss scaling. CPUs with AMX or
  AVX512-BF16 compute it natively (4.2x float32 on the project's Intel Xeon's
  2048-square matmul, bench/README.md), and so do GPUs of compute capability 8.0
  or more (A100, L4).
- float16 needs loss scaling but runs on the tensor cores of older GPUs (T4,
  compute capability 7.5). A CPU without AVX512-FP16 emulates it: slow.
- Everywhere else float32.

`choose_precision` is pure Python, so it can be tested with described hardware;
the helpers below it import TensorFlow only when called.
"""

import contextlib

from seqlib.errors import SeqlibError

AUTO = "auto"
FLOAT32 = "float32"
MIXED_BFLOAT16 = "mixed_bfloat16"
MIXED_FLOAT16 = "mixed_float16"
PRECISIONS = (AUTO, FLOAT32, MIXED_BFLOAT16, MIXED_FLOAT16)

# The CPU flags (as seqlib.hardware.cpu_description names them) of native bfloat16 and float16.
CPU_BFLOAT16_FLAGS = {"amx": "AMX", "avx512_bf16": "AVX512-BF16"}
CPU_FLOAT16_FLAGS = {"avx512_fp16": "AVX512-FP16"}

# Compute capabilities: bfloat16 tensor cores from Ampere (8.0), float16 ones from Volta (7.0).
BFLOAT16_GPU = (8, 0)
FLOAT16_GPU = (7, 0)


def check_precision(name):
    """Refuses a name that is not one of PRECISIONS."""
    if name not in PRECISIONS:
        raise SeqlibError(f"unknown precision {name!r}: choose one of {', '.join(PRECISIONS)}")
    return name


def choose_precision(requested, cpu, gpus):
    """The precision training uses, and why, in words.

    Args:
        requested: one of PRECISIONS; anything but "auto" is taken as it is.
        cpu: a dict like seqlib.hardware.cpu_description()'s ("amx", "avx512_bf16", "model").
        gpus: the compute capability (major, minor) of each GPU training will use; () for none.

    Returns:
        (precision, reason): precision is FLOAT32, MIXED_BFLOAT16 or MIXED_FLOAT16.
    """
    check_precision(requested)
    if requested != AUTO:
        return requested, "as asked"
    if gpus:
        # Every replica must compute the same way, so the weakest GPU decides.
        weakest = min(tuple(capability) for capability in gpus)
        described = f"GPU compute capability {weakest[0]}.{weakest[1]}"
        if weakest >= BFLOAT16_GPU:
            return MIXED_BFLOAT16, f"{described} computes bfloat16 natively"
        if weakest >= FLOAT16_GPU:
            return MIXED_FLOAT16, f"{described} has float16 tensor cores, not bfloat16 ones"
        return FLOAT32, f"{described} has no 16-bit tensor cores"
    native = [name for flag, name in CPU_BFLOAT16_FLAGS.items() if cpu.get(flag)]
    if native:
        return MIXED_BFLOAT16, f"the CPU has {' and '.join(native)}"
    return FLOAT32, "the CPU has neither AMX nor AVX512-BF16, so 16-bit types would be emulated"


def emulated_on_cpu(precision, cpu):
    """True where a CPU-only machine would emulate `precision`'s 16-bit type."""
    flags = {MIXED_BFLOAT16: CPU_BFLOAT16_FLAGS, MIXED_FLOAT16: CPU_FLOAT16_FLAGS}.get(precision)
    return flags is not None and not any(cpu.get(flag) for flag in flags)


def gpu_capabilities():
    """The compute capability (major, minor) of each GPU TensorFlow sees (imports TensorFlow)."""
    import tensorflow as tf

    capabilities = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        # A GPU that does not say (not CUDA) is taken as the oldest kind: float32.
        capabilities.append(tuple(details.get("compute_capability") or (0, 0)))
    return tuple(capabilities)


@contextlib.contextmanager
def computing_in(precision):
    """Keras's global dtype policy set to `precision` for the layers built inside, and
    put back afterwards (the policy applies to every layer built later, a notebook's next
    model too). `precision`: FLOAT32, MIXED_BFLOAT16 or MIXED_FLOAT16."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def computes_in_float32(model):
    """True if every layer of the Keras model, nested ones included, computes in float32."""
    return all(layer.dtype_policy.compute_dtype == "float32" for layer in model._flatten_layers())
