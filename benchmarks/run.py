"""Side-by-side timings of one full gradient, and of the course's polyreg training run.

What is timed (one forward and one backward pass, ReLU hidden layers, softmax output with
cross-entropy, the mean over the batch) for four shapes, in float64 and float32:

    tiny    n = 64,   p = [4, 16, 16, 3]
    small   n = 256,  p = [64, 64, 10]
    medium  n = 256,  p = [784, 256, 256, 10]
    large   n = 1024, p = [784, 1024, 1024, 10]

by these "libraries", each in its own process:

    floor       only the matrix products a gradient needs (L forward, L weight gradients,
                L - 1 back-propagated deltas), written into preallocated buffers (out=)
    backprop    net.gradient(X, y): this package's public call, input checks included
    internal    net.batch_loss_and_gradient(X, Y) on a batch checked once
    torch       PyTorch CPU autograd: F.linear/relu/cross_entropy, torch.autograd.grad
    jax         JAX on the CPU: jax.jit(jax.value_and_grad) of the same loss, each call waited
                for (block_until_ready); the first call (tracing, compiling) is timed apart
    sklearn     scikit-learn's MLPClassifier._backprop with preset coefs_/intercepts_
    algorithm2  bp.algorithm2 (the lecture's loop over examples); on medium/large only the
                first few examples are timed and the time is scaled by n / (examples timed)

Every library runs with the same number of threads (default 1: threadpoolctl for the BLAS,
torch.set_num_threads, XLA_FLAGS for JAX, and the OMP/OPENBLAS/MKL variables of the child
process). A cell's
time is the median of repeated calls after warm-up. There are several rounds; in each round
the libraries run one after another in a rotated order, each in a fresh subprocess, and the
best round (lowest median) of each library is kept. Ratios are between those best times,
all from the same run.

Usage::

    python benchmarks/run.py                 # full run, writes benchmarks/results.json
    python benchmarks/run.py --quick         # smoke run: tiny/small shapes, one round
    python benchmarks/run.py --gpu           # CuPy backend vs torch CUDA and JAX (needs a GPU)

Missing optional libraries (torch, JAX, scikit-learn) are reported and skipped.

The modules: ``cases.py`` (shapes, data, the floor, the timers), ``libraries.py`` (one setup
per library, in a table), ``experiments.py`` (polyreg and memory), ``report.py`` (tables and
targets) and this file (the worker processes and the rounds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cases import (
    ALG2_EXAMPLES,
    ALG2_EXAMPLES_QUICK,
    QUICK_SHAPES,
    SHAPES,
    THREAD_VARS,
    limit_threads,
    save,
    xla_flags,
)
from experiments import memory, polyreg, polyreg_jax
from libraries import GPU_LIBS, LIBS, bench_cell, gpu_cell
from report import (
    FIT_LOOP_TARGET,
    POLYREG_TARGET,
    gpu_table,
    report,
    summarise,
    summarise_paired,
)

HERE = Path(__file__).resolve().parent
JAX_WORKERS = ("jax", "polyreg_jax")  # CPU runs only: a GPU run keeps XLA's defaults


# ============================================================================ worker side


def worker(args) -> None:
    """Child process: one library (or polyreg / memory), every requested cell."""
    for var in THREAD_VARS:
        os.environ[var] = str(args.threads)
    if args.worker in JAX_WORKERS:  # XLA reads its thread settings when JAX is imported
        os.environ["XLA_FLAGS"] = xla_flags(args.threads)
        # With these flags XLA's CPU runtime still ran its products on two cores whenever
        # the second was free (half the one-core time), so the process gets only as many.
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[: args.threads]))
    import numpy  # noqa: F401  (load every BLAS first, so threadpoolctl sees and caps it)

    import backprop  # noqa: F401

    result: dict = {"cells": {}}
    if args.worker in ("torch", "torch_cuda"):
        import torch

        torch.set_num_threads(args.threads)
        result["torch_threads"] = torch.get_num_threads()
    elif args.worker == "sklearn":
        import sklearn.neural_network  # noqa: F401  (scikit-learn may bring its own BLAS)
    result["threadpools"] = limit_threads(args.threads)
    if hasattr(os, "sched_getaffinity"):
        result["cpu_affinity"] = sorted(os.sched_getaffinity(0))
    if args.worker == "polyreg":
        result["polyreg"] = polyreg(args.quick)
    elif args.worker == "polyreg_jax":
        result["polyreg"] = polyreg_jax(args.quick)
    elif args.worker == "memory":
        result["memory"] = {dt: memory(dt) for dt in args.dtypes.split(",")}
    else:
        for dtype in args.dtypes.split(","):
            for shape in args.shapes.split(","):
                result["cells"][f"{shape}/{dtype}"] = (
                    gpu_cell(args.worker, shape, dtype, args.quick, args.budget)
                    if args.worker in GPU_LIBS else
                    bench_cell(args.worker, shape, dtype, args.quick))
    Path(args.worker_out).write_text(json.dumps(result))


# ============================================================================ parent side


def _available(lib: str) -> str | None:
    """None if the library can run here, else the reason it cannot."""
    import importlib.util

    need = {"torch": "torch", "sklearn": "sklearn", "torch_cuda": "torch", "jax": "jax",
            "backprop_torch": "torch",
            "cupy": "cupy", "gpu_floor": "cupy", "jax_gpu": "jax",
            "polyreg_jax": "jax"}.get(lib)
    if need and importlib.util.find_spec(need) is None:
        wanted = ('"jax[cuda12]"' if lib == "jax_gpu" else
                  "-r requirements-gpu.txt" if need == "cupy" else
                  "-r benchmarks/requirements.txt")
        return f"{need} is not installed (pip install {wanted})"
    if lib in GPU_LIBS:
        if lib in ("torch_cuda", "backprop_torch"):
            import torch

            if not torch.cuda.is_available():
                return "torch.cuda.is_available() is False"
        elif lib == "jax_gpu":
            pass  # asking JAX here would open the GPU in this process: its worker checks
        else:
            import backprop as bp

            if not bp.cupy_available():
                return "CuPy sees no CUDA device"
    return None


def _run_worker(lib: str, args, env) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", lib,
               "--worker-out", str(out), "--threads", str(args.threads),
               "--shapes", args.shapes, "--dtypes", args.dtypes]
        if args.quick:
            cmd.append("--quick")
        if args.budget is not None:
            cmd += ["--budget", str(args.budget)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout)[-2000:]
            raise RuntimeError(f"worker {lib!r} failed (exit {proc.returncode}):\n{tail}")
        return json.loads(out.read_text())


def _machine(threads: int) -> dict:
    import numpy as np

    import backprop as bp

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__,
                "backprop": bp.__version__}
    for name, module in (("torch", "torch"), ("scikit-learn", "sklearn"),
                         ("threadpoolctl", "threadpoolctl"), ("cupy", "cupy"), ("jax", "jax")):
        try:
            versions[name] = __import__(module).__version__
        except Exception:
            versions[name] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "platform": platform.platform(),
        "threads_per_library": threads,
        "versions": versions,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                if os.environ.get(k)},
    }


def _parse(argv):
    """The command line, checked; shapes, dtypes, rounds and libraries filled in."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: tiny and small shapes, one round, short timings")
    parser.add_argument("--gpu", action="store_true",
                        help="time the CuPy backend against torch CUDA and JAX (needs a GPU)")
    parser.add_argument("--budget", type=float, default=None,
                        help="--gpu: seconds of timed calls per cell and round "
                             "(default 1.0, 0.15 with --quick)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of every library (default 5, 1 with --quick)")
    parser.add_argument("--threads", type=int, default=1, help="threads per library (default 1)")
    parser.add_argument("--shapes", default=None,
                        help=f"comma-separated subset of {','.join(SHAPES)}")
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--libs", default=None, help=f"comma-separated subset of {LIBS}")
    parser.add_argument("--no-polyreg", action="store_true", help="skip the polyreg experiment")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument("--output", default=None,
                        help="JSON file to write (default benchmarks/results.json, or "
                             "results-gpu.json with --gpu; none with --quick unless given)")
    parser.add_argument("--label", default="", help="a note stored in the JSON (e.g. 'before')")
    parser.add_argument("--show", metavar="JSON", default=None,
                        help="print the tables of a stored CPU run (e.g. "
                             "benchmarks/results.json) and time nothing")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker or args.show:
        return args
    shapes = (args.shapes.split(",") if args.shapes
              else (QUICK_SHAPES if args.quick else list(SHAPES)))
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {list(SHAPES)}")
    args.shapes = ",".join(shapes)
    args.shape_list, args.dtype_list = shapes, args.dtypes.split(",")
    args.rounds = args.rounds or (1 if args.quick else 5)
    args.lib_list = args.libs.split(",") if args.libs else list(GPU_LIBS if args.gpu else LIBS)
    return args



def _rounds(args, libs, skipped, env):
    """Every library in its own process, ``args.rounds`` times in rotating order: (the best
    cell of each library, every round's results, the thread pools each library saw)."""
    all_rounds, best, pools = [], {}, {}
    for r in range(args.rounds):
        order = libs[r % len(libs):] + libs[: r % len(libs)]
        this_round = {}
        for lib in order:
            if lib in skipped:
                continue
            t0 = time.perf_counter()
            try:
                res = _run_worker(lib, args, env)
            except RuntimeError as err:  # report it and go on with the other libraries
                skipped[lib] = str(err).splitlines()[-1]
                print(f"  {lib} failed, skipped from now on: {skipped[lib]}")
                continue
            this_round[lib] = res["cells"]
            pools[lib] = {"threadpools": res["threadpools"]}
            if "torch_threads" in res:
                pools[lib]["torch_threads"] = res["torch_threads"]
            for key, cell in res["cells"].items():
                if key not in best.setdefault(lib, {}) or \
                        cell["seconds"] < best[lib][key]["seconds"]:
                    best[lib][key] = dict(cell, round=r)
            print(f"  round {r + 1}/{args.rounds}: {lib:<10} {time.perf_counter() - t0:6.1f} s",
                  flush=True)
        all_rounds.append({"order": order, "results": this_round})
    return best, all_rounds, pools


def _blas_notes(machine, best, pools) -> None:
    blas = next((p for p in pools.get("floor", pools.get("backprop", {}))
                 .get("threadpools", []) if p["user_api"] == "blas"), None)
    if blas:
        machine["numpy_blas"] = blas
        print(f"NumPy BLAS: {blas['internal_api']} {blas['version']} ({blas['architecture']}), "
              f"{blas['num_threads']} thread(s)")
    if "torch" in best:
        torch_blas = next(iter(best["torch"].values())).get("torch_blas")
        machine["torch_blas"] = torch_blas
        print(f"torch: {machine['versions']['torch']}, {torch_blas}, "
              f"{pools['torch'].get('torch_threads')} thread(s)")


def _polyreg_best(args, env, targets) -> dict:
    """The polyreg run (twice unless --quick), best times kept, its target appended."""
    poly = [_run_worker("polyreg", args, env)["polyreg"] for _ in range(1 if args.quick else 2)]
    best_poly = min(poly, key=lambda d: d["lean_loop_seconds"])
    best_poly["algorithm2_seconds_extrapolated"] = min(
        d["algorithm2_seconds_extrapolated"] for d in poly)
    best_poly["speedup_lean_loop_vs_algorithm2"] = (
        best_poly["algorithm2_seconds_extrapolated"] / best_poly["lean_loop_seconds"])
    best_poly["fit_seconds"] = min(d["fit_seconds"] for d in poly)
    best_poly["speedup_fit_vs_algorithm2"] = (
        best_poly["algorithm2_seconds_extrapolated"] / best_poly["fit_seconds"])
    for key in ("gradient_loop_seconds", "lean_loop_seconds"):
        best_poly[key] = min(d[key] for d in poly)
    best_poly["runs"] = len(poly)
    speedup = best_poly["speedup_fit_vs_algorithm2"]
    targets.append({"cell": "polyreg", "ratio": "algorithm2/fit", "value": speedup,
                    "limit": POLYREG_TARGET, "met": speedup >= POLYREG_TARGET})
    beyond = (best_poly["fit_seconds"] - best_poly["gradient_loop_seconds"]) / best_poly[
        "iterations"]
    best_poly["fit_seconds_per_step_beyond_gradient"] = beyond
    targets.append({"cell": "polyreg", "ratio": "fit - gradient (s/step)", "value": beyond,
                    "limit": FIT_LOOP_TARGET, "met": beyond <= FIT_LOOP_TARGET})
    return best_poly


def _polyreg_jax_best(args, env) -> dict | None:
    """The JAX polyreg run in its own process (twice unless --quick), best times kept."""
    if _available("polyreg_jax"):
        return None
    runs = [_run_worker("polyreg_jax", args, env)["polyreg"]
            for _ in range(1 if args.quick else 2)]
    best = dict(runs[0])
    for key in ("step_loop_seconds", "scan_seconds", "step_compile_seconds",
                "scan_compile_seconds"):
        best[key] = min(d[key] for d in runs)
    best["runs"] = len(runs)
    return best


def _cpu_results(args, env, results, all_rounds) -> None:
    """The CPU tables, ratios and targets, then polyreg and memory, into ``results``."""
    shapes, dtypes, best = args.shape_list, args.dtype_list, results["best"]
    ratios, targets, table = summarise(best, shapes, dtypes)
    paired, paired_targets, paired_table = summarise_paired(all_rounds, shapes, dtypes)
    print(table)
    print(paired_table)
    targets += paired_targets
    results.update(ratios=ratios, ratios_same_process=paired, targets=targets,
                   table=table, table_same_process=paired_table)
    if not args.no_polyreg:
        results["polyreg"] = _polyreg_best(args, env, targets)
        if "jax" in args.lib_list:
            results["polyreg_jax"] = _polyreg_jax_best(args, env)
    if not args.no_memory and "large" in shapes:
        results["memory"] = _run_worker("memory", args, env)["memory"]
    report(results, tables=False)


def main(argv=None) -> int:
    args = _parse(argv)
    if args.worker:
        worker(args)
        return 0
    if args.show:
        report(json.loads(Path(args.show).read_text()))
        return 0
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(args.threads)
    machine = _machine(args.threads)
    libs, skipped = [], {}
    for lib in args.lib_list:
        reason = _available(lib)
        if reason:
            skipped[lib] = reason
        else:
            libs.append(lib)
    if args.gpu and not libs:
        print("--gpu: nothing to run here:", "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        return 1
    print(f"CPU: {machine['cpu']} ({machine['usable_cpus']} usable), threads per library: "
          f"{args.threads}; {args.rounds} round(s); shapes {args.shape_list}; "
          f"dtypes {args.dtype_list}")
    for lib, reason in skipped.items():
        print(f"  skipped {lib}: {reason}")
    best, all_rounds, pools = _rounds(args, libs, skipped, env)
    if args.gpu and not best:  # nothing was timed: no file that looks like a result
        print("--gpu: every library failed:", "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        return 1
    results = {
        "label": args.label, "date": time.strftime("%Y-%m-%d %H:%M"), "machine": machine,
        "settings": {"rounds": args.rounds, "quick": args.quick,
                     "shapes": {s: SHAPES[s] for s in args.shape_list},
                     "dtypes": args.dtype_list, "libraries": libs, "skipped": skipped,
                     "algorithm2_examples_timed": ALG2_EXAMPLES_QUICK if args.quick
                     else ALG2_EXAMPLES, "gpu": args.gpu, "budget": args.budget},
        "threadpools": pools, "best": best, "rounds": all_rounds,
    }
    _blas_notes(machine, best, pools)
    if args.gpu:
        results["table"] = gpu_table(best, args.shape_list, args.dtype_list)
        print(results["table"])
    else:
        _cpu_results(args, env, results, all_rounds)
    # A GPU run never overwrites the stored CPU results (the book reads both files).
    default = "results-gpu.json" if args.gpu else "results.json"
    save(results, args.output, args.quick, HERE / default)
    return 0


if __name__ == "__main__":
    sys.exit(main())
