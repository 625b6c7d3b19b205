"""Print the SIMD features that NumPy dispatches to on this CPU, for NPY_DISABLE_CPU_FEATURES.

``make nbval`` runs its second pass with these features disabled, so that NumPy's ufuncs take
their baseline kernels (on x86-64 with NumPy 2: no AVX2, no AVX-512): other last bits than
this CPU's own. Only the features this CPU has are printed (nothing on a CPU without any),
so NumPy is never asked to disable one that it does not dispatch or that the CPU lacks
(it would warn at import, or refuse).
"""

try:
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
except ImportError:  # NumPy 1.x
    from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__

print(" ".join(name for name in __cpu_dispatch__ if __cpu_features__.get(name)))
