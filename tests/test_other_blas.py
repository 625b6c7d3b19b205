"""make unit-other-blas: its OPENBLAS_CORETYPE does change the kernels NumPy's products run."""

import os
import subprocess
import sys

import pytest

ARCHITECTURE = ("import numpy as np; from threadpoolctl import threadpool_info; "
                "np.ones((2, 2)) @ np.ones((2, 2)); "
                "print(sorted({i['architecture'] for i in threadpool_info() "
                "if i.get('internal_api') == 'openblas'}))")


def _architectures(env):
    run = subprocess.run([sys.executable, "-c", ARCHITECTURE], env=env, check=True,
                         capture_output=True, text=True)
    return run.stdout.strip()


def test_the_openblas_kernels_asked_for_are_not_this_cpus_own():
    if not os.environ.get("OPENBLAS_CORETYPE"):
        pytest.skip("OPENBLAS_CORETYPE is not set (make unit-other-blas sets it)")
    own = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    asked, default = _architectures(dict(os.environ)), _architectures(own)
    assert asked != "[]" and asked != default, (asked, default)
