"""seqlib: an English→French translator (attention GRU or transformer), from corpus to TensorBoard.

The data flows through one module a step: data → text → vocabulary → pipeline →
model (model.py, transformer.py; architectures.py chooses) → search → translator. For notebooks, the package itself offers
`plot_attention(translator, "I am cold.")`.
"""

from seqlib.hardware import choose_onednn

# Before anything imports TensorFlow: its faster oneDNN kernels on AVX2-only CPUs too
# (see seqlib/hardware.py); a TF_ENABLE_ONEDNN_OPTS the user set is left as it is.
choose_onednn()

# Names offered at the package level, and the module each lives in. They are
# imported on first use, so `import seqlib` (and `python -m seqlib --help`) does
# not pay for importing TensorFlow and matplotlib.
_LAZY_NAMES = {"plot_attention": "seqlib.evaluation.plots"}

__all__ = sorted(_LAZY_NAMES)


def __getattr__(name):
    if name not in _LAZY_NAMES:
        # Also lets `from seqlib import quiz` fall back to importing the submodule.
        raise AttributeError(f"module 'seqlib' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY_NAMES))
