"""`gitops-promote`: move an exact image from one environment to the next.

    gitops-promote set-image dev ghcr.io/org/classifier@sha256:<digest>   # CI, after a build
    gitops-promote promote dev staging                                     # a release
    gitops-promote promote staging prod

Only dev -> staging -> prod, never skipping. Staging and prod take only digests. Promoting
what is already there changes nothing and says so (exit 0). The kustomization is edited in
place, keeping its comments and order; the diff is printed, with a pull-request title and
body (also written to --pr-title-file / --pr-body-file for the workflow that opens the PR).
"""

from __future__ import annotations

import argparse
import difflib
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from gitops.paths import ENVIRONMENTS, REPO_ROOT

IMAGE_PLACEHOLDER = "classifier"
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
NEXT = {"dev": "staging", "staging": "prod"}


class PromotionError(ValueError):
    """The promotion is not allowed or the input is malformed; the message says why."""


@dataclass(frozen=True, slots=True)
class Image:
    name: str
    digest: str | None = None
    tag: str | None = None

    @classmethod
    def parse(cls, reference: str) -> Image:
        if "@" in reference:
            name, digest = reference.split("@", 1)
            if not DIGEST.match(digest):
                raise PromotionError(f"{reference!r}: the digest must be sha256: and 64 hex digits")
            return cls(name, digest=digest)
        name, _, tag = reference.rpartition(":")
        if not name or "/" in tag:
            return cls(reference)
        return cls(name, tag=tag)

    def __str__(self) -> str:
        return (
            f"{self.name}@{self.digest}"
            if self.digest
            else f"{self.name}:{self.tag}"
            if self.tag
            else self.name
        )


@dataclass(frozen=True, slots=True)
class Change:
    environment: str
    path: Path
    before: str
    after: str
    old: Image
    new: Image

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self, root: Path) -> str:
        relative = self.path.relative_to(root)
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                f"a/{relative}",
                f"b/{relative}",
            )
        )


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def kustomization(root: Path, environment: str) -> Path:
    if environment not in ENVIRONMENTS:
        raise PromotionError(
            f"unknown environment {environment!r}; expected one of {', '.join(ENVIRONMENTS)}"
        )
    return root / "environments" / environment / "kustomization.yaml"


def _image_entry(document: CommentedMap, path: Path) -> CommentedMap:
    for entry in document.get("images") or []:
        if entry.get("name") == IMAGE_PLACEHOLDER:
            return entry  # type: ignore[no-any-return]
    raise PromotionError(f"{path}: no `images:` entry named {IMAGE_PLACEHOLDER!r}")


def current_image(root: Path, environment: str) -> Image:
    path = kustomization(root, environment)
    entry = _image_entry(_yaml().load(path.read_text()), path)
    return Image(str(entry.get("newName", IMAGE_PLACEHOLDER)), entry.get("digest"), entry.get("newTag"))


def set_image(root: Path, environment: str, image: Image) -> Change:
    """Point one environment at ``image`` (a digest is required for staging and prod)."""
    if environment in {"staging", "prod"} and not image.digest:
        raise PromotionError(f"{environment} takes only images pinned by digest, not {image}")
    if not image.digest and not image.tag:
        raise PromotionError(f"{image} has neither a tag nor a digest")
    path = kustomization(root, environment)
    before = path.read_text()
    yaml = _yaml()
    document = yaml.load(before)
    entry = _image_entry(document, path)
    old = Image(str(entry.get("newName", IMAGE_PLACEHOLDER)), entry.get("digest"), entry.get("newTag"))
    entry["newName"] = image.name
    for key, value in (("digest", image.digest), ("newTag", image.tag)):
        if value:
            entry[key] = value
        elif key in entry:
            del entry[key]
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    after = buffer.getvalue()
    if old == image:
        after = before  # nothing to do: leave the file byte for byte as it was
    if after != before:
        path.write_text(after)
    return Change(environment, path, before, after, old, image)


def promote(root: Path, source: str, target: str) -> Change:
    """Copy ``source``'s exact image into ``target``, the next environment."""
    if NEXT.get(source) != target:
        allowed = ", ".join(f"{a} -> {b}" for a, b in NEXT.items())
        raise PromotionError(f"cannot promote {source} -> {target}: only {allowed}, never skipping one")
    image = current_image(root, source)
    if not image.digest:
        raise PromotionError(f"{source} runs {image}, which has no digest: {target} takes only digests")
    return set_image(root, target, image)


def pull_request(change: Change, source: str | None) -> tuple[str, str]:
    short = change.new.digest[7:19] if change.new.digest else str(change.new.tag)
    origin = f"from {source} " if source else ""
    title = f"Promote classifier {short} {origin}to {change.environment}"
    body = "\n".join(
        [
            f"Promotes the classifier image {origin}to **{change.environment}**.",
            "",
            f"- from: `{change.old}`",
            f"- to: `{change.new}`",
            "",
            "Argo CD syncs this environment once merged; Argo Rollouts then shifts traffic step by step",
            "while the canary analysis (error rate and p99 latency against the SLOs) runs, and aborts",
            "on its own if the canary breaches them. Roll back by reverting this pull request",
            "(runbooks/rollback.md).",
            "",
            "```diff",
            change.diff(
                REPO_ROOT if change.path.is_relative_to(REPO_ROOT) else change.path.parents[2]
            ).rstrip(),
            "```",
        ]
    )
    return title, body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gitops-promote", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    parser.add_argument("--pr-title-file", type=Path, help="write the pull-request title here")
    parser.add_argument("--pr-body-file", type=Path, help="write the pull-request body here")
    commands = parser.add_subparsers(dest="command", required=True)
    setter = commands.add_parser("set-image", help="point an environment at an image")
    setter.add_argument("environment", choices=ENVIRONMENTS)
    setter.add_argument("image", help="name@sha256:<digest> (or name:tag for dev)")
    promoter = commands.add_parser("promote", help="copy an environment's image to the next")
    promoter.add_argument("source", choices=ENVIRONMENTS)
    promoter.add_argument("target", choices=ENVIRONMENTS)
    args = parser.parse_args(argv)
    try:
        if args.command == "set-image":
            change, source = set_image(args.root, args.environment, Image.parse(args.image)), None
        else:
            change, source = promote(args.root, args.source, args.target), args.source
    except PromotionError as error:
        print(f"gitops-promote: {error}", file=sys.stderr)
        return 2
    if not change.changed:
        print(f"{change.environment} already runs {change.new}: nothing to change")
        return 0
    title, body = pull_request(change, source)
    print(change.diff(args.root), end="")
    print(f"\n{title}\n\n{body}")
    if args.pr_title_file:
        args.pr_title_file.write_text(title + "\n")
    if args.pr_body_file:
        args.pr_body_file.write_text(body + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
