"""A/B two git revisions of the service at one concurrency, alternating runs on this machine.

    .venv/bin/python benchmarks/compare_revisions.py BASE [CANDIDATE] --rounds 4 --seconds 15

Both servers run side by side (the idle one costs nothing), each from its own git worktree
with the current virtual environment and model, and take turns under the same load client and
photo mix. Alternating runs and comparing medians is what makes a 2% change visible on a
machine whose speed drifts +-10% from minute to minute. Per run: images/s, p99 and the
event-loop thread's CPU per request (what the HTTP layer costs). CANDIDATE defaults to the
working tree.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_service import DEFAULT_MODEL_DIR, REPO, event_loop_ms_per_request, load_with_server_cpu, photo_mix

from classifier_testkit.server import local_server

SOURCE = Path("services/classifier/src")


@contextlib.contextmanager
def checkout(revision: str | None, scratch: Path) -> Iterator[Path]:
    """The service's source directory at ``revision`` (None: the working tree)."""
    if revision is None:
        yield REPO / SOURCE
        return
    tree = scratch / revision.replace("/", "_")
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), revision], check=True)
    try:
        _build_extension(tree, scratch)
        yield tree / SOURCE
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True)


def _build_extension(tree: Path, scratch: Path) -> None:
    """Compile the revision's own C extension next to its sources (git has no build outputs)."""
    built = scratch / "built"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(built), str(tree / "services/classifier")], check=True)
    for library in (built / "classifier").glob("_resample*.so"):
        (tree / SOURCE / "classifier" / library.name).write_bytes(library.read_bytes())


def run_once(base: str, pid: int, files: list[Path], concurrency: int, seconds: float) -> dict[str, Any]:
    result = load_with_server_cpu(base + "/v1/classify", pid, files, concurrency, seconds)
    return {
        "images_per_s": result["ok_rps"],
        "p99_ms": result["p99_ms"],
        "event_loop_ms_per_request": event_loop_ms_per_request(result),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="git revision A")
    parser.add_argument("candidate", nargs="?", help="git revision B (default: the working tree)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    args = parser.parse_args()
    names = {"A": args.base, "B": args.candidate or "working tree"}
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        files = photo_mix(Path(scratch))
        servers = {}
        for side, revision in (("A", args.base), ("B", args.candidate)):
            source = stack.enter_context(checkout(revision, Path(scratch)))
            env = {
                "PYTHONPATH": os.pathsep.join(filter(None, [str(source), os.environ.get("PYTHONPATH")])),
                "CLASSIFIER_MODEL_DIR": str(args.model_dir),
                "CLASSIFIER_LOG_LEVEL": "warning",
            }
            servers[side] = stack.enter_context(local_server(env))
        for round_number in range(1, args.rounds + 1):
            for side in ("A", "B"):
                server = servers[side]
                run = run_once(server.base_url, server.pid, files, args.concurrency, args.seconds)
                runs[side].append(run)
                print(f"round {round_number} {side}: {_describe(run)}", file=sys.stderr)
    print(f"c={args.concurrency}, {args.rounds} alternating rounds of {args.seconds:.0f} s, medians:")
    for side in ("A", "B"):
        print(f"  {side} {names[side]}: {_describe(_medians(runs[side]))}")
    a, b = _medians(runs["A"]), _medians(runs["B"])
    print(f"  B / A images/s: {b['images_per_s'] / a['images_per_s']:.3f}")


def _medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def _describe(run: dict[str, Any]) -> str:
    return (
        f"{run['images_per_s']:.1f} images/s, p99 {run['p99_ms']:.0f} ms, "
        f"event loop {run['event_loop_ms_per_request']:.2f} ms CPU/request"
    )


if __name__ == "__main__":
    main()
