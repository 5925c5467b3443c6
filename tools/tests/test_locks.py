"""The requirement locks (requirements/*.txt) are exact, hashed and fresh, the environment the tests
run in is its lock, and nothing installs a package the locks do not name."""

from __future__ import annotations

import re
import shutil
from importlib import metadata
from pathlib import Path

from gitops import locks
from gitops.paths import REPO_ROOT

REQUIREMENTS = REPO_ROOT / "requirements"
OWN_PACKAGES = {"classifier", "classifier-modelbuild", "classifier-testkit", "gitops"}
# Everywhere pip runs: make, the image, the workflows, the benchmark scripts, the CI scripts.
INSTALLERS = (
    "Makefile",
    "services/classifier/Dockerfile",
    ".github/workflows/*.yml",
    ".github/e2e/*.sh",
    ".ci/*",
    "cluster/*.sh",
    "benchmarks/*.py",
)
HASH_CHECKING = ("--require-hashes", "$(PIP_INSTALL)")
PIP_INSTALL = re.compile(r"pip install|\"pip\", \"install\"|PIP_INSTALL\)")
# Without dependencies, only this repository's own packages: editable (-e), the wheels the image
# builds of them (/opt/wheels/), or a source tree of the service (compare_revisions.py).
OWN_PACKAGES_ONLY = re.compile(r"--no-deps.*(-e |addprefix -e|/opt/wheels/|services/classifier)", re.DOTALL)


def installs_only_locked_or_own(command: str) -> bool:
    """A pip install (its line and the next) in hash-checking mode, or of this repository's own
    packages without dependencies."""
    return any(mode in command for mode in HASH_CHECKING) or OWN_PACKAGES_ONLY.search(command) is not None


def test_every_lock_is_exact_hashed_and_fresh() -> None:
    assert locks.problems(REQUIREMENTS) == []


def test_a_lock_older_than_its_input_is_stale(tmp_path: Path) -> None:
    folder = shutil.copytree(REQUIREMENTS, tmp_path / "requirements")
    runtime = folder / "runtime.in"
    runtime.write_text(runtime.read_text().replace("uvicorn==0.54.0", "uvicorn==0.53.0"))
    found = locks.problems(folder)
    assert (
        "runtime.txt: stale: runtime.in venv.txt lock.sh changed after it was written; run `make lock`"
        in found
    )
    assert "runtime.txt: uvicorn is 0.54.0, but runtime.in pins 0.53.0; run `make lock`" in found


def test_a_range_an_unhashed_entry_and_an_unlocked_set_are_refused(tmp_path: Path) -> None:
    folder = shutil.copytree(REQUIREMENTS, tmp_path / "requirements")
    (folder / "extra.in").write_text("requests>=2\n")
    lock = folder / "bench.txt"
    text = lock.read_text()
    start = text.index("fastapi==")
    end = text.index("\n    # via", start)
    lock.write_text(text[:start] + "fastapi==0.165.0" + text[end:])
    found = locks.problems(folder)
    assert "extra.in: no lock takes it as an input: add it to lock.sh" in found
    assert "bench.txt: fastapi has no hash: pip --require-hashes refuses the whole lock" in found
    (folder / "bench.in").write_text("fastapi>=0.100\n")
    assert "bench.in: `fastapi>=0.100` is not pinned as name==version" in locks.problems(folder)


def test_the_environment_the_tests_run_in_is_its_lock() -> None:
    installed = {locks.normalise(dist.metadata["Name"]): dist.version for dist in metadata.distributions()}
    venv = locks.read_lock(REQUIREMENTS / locks.SHARED)
    assert locks.installed_drift(venv, installed, OWN_PACKAGES) == []
    assert locks.installed_drift(venv, {**installed, "uvicorn": "0.1"}, OWN_PACKAGES) == [
        f"uvicorn: locked {venv.pins['uvicorn']}, installed 0.1"
    ]


def test_pip_installs_only_from_the_locks() -> None:
    """Each pip install is in hash-checking mode (which refuses any requirement without a hash, so
    only a lock can feed it), or installs this repository's own packages without dependencies."""
    for pattern in INSTALLERS:
        for path in sorted(REPO_ROOT.glob(pattern)):
            lines = path.read_text().splitlines()
            for number, line in enumerate(lines, 1):
                if not PIP_INSTALL.search(line) or line.lstrip().startswith("#"):
                    continue
                command = "\n".join(lines[number - 1 : number + 1])  # a command may go on
                assert installs_only_locked_or_own(command), f"{path.relative_to(REPO_ROOT)}:{number}"


def test_an_install_without_dependencies_is_safe_only_for_our_own_packages() -> None:
    assert installs_only_locked_or_own("pip install --no-deps --no-build-isolation -e tools")
    assert installs_only_locked_or_own("/opt/venv/bin/pip install --no-deps /opt/wheels/classifier-*.whl")
    assert installs_only_locked_or_own("$(BIN)/$(PIP_INSTALL) -r requirements/venv.txt")
    assert not installs_only_locked_or_own("pip install --no-deps requests==2.32.0")
    assert not installs_only_locked_or_own("pip install --no-deps -r requirements/extra.in")
    assert not installs_only_locked_or_own("pip install torch==2.14.1")


def test_the_build_backend_is_the_locked_one() -> None:
    backend = locks.read_pins(REQUIREMENTS / "backend.in")
    projects = [*REPO_ROOT.glob("*/pyproject.toml"), *REPO_ROOT.glob("services/*/pyproject.toml")]
    for pyproject in sorted(projects):
        requires = re.search(r"^requires = \[(.*)\]", pyproject.read_text(), re.MULTILINE)
        assert requires is not None, pyproject
        declared = [item.strip().strip('"') for item in requires[1].split(",")]
        assert declared == [f"{name}=={version}" for name, version in backend.items()], pyproject
