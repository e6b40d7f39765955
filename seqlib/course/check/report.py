"""How a grader reports to the learner, shared by every lab's graders.

A right answer prints one ✓ line (`passed`). A wrong one raises `CheckFailed`
(`fail`), whose message gives a hint (the common mistake that explains the
difference, where one does) and then always the same three things: the input,
what was expected, and what came back. The other helpers read what a learner's
function returned (`call`, `unpack`, `to_numpy`, `expect_shape`), compare it
(`close`) and show it (`show`, `named`, `describe`).
"""

import numpy as np

# Values continue under their label, aligned with its first line.
_INDENT = " " * 12


class CheckFailed(AssertionError):
    """The learner's function gave a wrong answer; the message says where and why."""


def passed(exercise, detail):
    print(f"✓ {exercise}: {detail}")


def _field(label, value):
    first, *rest = str(value).split("\n")
    return "\n".join([f"  {label + ':':<10}{first}", *(_INDENT + line for line in rest)])


def fail(exercise, hint, described, expected, got):
    """Raises CheckFailed: the hint, then the input, what was expected and what came back."""
    raise CheckFailed(
        f"✗ {exercise}: {hint}\n{_field('on input', described)}\n{_field('expected', expected)}\n{_field('got', got)}"
    )


def call(exercise, function, arguments, described, returns, advice=None):
    """Calls the learner's function; an unexpected exception becomes a CheckFailed
    that says which input caused it. NotImplementedError (an open TODO) passes.

    advice: (the error as "Type: message") -> a hint that explains it, or "".
    """
    try:
        return function(*arguments)
    except NotImplementedError:
        raise
    except Exception as error:
        raised = f"{type(error).__name__}: {error}"
        hint = (advice or (lambda _: ""))(raised)
        fail(exercise, f"your function raised {raised}" + (f"\n  {hint}" if hint else ""), described, returns, raised)


def describe(value):
    """A short description of what came back, for values that are not arrays."""
    if value is None:
        return "None (did you forget a `return`?)"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)} values"
    shape = getattr(value, "shape", None)
    return f"a {type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else f": {value!r}"[:200])


def to_numpy(exercise, value, what, described, returns):
    """Tensors, arrays and lists become numpy arrays; anything else is an error."""
    if value is None:
        fail(exercise, f"{what} is None: did you forget a `return`?", described, returns, "None")
    if hasattr(value, "to_tensor") and hasattr(value, "row_lengths"):
        fail(exercise, f"{what} is a RaggedTensor; return a dense Tensor (batch, ...)", described, returns, describe(value))
    try:
        return np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    except Exception as error:  # anything np.asarray cannot read
        problem = error
    fail(exercise, f"cannot read {what} as an array ({problem})", described, returns, describe(value))


def show(array):
    return np.array2string(np.asarray(array), precision=4, suppress_small=True, threshold=60, max_line_width=110)


def named(**arrays):
    """Several named arrays, one `name =` line and the values below it for each."""
    return "\n".join(f"{name} =\n{show(array)}" for name, array in arrays.items())


def unpack(exercise, result, names, described):
    """Checks that a function returned a tuple of len(names) values."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        wanted = f"a tuple ({', '.join(names)})"
        fail(exercise, f"return {wanted}", described, wanted, describe(result))
    return result


def expect_shape(exercise, what, got, expected_shape, described, hint=""):
    if tuple(got.shape) != tuple(expected_shape):
        fail(
            exercise,
            f"{what} has shape {tuple(got.shape)}, expected {tuple(expected_shape)}{'; ' + hint if hint else ''}",
            described,
            f"{what} of shape {tuple(expected_shape)}",
            f"{what} of shape {tuple(got.shape)} =\n{show(got)}",
        )


def close(got, expected, tolerance=1e-4):
    return got.shape == expected.shape and np.allclose(got, expected, rtol=tolerance, atol=tolerance)
