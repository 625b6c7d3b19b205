"""Print ``OPENBLAS_CORETYPE=<name>``: OpenBLAS kernels of a narrower SIMD width than this CPU's.

``make test`` runs the unit tests once more, and ``make nbval`` its second pass, with them,
so that a tolerance that holds only with this CPU's BLAS kernels fails here rather than on a
reader's laptop: Haswell's (AVX2) on a CPU with AVX-512, SandyBridge's (AVX) on one with AVX2
only, nothing otherwise (or off x86-64). OpenBLAS builds with DYNAMIC_ARCH, as NumPy's wheels
are, take the variable; other BLAS libraries ignore it.
"""

try:
    from numpy._core._multiarray_umath import __cpu_features__
except ImportError:  # NumPy 1.x
    from numpy.core._multiarray_umath import __cpu_features__

if __cpu_features__.get("AVX512F"):
    print("OPENBLAS_CORETYPE=Haswell")
elif __cpu_features__.get("AVX2"):
    print("OPENBLAS_CORETYPE=SandyBridge")
