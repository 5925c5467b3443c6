"""Every base and node image is named by digest, its tag kept beside it: the image's default base,
the kind node image, and what `make image` builds on (the local base, resolved to its digest).
The workflows' job containers are gitops-validate's rule workflow-image-by-digest."""

from __future__ import annotations

import re

from gitops.paths import REPO_ROOT

BY_DIGEST = re.compile(r"^[a-z0-9./_-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$")
DOCKERFILE = REPO_ROOT / "services/classifier/Dockerfile"


def test_every_from_is_a_stage_or_the_base_by_digest() -> None:
    text = DOCKERFILE.read_text()
    arguments = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.MULTILINE))
    stages: set[str] = set()
    for image, stage in re.findall(r"^FROM (\S+)(?: AS (\S+))?$", text, re.MULTILINE):
        resolved = re.sub(r"\$\{(\w+)\}", lambda match: arguments.get(match[1], ""), image)
        assert resolved in stages or BY_DIGEST.match(resolved), f"FROM {image} ({resolved})"
        stages.add(stage)
    assert BY_DIGEST.match(arguments["BASE_IMAGE"])
    assert ":3.11-slim-bookworm@" in arguments["BASE_IMAGE"]


def test_the_kind_node_image_is_pinned_by_digest() -> None:
    text = (REPO_ROOT / "cluster/versions.env").read_text()
    versions = dict(re.findall(r"^(\w+)=(\S+)$", text, re.MULTILINE))
    assert BY_DIGEST.match(versions["KIND_NODE_IMAGE"])


def test_the_local_build_names_its_base_by_digest() -> None:
    """build-image.sh passes the local base as name@digest, read from podman after building it."""
    script = (REPO_ROOT / "services/classifier/container/build-image.sh").read_text()
    assert "{{.Digest}}" in script
    assert "BASE_IMAGE=${base}" in script
