"""The CPU dry run of the GPU check, benchmarks/gpu_check.py.

A lent GPU machine reaches no network and has a few minutes in all, so the script must work
there the first time. Here, on the CPU, the very same script runs with the network cut off
(a network namespace of its own where ``unshare -rn`` works, and in any case proxies and an
index that do not answer) and with the image's imports emulated (``--emulate-image``): it
must install the carried wheels alone, find no GPU, say so, and show every CuPy test
collected and skipped, with exit status 3. The wheels (``make gpu-wheels``) are downloaded
into .whl/ first when they are missing: the index is reachable where the tests run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
WHEELS = REPO / ".whl"
DEAD = "http://127.0.0.1:9"  # the discard port: nothing answers there


def _load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_check = _load_gpu_check()


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0


OFFLINE_PREFIX = ["unshare", "-rn"] if _unshare_works() else []


def offline_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "OUT"))}
    env.update({var: DEAD for var in ("http_proxy", "https_proxy", "HTTP_PROXY",
                                      "HTTPS_PROXY", "ALL_PROXY", "all_proxy")})
    env.update(PIP_INDEX_URL=DEAD + "/simple", PIP_RETRIES="0", PIP_TIMEOUT="3", **extra)
    return env


@pytest.fixture(scope="module")
def wheels() -> Path:
    if gpu_check.wheel_problems(WHEELS):
        gpu_check.download_wheels(WHEELS)
    assert gpu_check.wheel_problems(WHEELS) == []
    return WHEELS


@pytest.fixture(scope="module")
def dry_run(wheels, tmp_path_factory):
    """The script, offline, as on the image but for the GPU; its output folder comes from OUT,
    as on the lent machine."""
    out = tmp_path_factory.mktemp("gpu-check-out")
    t0 = time.perf_counter()
    proc = subprocess.run([*OFFLINE_PREFIX, sys.executable, "benchmarks/gpu_check.py",
                           "--emulate-image", "--wheels", str(wheels)],
                          cwd=REPO, env=offline_env(OUT=str(out)), capture_output=True, text=True,
                          timeout=300)
    seconds = time.perf_counter() - t0
    summary = json.loads((out / "gpu-check.json").read_text())
    print(f"dry run: exit {proc.returncode} in {seconds:.1f} s, network namespace of its own: "
          f"{bool(OFFLINE_PREFIX)}; {summary['verdict']}")
    return proc, out, summary


def test_the_offline_environment_reaches_no_index(tmp_path):
    """The control: in the dry run's environment pip cannot fetch anything, so the dry run's
    install can only have come from the carried wheels."""
    proc = subprocess.run([*OFFLINE_PREFIX, sys.executable, "-m", "pip", "download", "--no-deps",
                           "-d", str(tmp_path), "autograd==1.9.1"],
                          env=offline_env(PIP_CONFIG_FILE=os.devnull), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0, proc.stdout
    assert list(tmp_path.iterdir()) == []


def test_dry_run_finds_no_gpu_and_exits_3(dry_run):
    proc, out, summary = dry_run
    assert proc.returncode == gpu_check.EXIT_NO_GPU == 3, proc.stdout[-3000:] + proc.stderr
    log = (out / "gpu-check.log").read_text()
    assert "no GPU found" in log
    assert summary["exit_status"] == 3
    assert summary["stages"]["gpu"]["bp.cupy_available"] is False
    assert not (out / "results-gpu.json").exists()
    assert "benchmark" not in summary["stages"]
    assert set(summary["stages"]) == {"environment", "wheels", "gpu", "tests"}
    assert all(stage["seconds"] >= 0 for stage in summary["stages"].values())
    assert summary["total_seconds"] < 120


def test_dry_run_installs_the_carried_wheels_and_nothing_else(dry_run):
    proc, out, summary = dry_run
    wheels = summary["stages"]["wheels"]
    assert wheels["pip_exit"] == 0
    pins = gpu_check.pinned_wheels()
    installed = {}
    for folder in wheels["installed"]:  # e.g. array_api_compat-1.16.0.dist-info
        name, version = folder.removesuffix(".dist-info").rsplit("-", 1)
        installed[gpu_check.normalise(name)] = version
    assert installed == pins
    log = (out / "gpu-check.log").read_text()
    pip_line = next(line for line in log.splitlines() if " pip install " in line)
    assert "--no-index" in pip_line and "--no-deps" in pip_line
    # the package and the tests imported these from the folder the wheels went into
    gpu = summary["stages"]["gpu"]
    assert gpu["from_carried_wheels"] is True
    assert gpu["array_api_compat"].startswith(pins["array-api-compat"] + " from ")
    assert gpu["backprop"].endswith(str(REPO / "backprop" / "__init__.py"))


def test_every_cupy_test_is_collected_and_skipped(dry_run):
    """As many tests as a plain collection of every module here marks gpu, all skipped for
    the one reason, none failing or erring: the modules the script leaves out hold none."""
    proc, out, summary = dry_run
    listed = subprocess.run([sys.executable, "-m", "pytest", "tests", "-m", "gpu", "-q",
                             "--collect-only", "-p", "no:cacheprovider", "-p", "no:nbval"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    found = re.search(r"(\d+)/\d+ tests collected", listed.stdout)
    assert found, listed.stdout[-2000:]
    n_gpu = int(found.group(1))
    assert n_gpu > 300
    tests = summary["stages"]["tests"]
    assert tests["collected"] == tests["skipped"] == n_gpu
    assert tests["failed"] == tests["errors"] == tests["passed"] == 0
    assert tests["skip_reasons"] == {gpu_check.CUPY_REASON: n_gpu}
    assert (out / "pytest-gpu.xml").exists()


def test_the_skip_reason_is_the_conftests():
    conftest = (REPO / "tests" / "conftest.py").read_text()
    assert f'CUPY_REASON = "{gpu_check.CUPY_REASON}"' in conftest


def test_the_image_emulation_refuses_what_the_image_lacks(tmp_path):
    """Without this, a dry run could pass where the image fails: dask is installed here and
    not on the image, so a test module importing it must fail to collect."""
    (tmp_path / "test_needs_dask.py").write_text("import dask\n\ndef test_x():\n    pass\n")
    allowed = tmp_path / "allowed.txt"
    allowed.write_text((REPO / "benchmarks" / "gpu-image-packages.txt").read_text())
    env = dict(os.environ, PYTHONPATH=str(REPO), GPU_IMAGE_ALLOWED=str(allowed))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:nbval", "-p", "benchmarks.gpu_image_guard", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout
    assert "the GPU image lacks the distribution 'dask'" in proc.stdout


def test_missing_wheels_stop_it_with_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--wheels", str(tmp_path),
                           "--out", str(tmp_path / "out")],
                          cwd=REPO, env=offline_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    summary = json.loads((tmp_path / "out" / "gpu-check.json").read_text())
    assert summary["stages"]["wheels"]["problems"] == [
        f"{name}=={version} is missing" for name, version in gpu_check.pinned_wheels().items()]


def test_two_versions_of_one_wheel_are_refused(tmp_path):
    pins = gpu_check.pinned_wheels()
    for name, version in pins.items():
        (tmp_path / f"{name.replace('-', '_')}-{version}-py3-none-any.whl").touch()
    assert gpu_check.wheel_problems(tmp_path) == []
    (tmp_path / "autograd-1.8.0-py3-none-any.whl").touch()
    assert gpu_check.wheel_problems(tmp_path) == [
        f"autograd: 2 versions (1.8.0, {pins['autograd']}); keep one"]


def test_the_wheels_are_what_the_image_lacks_and_what_requirements_allow():
    image = {gpu_check.normalise(line) for line in
             (REPO / "benchmarks" / "gpu-image-packages.txt").read_text().splitlines()
             if line and not line.startswith("#")}
    assert {"cupy-cuda13x", "numpy", "torch", "jax", "pytest", "hypothesis"} <= image
    pins = gpu_check.pinned_wheels()
    assert {"array-api-compat", "array-api-strict", "autograd"} == set(pins)
    assert not set(pins) & image
    wanted = {gpu_check.normalise(Requirement(line).name): Requirement(line).specifier
              for line in (REPO / "requirements.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    for name, version in pins.items():
        assert version in wanted[name], (name, version, wanted[name])


def test_the_travelling_tree_and_wheels_fit_the_device_limit(wheels):
    size = gpu_check.travelling_bytes(REPO, wheels)
    print(f"tree + wheels: {size / 2**20:.1f} MiB of {gpu_check.TRAVEL_LIMIT // 2**20} MiB")
    assert 0 < size < gpu_check.TRAVEL_LIMIT == 64 * 2**20


def test_junit_counts_each_outcome_and_skip_reason(tmp_path):
    xml = tmp_path / "j.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="a" name="ok"/>'
        '<testcase classname="a" name="bad"><failure message="assert 0"/></testcase>'
        '<testcase classname="a" name="boom"><error message="fixture"/></testcase>'
        '<testcase classname="a" name="s1"><skipped message="no GPU"/></testcase>'
        '<testcase classname="a" name="s2"><skipped message="no GPU"/></testcase>'
        '<testcase classname="a" name="s3"><skipped message="other"/></testcase>'
        '</testsuite></testsuites>')
    assert gpu_check.parse_junit(xml) == {
        "collected": 6, "passed": 1, "failed": 1, "errors": 1, "skipped": 3,
        "skip_reasons": {"no GPU": 2, "other": 1}}


def test_a_stage_past_its_limit_is_stopped_and_its_output_kept(tmp_path):
    """On the device a stage that hangs must not eat the call's minutes: it is killed at its
    limit, and what it printed before is in the log."""
    log = gpu_check.Log(tmp_path)
    t0 = time.perf_counter()
    status, text = gpu_check.run(
        log, [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"],
        dict(os.environ), 1.5)
    assert time.perf_counter() - t0 < 20
    assert status is None and text == "started\n"
    log.file.close()
    assert (tmp_path / "gpu-check.log").read_text().splitlines()[1:] == [
        "started", "stopped after 2 s"]
