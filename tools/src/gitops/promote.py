"""`gitops-promote`: move an exact image from one environment to the next.

    gitops-promote set-image dev ghcr.io/org/classifier@sha256:<digest>   # CI, after a build
    gitops-promote status dev --argocd-server URL --output status.json   # evidence, via Argo CD
    gitops-promote image dev                                               # what to cosign verify
    gitops-promote promote dev staging --status status.json --signature signature.json
    gitops-promote promote staging prod --status ... --signature ...

Only dev -> staging -> prod, never skipping. Staging and prod take only digests. A digest
moves on only with evidence (issue #12): the source environment's Rollout shows it fully
rolled out, Healthy, not aborted, its step analysis Successful, and cosign verified CI's
signature of it (gitops.evidence). Promoting what is already there changes nothing and says
so (exit 0). The environment's values.yaml is edited in place (its image lines only), keeping its
comments and order; the diff is printed, with a pull-request title and body carrying the evidence
(also written to --pr-title-file / --pr-body-file for the workflow that opens the PR).
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from gitops.argocd_api import ArgoCDError, rollout_and_analysis_runs
from gitops.evidence import (
    DEFAULT_IDENTITY,
    Evidence,
    EvidenceError,
    how_to_capture,
    how_to_verify,
    judge,
    status_list,
)
from gitops.paths import ENVIRONMENTS, REPO_ROOT

CHART_VALUES = Path("rollouts/values.yaml")
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


def values_file(root: Path, environment: str) -> Path:
    if environment not in ENVIRONMENTS:
        raise PromotionError(
            f"unknown environment {environment!r}; expected one of {', '.join(ENVIRONMENTS)}"
        )
    return root / "environments" / environment / "values.yaml"


def _chart_repository(root: Path) -> str:
    """The image repository every environment runs unless its values name another."""
    return str(_yaml().load((root / CHART_VALUES).read_text())["image"]["repository"])


def _image_values(document: CommentedMap, path: Path) -> CommentedMap:
    image = document.get("image")
    if not isinstance(image, CommentedMap):
        raise PromotionError(f"{path}: no `image:` mapping (the environment's image digest goes there)")
    return image


def _image_in(image: CommentedMap, repository: str) -> Image:
    name = str(image.get("repository") or repository)
    return Image(name, image.get("digest") or None, image.get("tag") or None)


def current_image(root: Path, environment: str) -> Image:
    path = values_file(root, environment)
    return _image_in(_image_values(_yaml().load(path.read_text()), path), _chart_repository(root))


def set_image(root: Path, environment: str, image: Image) -> Change:
    """Point one environment at ``image`` (a digest is required for staging and prod). Only the
    image's lines change: the digest (or, in dev, a tag), and the repository if it is not the
    one the environment runs already."""
    if environment in {"staging", "prod"} and not image.digest:
        raise PromotionError(f"{environment} takes only images pinned by digest, not {image}")
    if not image.digest and not image.tag:
        raise PromotionError(f"{image} has neither a tag nor a digest")
    path = values_file(root, environment)
    before = path.read_text()
    yaml = _yaml()
    document = yaml.load(before)
    entry = _image_values(document, path)
    old = _image_in(entry, _chart_repository(root))
    if old == image:
        return Change(environment, path, before, before, old, image)  # nothing to do: byte for byte
    if image.name != old.name:
        entry["repository"] = image.name
    for key, value in (("digest", image.digest), ("tag", image.tag)):
        if value:
            entry[key] = value
        elif key in entry:
            del entry[key]
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    after = buffer.getvalue()
    path.write_text(after)
    return Change(environment, path, before, after, old, image)


def promote(
    root: Path,
    source: str,
    target: str,
    status: Path | None,
    signature: Path | None,
    identity: str = DEFAULT_IDENTITY,
) -> tuple[Change, Evidence]:
    """Copy ``source``'s exact image into ``target``, the next environment, if the evidence allows.

    The evidence files are optional here only so that the older rules refuse first, with their
    own messages; no promotion goes ahead without both.
    """
    if NEXT.get(source) != target:
        allowed = ", ".join(f"{a} -> {b}" for a, b in NEXT.items())
        raise PromotionError(f"cannot promote {source} -> {target}: only {allowed}, never skipping one")
    image = current_image(root, source)
    if not image.digest:
        raise PromotionError(f"{source} runs {image}, which has no digest: {target} takes only digests")
    if status is None or signature is None:
        raise PromotionError(
            f"promote needs {source}'s evidence: --status FILE ({how_to_capture(source)}) and "
            f"--signature FILE ({how_to_verify(source)}); see runbooks/promote.md"
        )
    evidence = judge(status, signature, source, image.name, image.digest, identity)
    return set_image(root, target, image), evidence


def _evidence_section(evidence: Evidence, digest: str) -> list[str]:
    rollout, signature = evidence.rollout, evidence.signature
    rows = [
        f"| {run.name} | {run.type}{f' (step {run.step_index})' if run.step_index else ''} | {run.phase} "
        f"| {metric.name} | {metric.phase} | {metric.successful} / {metric.failed} / {metric.inconclusive} |"
        for run in rollout.runs
        for metric in run.metrics
    ]
    return [
        "## Evidence",
        "",
        f"- digest: `{digest}`",
        f"- source: **{evidence.environment}** (namespace `{rollout.namespace}`), Rollout phase "
        f"**{rollout.phase}**, not aborted",
        f"- stable / current pod hash: `{rollout.stable_hash}` / `{rollout.current_hash}`",
        f"- status captured: {rollout.captured_at} ({rollout.captured_from})",
        f"- signature verified by cosign: Subject `{signature.subject}`, Issuer `{signature.issuer}`",
        "",
        f"AnalysisRuns for pod hash `{rollout.current_hash}`:",
        "",
        "| AnalysisRun | type | phase | metric | metric phase | successful / failed / inconclusive |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def pull_request(change: Change, source: str | None, evidence: Evidence | None = None) -> tuple[str, str]:
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
            *(_evidence_section(evidence, str(change.new.digest)) if evidence else []),
            "```diff",
            change.diff(
                REPO_ROOT if change.path.is_relative_to(REPO_ROOT) else change.path.parents[2]
            ).rstrip(),
            "```",
        ]
    )
    return title, body


def _parser() -> argparse.ArgumentParser:
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
    promoter.add_argument("--status", type=Path, help="the source's Rollout and AnalysisRuns (a List)")
    promoter.add_argument("--signature", type=Path, help="`cosign verify --output json` of the image")
    promoter.add_argument(
        "--identity", default=DEFAULT_IDENTITY, help=f"the signer's certificate identity ({DEFAULT_IDENTITY})"
    )
    status = commands.add_parser("status", help="write an environment's Rollout and AnalysisRuns via Argo CD")
    status.add_argument("environment", choices=ENVIRONMENTS)
    status.add_argument("--argocd-server", required=True, help="Argo CD's URL (token: ARGOCD_AUTH_TOKEN)")
    status.add_argument("--output", type=Path, required=True, help="where to write the List")
    image = commands.add_parser("image", help="print an environment's image (name@digest)")
    image.add_argument("environment", choices=ENVIRONMENTS)
    return parser


def _status(environment: str, server: str, output: Path) -> int:
    """The one place that reads the token: it comes from the environment, never the command line."""
    token = os.environ.get("ARGOCD_AUTH_TOKEN", "")
    if not token:
        print("gitops-promote: set ARGOCD_AUTH_TOKEN to an Argo CD API token", file=sys.stderr)
        return 2
    items = rollout_and_analysis_runs(server, token, environment)
    output.write_text(status_list(items, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))
    print(f"{output}: Rollout and {len(items) - 1} AnalysisRuns of classifier-{environment}")
    return 0


def _change(args: argparse.Namespace) -> tuple[Change, str | None, Evidence | None]:
    if args.command == "set-image":
        return set_image(args.root, args.environment, Image.parse(args.image)), None, None
    change, evidence = promote(
        args.root, args.source, args.target, args.status, args.signature, args.identity
    )
    return change, args.source, evidence


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "status":
            return _status(args.environment, args.argocd_server, args.output)
        if args.command == "image":
            print(current_image(args.root, args.environment))
            return 0
        change, source, evidence = _change(args)
    except (PromotionError, EvidenceError, ArgoCDError) as error:
        print(f"gitops-promote: {error}", file=sys.stderr)
        return 2
    if not change.changed:
        print(f"{change.environment} already runs {change.new}: nothing to change")
        return 0
    title, body = pull_request(change, source, evidence)
    print(change.diff(args.root), end="")
    print(f"\n{title}\n\n{body}")
    if args.pr_title_file:
        args.pr_title_file.write_text(title + "\n")
    if args.pr_body_file:
        args.pr_body_file.write_text(body + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
