"""The benchmark's tables: ratios between the stored times, the target checks, and the
printed report of a run (also ``run.py --show results.json``)."""

from __future__ import annotations

import statistics

from libraries import GPU_LIBS, LIBS

# Targets of the performance issue: (max ratio to the floor, max ratio to torch).
# (issue 30; the first targets, of the issue before it, were 4.5/0.25, 1.7/0.45, 1.12/1.0, 1.12/1.0)
TARGETS = {
    "tiny": (2.5, 0.12),
    "small": (1.3, 0.35),
    "medium": (1.05, 0.95),
    "large": (1.05, 1.0),
}
POLYREG_TARGET = 30.0  # algorithm2 / bp.fit on the course's polyreg run, at least
FIT_LOOP_TARGET = 3e-6  # bp.fit's seconds per step beyond the gradient's, at most


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def ratio(a, b):
    return None if a is None or b is None else a / b


def _tabulate(shapes: list, dtypes: list, note: str, head: str, cell, method: str):
    """One table per dtype: ``cell(key)`` gives a cell's ratios and its row after the
    shape; each cell's backprop/floor and backprop/torch are checked against TARGETS."""
    ratios: dict = {}
    targets: list = []
    lines = []
    for dtype in dtypes:
        lines += [f"\n{dtype}  ({note})", head, "-" * len(head)]
        for shape in shapes:
            key = f"{shape}/{dtype}"
            ratios[key], row = cell(key)
            lines.append(f"{shape:<7} {row}")
            limits = zip(("backprop/floor", "backprop/torch"), TARGETS[shape], strict=True)
            for what, limit in limits:
                value = ratios[key][what]
                targets.append({"cell": key, "ratio": what, "method": method,
                                "value": value, "limit": limit,
                                "met": None if value is None else value <= limit})
    return ratios, targets, "\n".join(lines)


def summarise(best: dict, shapes: list, dtypes: list) -> tuple[dict, list, str]:
    """Ratios between best times, the target checks, and the printed table."""
    head = (f"{'shape':<7} {'floor':>10} {'backprop':>10} {'/floor':>7} {'/torch':>7} "
            f"{'/jax':>7} {'internal':>10} {'/floor':>7} {'torch':>10} {'/floor':>7} "
            f"{'jax':>10} {'/floor':>7} {'sklearn':>10} {'/torch':>7} {'algorithm2':>10} "
            f"{'/backprop':>9}")

    def cell(key):
        t = {lib: best.get(lib, {}).get(key, {}).get("seconds") for lib in LIBS}
        r = {
            "backprop/floor": ratio(t["backprop"], t["floor"]),
            "backprop/torch": ratio(t["backprop"], t["torch"]),
            "internal/floor": ratio(t["internal"], t["floor"]),
            "torch/floor": ratio(t["torch"], t["floor"]),
            "backprop/jax": ratio(t["backprop"], t["jax"]),
            "jax/floor": ratio(t["jax"], t["floor"]),
            "sklearn/torch": ratio(t["sklearn"], t["torch"]),
            "sklearn/floor": ratio(t["sklearn"], t["floor"]),
            "algorithm2/backprop": ratio(t["algorithm2"], t["backprop"]),
        }
        return r, (
            f"{fmt_time(t['floor']):>10} {fmt_time(t['backprop']):>10} "
            f"{fmt_ratio(r['backprop/floor']):>7} {fmt_ratio(r['backprop/torch']):>7} "
            f"{fmt_ratio(r['backprop/jax']):>7} "
            f"{fmt_time(t['internal']):>10} {fmt_ratio(r['internal/floor']):>7} "
            f"{fmt_time(t['torch']):>10} {fmt_ratio(r['torch/floor']):>7} "
            f"{fmt_time(t['jax']):>10} {fmt_ratio(r['jax/floor']):>7} "
            f"{fmt_time(t['sklearn']):>10} {fmt_ratio(r['sklearn/torch']):>7} "
            f"{fmt_time(t['algorithm2']):>10} {fmt_ratio(r['algorithm2/backprop']):>9}"
        )

    return _tabulate(shapes, dtypes, "best round's median per call; ratios are time / time",
                     head, cell, "best rounds")


def _paired(all_rounds: list, lib: str, key: str):
    """Median over rounds of (time of lib) / (floor timed in alternating blocks with it)."""
    values = []
    for rnd in all_rounds:
        cell = rnd["results"].get(lib, {}).get(key)
        if cell and cell.get("floor_seconds_same_process"):
            values.append(cell["seconds"] / cell["floor_seconds_same_process"])
    return statistics.median(values) if values else None


def summarise_paired(all_rounds: list, shapes: list, dtypes: list) -> tuple[dict, list, str]:
    """Same-process ratios: each library against the floor timed beside it."""
    head = (f"{'shape':<7} {'backprop':>9} {'internal':>9} {'torch':>9} {'jax':>9} "
            f"{'sklearn':>9} {'backprop/torch':>15} {'backprop/jax':>13}")

    def cell(key):
        r = {f"{lib}/floor": _paired(all_rounds, lib, key)
             for lib in ("backprop", "internal", "torch", "jax", "sklearn")}
        r["backprop/torch"] = ratio(r["backprop/floor"], r["torch/floor"])
        r["backprop/jax"] = ratio(r["backprop/floor"], r["jax/floor"])
        return r, (
            f"{fmt_ratio(r['backprop/floor']):>9} "
            f"{fmt_ratio(r['internal/floor']):>9} {fmt_ratio(r['torch/floor']):>9} "
            f"{fmt_ratio(r['jax/floor']):>9} "
            f"{fmt_ratio(r['sklearn/floor']):>9} {fmt_ratio(r['backprop/torch']):>15} "
            f"{fmt_ratio(r['backprop/jax']):>13}"
        )

    return _tabulate(shapes, dtypes, "same-process ratios to the floor, median over rounds",
                     head, cell, "same process")


def gpu_table(best: dict, shapes: list, dtypes: list) -> str:
    lines = [f"{'cell':<16} {'floor':>10} {'cupy':>10} {'/floor':>7} {'torch_cuda':>10} "
             f"{'cupy/torch':>10} {'jax_gpu':>10} {'cupy/jax':>9} {'bp on torch':>11} "
             f"{'/torch':>7}"]
    for dtype in dtypes:
        for shape in shapes:
            key = f"{shape}/{dtype}"
            t = {lib: best.get(lib, {}).get(key, {}).get("seconds") for lib in GPU_LIBS}
            lines.append(
                f"{key:<16} {fmt_time(t['gpu_floor']):>10} {fmt_time(t['cupy']):>10} "
                f"{fmt_ratio(ratio(t['cupy'], t['gpu_floor'])):>7} "
                f"{fmt_time(t['torch_cuda']):>10} "
                f"{fmt_ratio(ratio(t['cupy'], t['torch_cuda'])):>10} "
                f"{fmt_time(t['jax_gpu']):>10} {fmt_ratio(ratio(t['cupy'], t['jax_gpu'])):>9} "
                f"{fmt_time(t['backprop_torch']):>11} "
                f"{fmt_ratio(ratio(t['backprop_torch'], t['torch_cuda'])):>7}"
            )
    return "\n".join(lines)


def _report_polyreg(p: dict, pj: dict | None) -> None:
    iters = p["iterations"]
    print(f"\npolyreg, [1, 20, 20, 1], {iters} SGD steps of batch "
          f"{p['batch']} (best of {p.get('runs', 2)} run(s)):")
    print(f"  lean loop (net.batch_loss_and_gradient): {fmt_time(p['lean_loop_seconds'])}"
          + ("" if p["lean_loop_iterations_timed"] == iters else
             f" (extrapolated from {p['lean_loop_iterations_timed']} steps)"))
    print(f"  bp.fit:                             {fmt_time(p['fit_seconds'])}")
    print(f"  bp.algorithm2 each step:            "
          f"{fmt_time(p['algorithm2_seconds_extrapolated'])} (extrapolated from "
          f"{p['algorithm2_iterations_timed']} steps)")
    print(f"  speed-up lean loop: {p['speedup_lean_loop_vs_algorithm2']:.0f}x, "
          f"bp.fit: {p['speedup_fit_vs_algorithm2']:.0f}x "
          f"(target >= {POLYREG_TARGET:.0f}x)")
    if "gradient_loop_seconds" in p:
        fit_step, grad_step = p["fit_seconds"] / iters, p["gradient_loop_seconds"] / iters
        print(f"  per step: bp.fit {fmt_time(fit_step)}, the gradient alone "
              f"{fmt_time(grad_step)}, fit beyond the gradient {fmt_time(fit_step - grad_step)}"
              f" (target <= {fmt_time(FIT_LOOP_TARGET)})")
    if pj:
        print(f"  JAX {pj['jax']}, float64: jitted SGD step in a Python loop "
              f"{fmt_time(pj['step_loop_seconds'])} "
              f"(compile {fmt_time(pj['step_compile_seconds'])}), the whole run as one "
              f"lax.scan {fmt_time(pj['scan_seconds'])} (compile "
              f"{fmt_time(pj['scan_compile_seconds'])}); bp.fit / scan "
              f"{p['fit_seconds'] / pj['scan_seconds']:.2f}")


def report(results: dict, tables: bool = True) -> None:
    """Print a CPU run's tables, polyreg times, memory and unmet targets from its results."""
    if tables:
        print(f"{results['label'] or 'run'} of {results['date']}, {results['machine']['cpu']}, "
              f"{results['machine']['threads_per_library']} thread(s) per library")
        print(results["table"])
        print(results["table_same_process"])
    p = results.get("polyreg")
    if p:
        _report_polyreg(p, results.get("polyreg_jax"))
    for key, cell in results.get("best", {}).get("jax", {}).items():
        if cell.get("compile_seconds") is not None:
            print(f"  jax compile (first call, tracing and XLA) {key}: "
                  f"{fmt_time(cell['compile_seconds'])}")
    if results.get("memory"):
        print("\nmemory of net.gradient on large (tracemalloc; MiB):")
        mib = 1 << 20
        for dtype, m in results["memory"].items():
            print(f"  {dtype}: activations {m['activations_bytes'] / mib:.1f}, "
                  f"gradient {m['grad_bytes'] / mib:.1f}; peak extra: first call "
                  f"{m['first_call_peak_extra_bytes'] / mib:.1f}, second call "
                  f"{m['second_call_peak_extra_bytes'] / mib:.1f}; retained after a call "
                  f"{m['second_call_retained_bytes'] / mib:.1f}")
    met = [t for t in results["targets"] if t["met"] is not None]
    print(f"\ntargets met: {sum(t['met'] for t in met)} of {len(met)}")
    for t in met:
        if not t["met"]:
            how = f" [{t['method']}]" if "method" in t else ""
            print(f"  unmet: {t['cell']} {t['ratio']} = {t['value']:.3g} "
                  f"(limit {t['limit']}){how}")
