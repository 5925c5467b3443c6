"""The requirement locks are exact, hashed, fresh and used: what `make test` checks offline.

Each `requirements/*.in` pins what one set needs; `requirements/lock.sh` (`make lock`) locks it
with uv into a `requirements/*.txt` that names every package at one version with its files'
hashes, and ends with a line naming its inputs and their sha256. pip installs a lock with
`--require-hashes`, which refuses any file whose hash the lock does not list and any package it
does not name (pip's docs, "Secure installs", hash-checking mode).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

INPUTS_LINE = re.compile(r"^# inputs: (?P<files>.+) sha256:(?P<digest>[0-9a-f]{64})$")
REQUIREMENT = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")
SHARED = "venv.txt"  # the lock the others that share an environment or an image are locked against


@dataclass(frozen=True, slots=True)
class Lock:
    path: Path
    pins: dict[str, str]  # normalised name -> version
    unhashed: tuple[str, ...]  # requirements listed without a hash
    inputs: tuple[str, ...]  # file names, relative to the folder
    digest: str | None  # sha256 of the inputs when the lock was written


def normalise(name: str) -> str:
    """PEP 503 normalisation: pip compares names this way."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> Lock:
    """A lock's entries: each `name==version \\` line with the hash lines that continue it."""
    pins: dict[str, str] = {}
    unhashed: list[str] = []
    inputs: tuple[str, ...] = ()
    digest = None
    entries = re.split(r"\n(?=\S)", path.read_text())
    for entry in entries:
        stamp = INPUTS_LINE.match(entry.strip())
        if stamp:
            inputs, digest = tuple(stamp["files"].split()), stamp["digest"]
            continue
        match = REQUIREMENT.match(entry)
        if match is None:
            continue
        pins[normalise(match["name"])] = match["version"]
        if not HASH.search(entry):
            unhashed.append(match["name"])
    return Lock(path, pins, tuple(unhashed), inputs, digest)


def read_pins(path: Path) -> dict[str, str]:
    """The requirements of a `.in` file, each of which must be `name==version`."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        match = REQUIREMENT.match(text)
        pins[normalise(match["name"]) if match else text] = match["version"] if match else ""
    return pins


def inputs_digest(folder: Path, names: tuple[str, ...]) -> str:
    """sha256 of the inputs' bytes, concatenated in order (as lock.sh computes it)."""
    return hashlib.sha256(b"".join((folder / name).read_bytes() for name in names)).hexdigest()


def problems(folder: Path) -> list[str]:
    """What is wrong with the locks in `folder` (requirements/), one line each."""
    found: list[str] = []
    locks = {path.name: read_lock(path) for path in sorted(folder.glob("*.txt"))}
    locked_inputs: set[str] = set()
    for name, lock in locks.items():
        if lock.digest is None:
            found.append(f"{name}: no `# inputs:` line: not written by `make lock`")
            continue
        locked_inputs.update(lock.inputs)
        missing = [each for each in lock.inputs if not (folder / each).is_file()]
        if missing:
            found.append(f"{name}: its inputs {missing} do not exist")
            continue
        if inputs_digest(folder, lock.inputs) != lock.digest:
            changed = " ".join(lock.inputs)
            found.append(f"{name}: stale: {changed} changed after it was written; run `make lock`")
        for package in lock.unhashed:
            found.append(f"{name}: {package} has no hash: pip --require-hashes refuses the whole lock")
        for source in (each for each in lock.inputs if each.endswith(".in")):
            for package, version in read_pins(folder / source).items():
                if not version:
                    found.append(f"{source}: `{package}` is not pinned as name==version")
                elif lock.pins.get(package) != version:
                    found.append(
                        f"{name}: {package} is {lock.pins.get(package)}, but {source} pins {version}; "
                        "run `make lock`"
                    )
        shared = locks.get(SHARED)
        if shared is not None and SHARED in lock.inputs:
            for package, version in lock.pins.items():
                if package in shared.pins and shared.pins[package] != version:
                    found.append(f"{name}: {package} {version}, but {SHARED} has {shared.pins[package]}")
    for source in sorted(path.name for path in folder.glob("*.in")):
        if source not in locked_inputs:
            found.append(f"{source}: no lock takes it as an input: add it to lock.sh")
    return found


def installed_drift(lock: Lock, installed: dict[str, str], own: set[str]) -> list[str]:
    """Where an environment differs from its lock (`own`: this repository's packages)."""
    drift = []
    for package in sorted(set(lock.pins) | set(installed) - own):
        if lock.pins.get(package) != installed.get(package):
            drift.append(f"{package}: locked {lock.pins.get(package)}, installed {installed.get(package)}")
    return drift
