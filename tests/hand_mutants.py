"""Hand-made mutants of the NumPy kernel (tests/MUTATION.md, issue 30's second pass).

Each mutant is written into backprop/_numpy_kernel.py, the kernel's tests run without torch
and JAX, and the file is restored (also on an interrupt). Usage, from the repository root:

    .venv/bin/python tests/hand_mutants.py      # about 50 s; prints KILLED or SURVIVED
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "backprop" / "_numpy_kernel.py"
TESTS = [
    "tests/test_kernel.py",
    "tests/test_gradients.py",
    "tests/test_regressions.py",
    "tests/test_train.py",
]
orig = SRC.read_text()
mutants = [
    (
        "retry on any RuntimeWarning",
        '            if not str(flag).startswith("invalid value"):',
        "            if False:",
    ),
    (
        "retry keeps a NaN",
        "            if not all_finite(grad) or (loss is not None and not np.isfinite(loss)):",
        "            if False:",
    ),
    ("retry with the flag", '            with np.errstate(invalid="ignore"):', "            with np.errstate():"),
    (
        "rides: <= to <",
        "return 2 * dim_theta + n * p[0] <= AUG_ENTRIES * (2 * L - 3)",
        "return 2 * dim_theta + n * p[0] < AUG_ENTRIES * (2 * L - 3)",
    ),
    ("rides: 2L-3 to 2L-2", "AUG_ENTRIES * (2 * L - 3)", "AUG_ENTRIES * (2 * L - 2)"),
    (
        "ones row zero",
        "self.A = [np.ones((p[0] + 1, n), dtype=dtype) if aug else None]",
        "self.A = [np.zeros((p[0] + 1, n), dtype=dtype) if aug else None]",
    ),
    (
        "hidden ones row zero",
        "self.A += [np.ones((p[l] + 1, n), dtype=dtype) for l in range(1, L)]",
        "self.A += [np.zeros((p[l] + 1, n), dtype=dtype) for l in range(1, L)]",
    ),
    (
        "gather bias column dropped",
        "blocks = [np.hstack([position[W].reshape(shape), position[b].reshape(-1, 1)])",
        "blocks = [np.hstack([position[W].reshape(shape), position[W][:shape[0]].reshape(-1, 1)])",
    ),
    (
        "scatter transposed wrong",
        "scatter = np.argsort(np.concatenate([block.T.ravel() for block in blocks]))",
        "scatter = np.argsort(np.concatenate([block.ravel() for block in blocks]))",
    ),
    ("layer-L gradient skipped", "        np.dot(A_prev, Dt.T, ws.gWaT[-1])\n", "        pass\n"),
    ("copy of X^T skipped", "        np.copyto(ws.H[0], X.T)\n", "        pass\n"),
    (
        "softmax loss sign",
        "        value = -np.vdot(shifted, Yt) / n",
        "        value = np.vdot(shifted, Yt) / n",
    ),
    (
        "blocks: cols off by one",
        "        c1 = min(c0 + cols, n)\n        delta_back(",
        "        c1 = min(c0 + cols - 1, n)\n        delta_back(",
    ),
    (
        "column blocks of S: last block short",
        "        S(Z[:, c0:c1], zeros[:, : c1 - c0])",
        "        S(Z[:, c0:c1 - 1], zeros[:, : c1 - c0 - 1])",
    ),
    ("written back skipped", "    np.copyto(Z, S(Z))\n    return Z", "    return S(Z)"),
    (
        "plain bias gradient skipped",
        "                dot(Dt, ones, gb[l - 1])  # Σ_i δ_l = Delta_l^T 1\n",
        "                pass\n",
    ),
    (
        "general output delta not /n",
        "    return value, np.divide(delta.T, n, out=np.empty(Zt.shape, Zt.dtype))",
        "    return value, np.divide(delta.T, 1, out=np.empty(Zt.shape, Zt.dtype))",
    ),
    (
        "labels axis",
        "                    return self.eye.take(y, 1).T",
        "                    return self.eye.take(y, 1)",
    ),
]
results = []
try:
    for name, a, b in mutants:
        assert orig.count(a) == 1, name
        SRC.write_text(orig.replace(a, b))
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-x",
                "-p",
                "no:randomly",
                "-p",
                "no:cacheprovider",
                "-m",
                "not jax and not torch",
                *TESTS,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=dict(os.environ, OPENBLAS_NUM_THREADS="1"),
        )
        killed = r.returncode != 0
        last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-200:]
        results.append((name, killed))
        print(f"{name}: {'KILLED' if killed else 'SURVIVED'} | {last}", flush=True)
finally:
    SRC.write_text(orig)
sys.exit(0 if all(killed for _, killed in results) else 1)
