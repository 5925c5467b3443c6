"""Expand an ApplicationSet's git directory generator as the ApplicationSet controller does."""

from __future__ import annotations

import copy
import fnmatch
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gitops.render import Manifest


class ApplicationSetError(RuntimeError):
    """An ApplicationSet this model cannot expand; the message says which part."""


_PARAMETER = re.compile(
    r"\{\{\s*(?:\.path\.(path|basename|basenameNormalized)|index \.path\.segments (\d+))\s*\}\}"
)


def expand_application_set(
    root: Path, repo_url: str, appset: Manifest
) -> Iterator[tuple[Manifest, str | None]]:
    """The Applications a git directory generator makes (applicationset/generators/git.go: each
    requested path is a Go `path.Match` pattern, so `environments/*` matches direct children)."""
    name = appset["metadata"]["name"]
    spec = appset.get("spec", {})
    if spec.get("goTemplate") is not True:
        raise ApplicationSetError(f"ApplicationSet/{name}: only goTemplate: true is modelled")
    for generator in spec.get("generators", []):
        git = generator.get("git")
        if set(generator) != {"git"} or not git or "directories" not in git:
            raise ApplicationSetError(f"ApplicationSet/{name}: only git directory generators are modelled")
        if git.get("repoURL") != repo_url:
            raise ApplicationSetError(
                f"ApplicationSet/{name}: generator reads {git.get('repoURL')}, not this repository"
            )
        for folder in matching_directories(root, git["directories"]):
            app = _fill(copy.deepcopy(spec["template"]), folder)
            yield {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **app}, _environment(folder)


def matching_directories(root: Path, requested: list[dict[str, Any]]) -> list[str]:
    """The repository's folders a git directories generator selects. Hidden folders are skipped,
    not walked into, as the repo-server does (argo-cd v3.1.8 reposerver/repository/repository.go
    GetGitDirectories, without --include-hidden-directories)."""
    folders = []
    for parent, children, _ in os.walk(root):
        children[:] = [child for child in children if not child.startswith(".")]  # nor walked into
        folders += [str((Path(parent) / child).relative_to(root)) for child in children]
    folders.sort()
    return [
        folder
        for folder in folders
        if any(_path_match(r["path"], folder) for r in requested if not r.get("exclude"))
        and not any(_path_match(r["path"], folder) for r in requested if r.get("exclude"))
    ]


def _path_match(pattern: str, candidate: str) -> bool:
    """Go's path.Match: `*` never crosses a `/`."""
    patterns, parts = pattern.split("/"), candidate.split("/")
    return len(patterns) == len(parts) and all(
        fnmatch.fnmatchcase(p, q) for q, p in zip(patterns, parts, strict=True)
    )


def _fill(node: Any, folder: str) -> Any:
    if isinstance(node, dict):
        return {key: _fill(value, folder) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(value, folder) for value in node]
    if not isinstance(node, str):
        return node
    segments = folder.split("/")
    basename = segments[-1]
    values = {
        "path": folder,
        "basename": basename,
        "basenameNormalized": re.sub(r"[^a-z0-9-]", "-", basename.lower()),
    }
    filled = _PARAMETER.sub(lambda m: values[m.group(1)] if m.group(1) else segments[int(m.group(2))], node)
    if "{{" in filled:
        raise ApplicationSetError(f"ApplicationSet template expression not modelled: {node!r}")
    return filled


def _environment(folder: str) -> str | None:
    parts = folder.split("/")
    return parts[1] if len(parts) == 2 and parts[0] == "environments" else None
