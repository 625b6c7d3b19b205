"""Another machine's arithmetic, for nbval: ``numpy.dot`` sums in a fixed permuted order.

Put this folder on ``PYTHONPATH`` (``make nbval`` does, for its second run) and every Python
process started with it, the notebook kernels included, imports it at start-up. The products
are mathematically the same; only the order in which the inner dimension is summed changes,
as it does with another BLAS kernel, SIMD width or thread count. A stored notebook output that
still matches under it does not depend on this machine's rounding.
"""

import numpy as _np

_dot = _np.dot
_matmul = _np.matmul
_perms: dict[int, object] = {}


def _perm(k: int):
    # A fixed, seeded permutation per inner length: the same on every run and machine.
    if k not in _perms:
        _perms[k] = _np.random.default_rng(k).permutation(k)
    return _perms[k]


def _permuted(a, b):
    a, b = _np.asanyarray(a), _np.asanyarray(b)
    if a.ndim == 0 or b.ndim == 0 or a.shape[-1] < 2:
        return a, b
    perm = _perm(a.shape[-1])
    return a[..., perm], _np.take(b, perm, axis=0 if b.ndim == 1 else -2)


def dot(a, b, out=None):
    a, b = _permuted(a, b)
    return _dot(a, b) if out is None else _dot(a, b, out=out)


def matmul(a, b, /, out=None, **kwargs):
    a, b = _permuted(a, b)
    return _matmul(a, b, out=out, **kwargs)


dot.__doc__ = _dot.__doc__
_np.dot = dot
_np.matmul = matmul
