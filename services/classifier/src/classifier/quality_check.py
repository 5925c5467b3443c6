"""`classifier-quality-check`: the paired model-quality gate. It sends every image of the golden
set to the canary and to stable and compares their answers on the same inputs:

    classifier-quality-check --golden /opt/golden \\
        --canary http://classifier-canary --stable http://classifier-stable

- top-1 agreement: the share of images both answer with the same label;
- top-5 overlap: the mean share of labels their top-5 answers have in common;
- accuracy on the labelled part (views of photos whose subject is clear), for both.

Only the same inputs through both models expose a label file out of order: it leaves the
confidence distribution as it was and, for balanced traffic, the class mix too.

The floors depend on whether the model changed. A canary serving the same model as stable (the
same name and version in its answers) must answer almost exactly as stable does: a new image
with the same weights that answers differently has a defect in what surrounds the model (label
file, colour order, normalisation, crop). A canary serving another build of the same network
(versions equal but for SemVer build metadata, "1" and "1+int8": SemVer 2.0.0 item 10) answers
as that build was checked to when it was made: its floors sit between what such a build measures
and what the defects do. A canary serving another model is meant to answer differently: its
floors sit below what lite0 -> lite2 measures (platform/slo/slos.yaml `quality.paired`;
docs/decisions.md has the numbers) and catch only gross breakage. A team that changes behaviour
on purpose lowers the floors in the release's own Rollout arguments.

It prints one JSON line (the measurements and the verdict) and exits 0 when every floor holds,
1 when one does not, 2 when it could not measure (a set that changed, an answer that is not a
classification): an Argo Rollouts job metric is Failed on any non-zero exit.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from classifier.auth import tokens_in
from classifier.prediction_signals import GOLDEN_SET_HEADER

MANIFEST = "manifest.json"  # as classifier_modelbuild.golden writes it
TOP_K = 5
# Per request, a transport error, a 5xx or a 429 is retried, backing off, for this long: a canary
# pod restarting is not the model's fault, and a job metric has no Error to give (the Job's
# failure is the measurement's: argo-rollouts v1.8.3 metricproviders/job/job.go:186-195).
RETRY_SECONDS = 60.0
# Requests in flight per service: before any traffic the canary is one pod, and the check must
# not be what makes it slow.
CONCURRENCY = 2


class CheckError(RuntimeError):
    """The check could not measure: no verdict on the model."""


@dataclass(frozen=True, slots=True)
class GoldenImage:
    file: str
    data: bytes
    expected: tuple[str, ...]  # empty: no label to hold the answer to


@dataclass(frozen=True, slots=True)
class Floors:
    agreement: float
    top5_overlap: float
    accuracy: float  # on the labelled images, for the canary


Kind = Literal["same-model", "same-network", "new-model"]
KINDS: tuple[Kind, ...] = ("same-model", "same-network", "new-model")  # FloorsByKind's order


@dataclass(frozen=True, slots=True)
class FloorsByKind:
    same_model: Floors
    same_network: Floors
    new_model: Floors


@dataclass(frozen=True, slots=True)
class Answer:
    model: str  # "name:version", as the service names the model it ran
    labels: list[str]  # top-5, best first


@dataclass(frozen=True, slots=True)
class Client:
    """How the check asks a service."""

    timeout_s: float = 10.0  # per request
    retry_s: float = RETRY_SECONDS
    token: str | None = None  # a bearer token for the inference routes


@dataclass(frozen=True, slots=True)
class Report:
    canary_model: str
    stable_model: str
    kind: Kind  # which floors judged the pair (kinship)
    images: int
    labelled: int
    agreement: float
    top5_overlap: float
    canary_accuracy: float
    stable_accuracy: float
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def load_golden_set(directory: Path) -> list[GoldenImage]:
    """The images the manifest lists, each checked against its recorded sha256."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        entries = manifest["images"]
    except (OSError, ValueError, KeyError) as error:
        raise CheckError(f"no usable {MANIFEST} in {directory}: {error}") from None
    images = []
    for entry in entries:
        data = (directory / entry["file"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise CheckError(f"{entry['file']} does not match the sha256 in {MANIFEST}")
        images.append(GoldenImage(entry["file"], data, tuple(entry["expected"])))
    if not images:
        raise CheckError(f"{directory / MANIFEST} lists no images")
    return images


def ask(base_url: str, image: bytes, client: Client) -> Answer:
    """The service's model and top-5 labels for one JPEG, retried as RETRY_SECONDS says."""
    headers = {"content-type": "image/jpeg", GOLDEN_SET_HEADER: "1"}  # not user traffic
    headers |= {"authorization": f"Bearer {client.token}"} if client.token else {}
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/v1/classify?top_k={TOP_K}", data=image, headers=headers, method="POST"
    )
    give_up, pause = time.monotonic() + client.retry_s, 0.5
    while True:
        try:
            with urllib.request.urlopen(request, timeout=client.timeout_s) as response:
                answer = json.loads(response.read())
            model = f"{answer['model']['name']}:{answer['model']['version']}"
            return Answer(model, [prediction["label"] for prediction in answer["predictions"]])
        except urllib.error.HTTPError as error:
            if error.code < 500 and error.code != 429:
                raise CheckError(f"{base_url} answered {error.code} to a golden image") from None
            reason = f"HTTP {error.code}"
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as error:
            reason = f"{type(error).__name__}: {error}"
        if time.monotonic() + pause > give_up:
            raise CheckError(f"{base_url} did not answer within {client.retry_s:g} s: {reason}")
        time.sleep(pause)
        pause = min(2 * pause, 8.0)


def compare(
    images: Sequence[GoldenImage],
    canary_answers: Sequence[Answer],
    stable_answers: Sequence[Answer],
    floors_by_kind: FloorsByKind,
) -> Report:
    """The paired measurements and which floors they break: those of `kinship`'s answer."""
    canary_model, stable_model = _one_model(canary_answers, "canary"), _one_model(stable_answers, "stable")
    kind = kinship(canary_model, stable_model)
    floors = getattr(floors_by_kind, kind.replace("-", "_"))
    canary, stable = [a.labels for a in canary_answers], [a.labels for a in stable_answers]
    agreement = sum(c[0] == s[0] for c, s in zip(canary, stable, strict=True)) / len(images)
    overlap = sum(len(set(c) & set(s)) / TOP_K for c, s in zip(canary, stable, strict=True)) / len(images)
    labelled = [i for i, image in enumerate(images) if image.expected]

    def accuracy(answers: Sequence[list[str]]) -> float:
        if not labelled:
            return 1.0
        return sum(answers[i][0] in images[i].expected for i in labelled) / len(labelled)

    canary_accuracy, stable_accuracy = accuracy(canary), accuracy(stable)
    failures = [
        f"{name} {value:.3f} is below the {kind} floor {floor}"
        for name, value, floor in (
            ("top-1 agreement", agreement, floors.agreement),
            ("top-5 overlap", overlap, floors.top5_overlap),
            ("canary accuracy on the labelled images", canary_accuracy, floors.accuracy),
        )
        if value < floor
    ]
    return Report(
        canary_model,
        stable_model,
        kind,
        len(images),
        len(labelled),
        agreement,
        overlap,
        canary_accuracy,
        stable_accuracy,
        tuple(failures),
    )


def kinship(canary_model: str, stable_model: str) -> Kind:
    """How two models ("name:version") relate: the same one, two builds of one network (versions
    equal without their SemVer build metadata, after "+"), or different models."""
    if canary_model == stable_model:
        return "same-model"
    if canary_model.split("+", 1)[0] == stable_model.split("+", 1)[0]:
        return "same-network"
    return "new-model"


def _one_model(answers: Sequence[Answer], side: str) -> str:
    models = sorted({answer.model for answer in answers})
    if len(models) != 1:
        raise CheckError(f"the {side} answered with several models during the check: {models}")
    return models[0]


def run_check(
    golden: Path,
    canary_url: str,
    stable_url: str,
    floors: FloorsByKind,
    client: Client = Client(),
) -> Report:
    images = load_golden_set(golden)
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        canary = list(pool.map(lambda image: ask(canary_url, image.data, client), images))
        stable = list(pool.map(lambda image: ask(stable_url, image.data, client), images))
    return compare(images, canary, stable, floors)


def _first_token(path: Path) -> str:
    """The first token in a tokens file, read as the service reads it (classifier.auth)."""
    try:
        tokens = tokens_in(path.read_text().splitlines())
    except OSError as error:
        raise CheckError(f"cannot read the token file: {error}") from None
    if not tokens:
        raise CheckError(f"{path} holds no token")
    return tokens[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="classifier-quality-check", description=__doc__.splitlines()[0])
    parser.add_argument("--golden", type=Path, required=True, help="the golden set's directory")
    parser.add_argument("--canary", required=True, help="the canary Service's base URL")
    parser.add_argument("--stable", required=True, help="the stable Service's base URL")
    for kind in KINDS:
        for floor in ("agreement", "top5-overlap"):
            parser.add_argument(f"--{kind}-min-{floor}", type=float, required=True)
    parser.add_argument("--min-accuracy", type=float, required=True, help="on the labelled images")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    parser.add_argument("--retry", type=float, default=RETRY_SECONDS, help="seconds a request is retried for")
    parser.add_argument(
        "--token-file", type=Path, help="a bearer token for the inference routes (the first line of the file)"
    )
    args = parser.parse_args(argv)
    floors = FloorsByKind(
        *(
            Floors(
                getattr(args, f"{kind.replace('-', '_')}_min_agreement"),
                getattr(args, f"{kind.replace('-', '_')}_min_top5_overlap"),
                args.min_accuracy,
            )
            for kind in KINDS
        )
    )
    try:
        token = _first_token(args.token_file) if args.token_file else None
        client = Client(timeout_s=args.timeout, retry_s=args.retry, token=token)
        report = run_check(args.golden, args.canary, args.stable, floors, client)
    except CheckError as error:
        print(json.dumps({"verdict": "unmeasured", "error": str(error)}))
        return 2
    print(json.dumps({"verdict": "pass" if report.passed else "fail"} | asdict(report)))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
