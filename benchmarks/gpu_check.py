"""The whole GPU check in one command, for a lent GPU machine that reaches no network.

Run it there with the image's python3 from the repository root (benchmarks/README.md gives
the exact call of the device tool), after ``make gpu-wheels`` here has put the carried wheels
into ``.whl/``::

    python3 benchmarks/gpu_check.py

Stages, each timed in the log:

  environment  Python, the GPU the driver reports (nvidia-smi -L)
  wheels       the wheels of gpu-wheels.txt installed from .whl/ with pip's index off
               (--no-index, PIP_NO_INDEX=1, no pip configuration) into a temporary folder
               that goes on PYTHONPATH after this source tree, which is the package
  gpu          which CuPy build is installed (cupy-cuda12x or cupy-cuda13x: either will do)
               and the gate, cupy.is_available(); torch's and JAX's view of the device
  tests        every CuPy test: pytest -m gpu, with a per-test time limit where
               pytest-timeout is installed, in several processes where pytest-xdist is
  benchmark    only with a GPU: run.py --gpu, the four shapes in float64 and float32,
               CuPy against torch CUDA autograd and JAX jit(value_and_grad), each synchronised

What it writes into the output folder ($OUT when set, else benchmarks/gpu-check/):
gpu-check.log, gpu-check.json (every stage's time and result), pytest-gpu.xml and, with a GPU,
results-gpu.json (also copied to benchmarks/results-gpu.json).

Exit status:
  0  a GPU was found, every CuPy test passed, the timings were written
  3  no usable GPU ("no GPU found" in the log): every CuPy test was collected and skipped,
     none failed or erred, nothing was timed. The CPU dry run (tests/test_gpu_check.py)
     expects this.
  1  a stage failed or ran out of time (the log says which)
  2  the carried wheels are missing or are not exactly the pinned ones (run make gpu-wheels)

``--emulate-image`` is for the CPU dry run only: the tests then cannot import any installed
distribution that the GPU image lacks (gpu-image-packages.txt, via gpu_image_guard.py).
``--installed`` skips the wheels (``make bench-gpu``: a networked machine with everything
installed). ``--download-wheels`` is ``make gpu-wheels``: it fetches the wheels and prints
the size of what would travel.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WHEEL_LIST = HERE / "gpu-wheels.txt"
IMAGE_LIST = HERE / "gpu-image-packages.txt"
# The device tool's limit on the working tree plus carried paths, per call.
TRAVEL_LIMIT = 64 * 2**20
# The CuPy cases' skip reason (tests/conftest.py): the only skip a GPU-less run may show.
CUPY_REASON = "CuPy with a CUDA device is not available (bp.cupy_available() is False)"
# Test modules with no CuPy case that import, at module level, what the image lacks (bs4,
# dask, nbclient, jupyterlab) or need a built book; tests/test_gpu_check.py checks that they
# hold no gpu-marked test, and the dry run that every other module collects on the image.
IGNORED_TESTS = ("tests/test_book_html.py", "tests/test_explorables_html.py",
                 "tests/test_reader_install.py",
                 "tests/test_pdf.py", "tests/test_distributed.py",
                 "tests/test_hostile_part4.py", "tests/test_lab.py")
# pip download's target: the lent image's Python (README of the device tool).
DOWNLOAD_FLAGS = ("--no-deps", "--only-binary=:all:", "--python-version", "3.12",
                  "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                  "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64")
EXIT_OK, EXIT_FAILED, EXIT_WHEELS, EXIT_NO_GPU = 0, 1, 2, 3


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_wheels() -> dict[str, str]:
    """gpu-wheels.txt as {normalised name: version}."""
    pins = {}
    for line in WHEEL_LIST.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[normalise(name)] = version
    return pins


def wheel_problems(folder: Path) -> list[str]:
    """Why the wheels in ``folder`` are not one file per pinned version ([] when they are)."""
    pins = pinned_wheels()
    found: dict[str, list[str]] = {}
    for whl in sorted(folder.glob("*.whl")):
        name, version = whl.name.split("-")[:2]
        found.setdefault(normalise(name), []).append(version)
    problems = [f"{name}: {len(vs)} versions ({', '.join(vs)}); keep one"
                for name, vs in found.items() if len(vs) > 1]
    problems += [f"{name}=={v} is missing" for name, v in pins.items()
                 if v not in found.get(name, [])]
    problems += [f"{name} is not in gpu-wheels.txt" for name in found if name not in pins]
    return problems


def download_wheels(folder: Path, python: str = sys.executable) -> None:
    """Fetch the pinned wheels for the image's Python 3.12 into ``folder``, one version each."""
    folder.mkdir(parents=True, exist_ok=True)
    for whl in folder.glob("*.whl"):  # an older pin left behind would make two versions
        name, version = whl.name.split("-")[:2]
        if pinned_wheels().get(normalise(name)) != version:
            whl.unlink()
    subprocess.run([python, "-m", "pip", "download", "-q", *DOWNLOAD_FLAGS, "-d", str(folder),
                    "-r", str(WHEEL_LIST)], check=True)


def travelling_bytes(repo: Path, wheels: Path) -> int:
    """What a device call sends: tracked and untracked-not-ignored files, plus the wheels."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=repo, capture_output=True, check=True).stdout.split(b"\0")
    total = 0
    for name in filter(None, names):
        path = repo / os.fsdecode(name)
        if os.path.lexists(path):  # a deleted tracked file is listed but does not travel
            total += path.lstat().st_size
    return total + sum(w.stat().st_size for w in wheels.glob("*.whl"))


class Log:
    """Lines to stdout and to gpu-check.log; stage times and results to gpu-check.json."""

    def __init__(self, out: Path):
        self.out = out
        self.file = open(out / "gpu-check.log", "w", encoding="utf-8")  # noqa: SIM115
        self.summary: dict = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "stages": {}}
        self.t0 = time.perf_counter()

    def __call__(self, *parts) -> None:
        line = " ".join(str(p) for p in parts)
        print(line, flush=True)
        self.file.write(line + "\n")
        self.file.flush()

    def stage(self, name: str, seconds: float, **result) -> None:
        self.summary["stages"][name] = {"seconds": round(seconds, 2), **result}
        self(f"[{name}] {seconds:.1f} s; {json.dumps(result, default=str)[:600]}")
        self.save()  # after every stage: a run stopped from outside keeps what it found

    def save(self) -> None:
        self.summary["total_seconds"] = round(time.perf_counter() - self.t0, 1)
        (self.out / "gpu-check.json").write_text(json.dumps(self.summary, indent=1) + "\n")

    def finish(self, status: int, verdict: str) -> int:
        self.summary.update(exit_status=status, verdict=verdict)
        self.save()
        self(f"{verdict} (exit status {status}, {self.summary['total_seconds']} s in all)")
        self.file.close()
        return status


def run(log: Log, cmd: list[str], env: dict, limit: float) -> tuple[int | None, str]:
    """Run ``cmd``, its output into the log line by line (so a run killed from outside still
    leaves it there); (exit status, or None when it ran past ``limit`` seconds; output)."""
    log("$", " ".join(a if len(a) < 200 else a.strip().splitlines()[0] + " ..." for a in cmd))
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace",
                            start_new_session=True)
    killed = []

    def kill():  # the whole group: pytest-xdist's workers too
        killed.append(True)
        os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(limit, kill)
    timer.start()
    lines = []
    for line in proc.stdout:
        lines.append(line)
        log(line.rstrip("\n"))
    proc.wait()
    timer.cancel()
    if killed:
        log(f"stopped after {limit:.0f} s")
        return None, "".join(lines)
    return proc.returncode, "".join(lines)


# One child process asks every library about the device, so that this one never opens it.
GPU_PROBE = r"""
import importlib.metadata as md, importlib.util, json
info = {"cupy_distributions": {}}
for dist in ("cupy-cuda13x", "cupy-cuda12x", "cupy"):
    try:
        info["cupy_distributions"][dist] = md.version(dist)
    except md.PackageNotFoundError:
        pass
try:
    import cupy
    info["cupy"] = cupy.__version__
    if cupy.is_available():
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        info["device"] = name.decode() if isinstance(name, bytes) else str(name)
        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        info["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
        info["sum_of_squares_0_1_2"] = int((cupy.arange(3) ** 2).sum())
    else:
        info["reason"] = "cupy.is_available() is False"
except Exception as err:
    info["reason"] = f"CuPy is not usable: {type(err).__name__}: {err}"
import backprop as bp
info["bp.cupy_available"] = bp.cupy_available()
for mod in ("array_api_compat", "array_api_strict", "autograd", "numpy", "backprop"):
    m = __import__(mod)
    info[mod] = f"{getattr(m, '__version__', '?')} from {m.__file__}"
try:
    import torch
    info["torch"] = (f"{torch.__version__}, CUDA {torch.version.cuda}, "
                     f"cuda.is_available() {torch.cuda.is_available()}")
except Exception as err:
    info["torch"] = f"not usable: {err}"
try:
    import jax
    info["jax"] = f"{jax.__version__}, devices {[str(d) for d in jax.devices()]}"
except Exception as err:
    info["jax"] = f"not usable: {err}"
info["plugins"] = {m: importlib.util.find_spec(m) is not None for m in ("pytest_timeout", "xdist")}
print("GPU_PROBE " + json.dumps(info))
"""


def parse_junit(path: Path) -> dict:
    """Counts of a pytest junit file, and how often each skip reason was given."""
    counts: Counter = Counter()
    reasons: Counter = Counter()
    for case in ET.parse(path).iter("testcase"):
        outcome = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")),
                       "passed")
        counts[outcome] += 1
        if outcome == "skipped":
            reasons[next(c for c in case if c.tag == "skipped").get("message", "")] += 1
    return {"collected": sum(counts.values()), "passed": counts["passed"],
            "failed": counts["failure"], "errors": counts["error"],
            "skipped": counts["skipped"], "skip_reasons": dict(reasons)}


def _stage_wheels(log, args, env) -> Path | int:
    """The carried wheels into a fresh folder (put on env's PYTHONPATH), or an exit status."""
    t = time.perf_counter()
    problems = wheel_problems(args.wheels)
    if problems:
        log.stage("wheels", time.perf_counter() - t, folder=str(args.wheels), problems=problems)
        return log.finish(EXIT_WHEELS, f"the wheels in {args.wheels} are not ready: "
                          "run make gpu-wheels where pip reaches the index")
    site = args.tmp / "site"
    # No index and no pip configuration: whatever is not in the wheels cannot be fetched.
    pip_env = dict(env, PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull,
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
    status, _ = run(log, [args.python, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                          "--no-compile", "--no-cache-dir", "--upgrade", "--target", str(site),
                          *map(str, sorted(args.wheels.glob("*.whl")))], pip_env, 30)
    installed = sorted(p.name for p in site.glob("*.dist-info"))
    log.stage("wheels", time.perf_counter() - t, site=str(site), installed=installed,
              pip_exit=status)
    if status != 0 or len(installed) != len(pinned_wheels()):
        return log.finish(EXIT_FAILED, "the carried wheels did not install")
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(site)])
    return site


def _stage_gpu(log, args, env, site) -> dict | None:
    """The probe's findings, or None when it failed or found packages outside the wheels."""
    t = time.perf_counter()
    status, text = run(log, [args.python, "-c", GPU_PROBE], env, 60)
    found = re.findall(r"^GPU_PROBE (.*)$", text, re.M)
    probe = json.loads(found[-1]) if found else {}
    if site is not None and probe:
        probe["from_carried_wheels"] = all(
            f"from {site}" in probe[m] for m in ("array_api_compat", "array_api_strict",
                                                 "autograd"))
    log.stage("gpu", time.perf_counter() - t, probe_exit=status, **probe)
    if status != 0 or not probe or probe.get("from_carried_wheels") is False:
        log("the probe failed, or imported a carried package from elsewhere")
        return None
    if len(probe["cupy_distributions"]) > 1:
        log(f"warning: more than one CuPy build is installed: {probe['cupy_distributions']}")
    return probe


def _stage_tests(log, args, env, probe) -> dict | None:
    """Every gpu-marked test; the junit counts, or None when pytest did not finish."""
    t = time.perf_counter()
    xml = args.out / "pytest-gpu.xml"
    xml.unlink(missing_ok=True)
    cmd = [args.python, "-m", "pytest", "tests", "-m", "gpu", "-q", "-p", "no:cacheprovider",
           "-p", "no:nbval", "-p", "no:randomly", f"--junitxml={xml}",
           *(f"--ignore={m}" for m in IGNORED_TESTS)]
    if args.emulate_image:
        allowed = args.tmp / "gpu-image-allowed.txt"
        allowed.write_text(IMAGE_LIST.read_text() + "\n".join(pinned_wheels()) + "\n")
        env = dict(env, GPU_IMAGE_ALLOWED=str(allowed))
        cmd += ["-p", "benchmarks.gpu_image_guard"]
    if probe["plugins"]["pytest_timeout"]:
        cmd.append(f"--timeout={args.test_timeout}")
    if probe["plugins"]["xdist"] and args.workers > 1:
        cmd += ["-n", str(args.workers)]
    status, _ = run(log, cmd, env, args.tests_limit)
    result = dict(parse_junit(xml), pytest_exit=status) if xml.exists() else None
    log.stage("tests", time.perf_counter() - t, **(result or {"pytest_exit": status}))
    return result if status is not None else None


def _stage_benchmark(log, args, env) -> bool:
    t = time.perf_counter()
    json_out = args.out / "results-gpu.json"
    status, _ = run(log, [args.python, "benchmarks/run.py", "--gpu", "--rounds", str(args.rounds),
                          "--budget", str(args.budget), "--label", "gpu_check.py",
                          "--output", str(json_out)], env, args.bench_limit)
    cells = {}
    if status == 0 and json_out.exists():
        cells = {lib: len(c) for lib, c in json.loads(json_out.read_text())["best"].items()}
    # the package's own cells are the point: without all of them the run did not do its job
    written = cells.get("cupy") == 8
    if written:
        shutil.copyfile(json_out, HERE / "results-gpu.json")
    log.stage("benchmark", time.perf_counter() - t, run_exit=status, cells_per_library=cells,
              written=written)
    return written


def check(args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    log = Log(args.out)
    t = time.perf_counter()
    smi = shutil.which("nvidia-smi")
    try:
        gpus = (subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
                .stdout.strip() if smi else "no nvidia-smi on the PATH")
    except subprocess.TimeoutExpired:
        gpus = "nvidia-smi -L did not answer in 30 s"
    log.stage("environment", time.perf_counter() - t, python=platform.python_version(),
              executable=args.python, platform=platform.platform(), nvidia_smi=gpus,
              out=str(args.out), emulate_image=args.emulate_image)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1",
               # each JAX process would otherwise take 75% of the GPU's memory at its start
               XLA_PYTHON_CLIENT_PREALLOCATE="false")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    site = None
    if not args.installed:
        site = _stage_wheels(log, args, env)
        if isinstance(site, int):
            return site
    probe = _stage_gpu(log, args, env, site)
    if probe is None:
        return log.finish(EXIT_FAILED, "GPU check FAILED at the probe")
    gpu = probe["bp.cupy_available"]
    if not gpu:
        log(f"no GPU found: {probe.get('reason')}; the CuPy tests run only to show that each "
            "is collected and skipped")
    tests = _stage_tests(log, args, env, probe)
    clean = (tests is not None and tests["pytest_exit"] == 0 and tests["failed"] == 0
             and tests["errors"] == 0 and tests["collected"] > 0)
    if not gpu:
        if clean and tests["skip_reasons"] == {CUPY_REASON: tests["collected"]}:
            return log.finish(EXIT_NO_GPU, f"no GPU found: all {tests['collected']} CuPy tests "
                              "were collected and skipped, none failed or erred; nothing timed")
        return log.finish(EXIT_FAILED, "no GPU found, and the CuPy tests did not skip cleanly")
    if not clean:  # a failing test and a timing are each worth the GPU's minutes
        log("the CuPy tests FAILED or did not finish; the timings run all the same")
    benched = _stage_benchmark(log, args, env)
    if clean and benched:
        return log.finish(EXIT_OK, f"GPU check passed: {tests['passed']} CuPy tests passed, "
                          f"{tests['skipped']} skipped; results-gpu.json written")
    return log.finish(EXIT_FAILED, "GPU check FAILED (the tests or the benchmark; see above)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheels", type=Path, default=REPO / ".whl",
                        help="the carried wheels (default: .whl in the repository root)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: $OUT when set, else benchmarks/gpu-check)")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs it all")
    parser.add_argument("--installed", action="store_true",
                        help="use what is installed; no carried wheels (make bench-gpu)")
    parser.add_argument("--emulate-image", action="store_true",
                        help="CPU dry run: the tests may import only what the GPU image has")
    parser.add_argument("--download-wheels", action="store_true",
                        help="fetch the wheels of gpu-wheels.txt into --wheels, print the size")
    parser.add_argument("--test-timeout", type=int, default=120, help="seconds per test")
    # 30 + 60 + 270 + 150 s: the stages' limits leave the device call's 540 s a margin
    parser.add_argument("--tests-limit", type=float, default=270, help="seconds for all tests")
    parser.add_argument("--workers", type=int, default=4, help="pytest-xdist processes")
    parser.add_argument("--bench-limit", type=float, default=150,
                        help="seconds for the benchmark")
    parser.add_argument("--rounds", type=int, default=2, help="benchmark rounds")
    parser.add_argument("--budget", type=float, default=0.4,
                        help="benchmark seconds per cell and round")
    args = parser.parse_args(argv)
    args.wheels = args.wheels.resolve()
    if args.download_wheels:
        download_wheels(args.wheels, args.python)
        problems = wheel_problems(args.wheels)
        size = travelling_bytes(REPO, args.wheels)
        print(f"{args.wheels}: {', '.join(w.name for w in sorted(args.wheels.glob('*.whl')))}")
        print(f"what a device call with carry ['.whl'] sends: {size / 2**20:.1f} MiB "
              f"(limit {TRAVEL_LIMIT // 2**20} MiB)")
        return EXIT_WHEELS if problems or size > TRAVEL_LIMIT else EXIT_OK
    args.out = (args.out or Path(os.environ.get("OUT") or HERE / "gpu-check")).resolve()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        args.tmp = Path(tmp)
        return check(args)


if __name__ == "__main__":
    sys.exit(main())
