"""Compare the service with other Python model servers on the same model, photos and load.

    .venv/bin/python benchmarks/compare_servers.py --output docs/performance-peers.md
    # the service on its int8 artifact too (a row per --service-model-dir):
    .venv/bin/python benchmarks/compare_servers.py --service-model-dir artifacts/efficientnet-lite0/1 \
        --service-model-dir artifacts/efficientnet-lite0/1+int8 --output docs/performance-peers.md

LitServe and TorchServe serve the service's fp32 ONNX graph with ONNX Runtime on CPU, each set up
as a careful user would on this machine (benchmarks/peers/, each file says why each setting); the
service runs with its defaults, once per --service-model-dir (it picks its backend from the
artifact). One server at a time, stopped before the next starts: first checked to answer the
photos correctly, then loaded by load_client.py (its own process, closed loop) at each
--concurrency. The report sets every server against the best peer of the same run, because this
shared machine's speed drifts from one run to the next.

The peers live in their own venv, .venv-peers, made here from requirements/peers.txt when missing
or older than that file: TorchServe's worker imports torch, and neither peer may move the
service's pins. TorchServe needs Java (17). Not part of `make test`: with the defaults it takes
about 4 minutes (each server about 75 s: 3 concurrencies x (3 s warm-up + 20 s), plus start and
stop; the first run adds about 30 s to install .venv-peers).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from bench_service import WARMUP_S, load
from cpu_executions import cpu_model

from classifier.config import Settings
from classifier.tuning import Tuning
from classifier_testkit import photos
from classifier_testkit.ports import free_port
from classifier_testkit.server import local_server, wait_ready

REPO = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).with_name("peers")
PEERS_VENV = REPO / ".venv-peers"
PEERS_REQUIREMENTS = REPO / "requirements" / "peers.txt"
PEERS_STAMP = PEERS_VENV / ".setup-done"
DEFAULT_SERVICE_MODEL_DIR = REPO / "artifacts" / "efficientnet-lite0" / "1"
PEER_MODEL_DIR = DEFAULT_SERVICE_MODEL_DIR  # the fp32 ONNX graph, which both peers can run
PHOTOS = ("coffee", "chelsea", "rocket", "astronaut")  # as scikit-image ships them
READY_TIMEOUT_S = 180.0  # loading and warming a model on a busy two-core machine
FIRST_ANSWER_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
START_AND_CHECK_S = 5.0  # about, per server (start, check, stop): for the run-time estimate


# ---------------------------------------------------------------- the servers


@dataclass(frozen=True)
class Contender:
    """A server under test: its name in the report, whether it is a peer, and how to serve.

    `serve(scratch)` is a context manager: the server runs, ready, inside it, and yields the URL
    to POST a JPEG to; it is stopped, with every process it started, on the way out.
    """

    name: str
    peer: bool
    settings: str
    serve: Callable[[Path], contextlib.AbstractContextManager[str]]


def service(model_dir: Path) -> Contender:
    """This project's service on one artifact, with its default settings."""
    metadata = json.loads((model_dir / "metadata.json").read_text())
    execution = metadata.get("execution") or {"runtime": "onnxruntime", "precision": "fp32"}
    tuning = Tuning.resolve(Settings(), backend=execution["runtime"], accelerator=False)

    @contextlib.contextmanager
    def serve(scratch: Path) -> Iterator[str]:
        env = {"CLASSIFIER_MODEL_DIR": str(model_dir), "CLASSIFIER_LOG_LEVEL": "warning"}
        log_path = scratch / "classifier.log"
        with local_server(env, log_path=log_path, inherit_settings=False) as server:
            yield server.base_url + "/v1/classify"

    return Contender(
        name=f"classifier {metadata['name']}:{metadata['version']}",
        peer=False,
        settings=(
            f"the artifact's {execution['runtime']} {execution['precision']} execution; defaults for "
            f"this machine ({tuning.inference_workers} inference workers x {tuning.inference_threads} "
            f"thread, max batch {tuning.max_batch_size}), log level warning (no access log)"
        ),
        serve=serve,
    )


def litserve(model_dir: Path) -> Contender:
    @contextlib.contextmanager
    def serve(scratch: Path) -> Iterator[str]:
        port = free_port()
        env = {"MODEL_DIR": str(model_dir), "PORT": str(port)}
        command = [str(PEERS_VENV / "bin" / "python"), str(PEERS / "litserve_app.py")]
        base = f"http://127.0.0.1:{port}"
        with peer_process(command, env, scratch, "litserve") as process:
            process.wait_ready(base + "/health")
            yield base + "/predict"

    return Contender(
        name=f"LitServe {pinned('litserve')}",
        peer=True,
        settings=(
            "2 inference worker processes (workers_per_device=2), 1 ONNX Runtime thread each, "
            "max_batch_size 8, batch_timeout 5 ms, 2 API server processes (the default), raw JPEG "
            "body, log level warning (benchmarks/peers/litserve_app.py)"
        ),
        serve=serve,
    )


def torchserve(model_dir: Path) -> Contender:
    @contextlib.contextmanager
    def serve(scratch: Path) -> Iterator[str]:
        store = scratch / "model-store"
        store.mkdir()
        _archive(model_dir, store)
        inference, management, metrics = free_port(), free_port(), free_port()
        config = scratch / "config.properties"
        config.write_text(
            f"inference_address=http://127.0.0.1:{inference}\n"
            f"management_address=http://127.0.0.1:{management}\n"
            f"metrics_address=http://127.0.0.1:{metrics}\n"
            "disable_system_metrics=true\n"
        )
        command = [
            str(PEERS_VENV / "bin" / "torchserve"),
            "--start",
            "--foreground",  # the launcher stays the parent of Java, in our process group
            "--ts-config",
            str(config),
            "--model-store",
            str(store),
            "--models",
            "lite0=lite0",
            "--disable-token-auth",
            "--ncs",  # no config snapshots
            "--log-config",
            str(PEERS / "torchserve_log4j2.xml"),
        ]
        # TorchServe keeps its pid file and sockets in the temporary directory: ours, not /tmp's.
        logs = scratch / "torchserve-logs"
        env = {"TMPDIR": str(scratch), "TEMP": str(scratch), "LOG_LOCATION": str(logs)}
        env |= {"METRICS_LOCATION": str(logs)}
        with peer_process(command, env, scratch, "torchserve") as process:
            process.wait_ready(f"http://127.0.0.1:{inference}/ping")
            # /ping answers before the workers have loaded the model: wait for them too.
            process.wait_until(lambda: _workers_ready(f"http://127.0.0.1:{management}/models/lite0"))
            yield f"http://127.0.0.1:{inference}/predictions/lite0"

    return Contender(
        name=f"TorchServe {pinned('torchserve')}",
        peer=True,
        settings=(
            "2 Python workers, 1 ONNX Runtime thread each, batch size 1, Netty's defaults, "
            "warnings only and no access or metrics log (benchmarks/peers/torchserve_handler.py, "
            "torchserve_model_config.yaml, torchserve_log4j2.xml)"
        ),
        serve=serve,
    )


def _archive(model_dir: Path, store: Path) -> None:
    """The model, its metadata and the handler as TorchServe's model archive (unzipped)."""
    subprocess.run(
        [
            str(PEERS_VENV / "bin" / "torch-model-archiver"),
            "--model-name",
            "lite0",
            "--version",
            "1",
            "--serialized-file",
            str(model_dir / "model.onnx"),
            "--handler",
            str(PEERS / "torchserve_handler.py"),
            "--extra-files",
            f"{model_dir / 'metadata.json'},{PEERS / 'onnx_classifier.py'}",
            "--config-file",
            str(PEERS / "torchserve_model_config.yaml"),
            "--export-path",
            str(store),
            "--archive-format",
            "no-archive",  # TorchServe reads the folder: no zipping the model only to unzip it
        ],
        check=True,
    )


def _workers_ready(model_url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        workers = httpx.get(model_url, timeout=5).json()[0]["workers"]
        return bool(workers) and all(worker["status"] == "READY" for worker in workers)
    return False


@dataclass
class PeerProcess:
    """A peer's process group: the peers start worker processes (LitServe) and Java (TorchServe)."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def _gone(self) -> str | None:
        if self.process.poll() is None:
            return None
        return f"{self.process.args!r} exited with {self.process.returncode}:\n{self.log_tail()}"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, url: str) -> None:
        try:
            wait_ready(url, READY_TIMEOUT_S, self._gone)
        except TimeoutError as error:
            raise TimeoutError(f"{error}:\n{self.log_tail()}") from None

    def wait_until(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not ready():
            reason = self._gone()
            if reason is not None:
                raise RuntimeError(reason)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.process.args!r} not ready:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL to what is left of it after STOP_TIMEOUT_S.

        The group outlives its leader: TorchServe's launcher exits at once, Java and its workers
        shut down after it. The next server starts only when all of them are gone.
        """
        group = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT_S)
        while group_alive(group) and time.monotonic() < deadline:
            time.sleep(0.1)
        if group_alive(group):
            os.killpg(group, signal.SIGKILL)
            while group_alive(group):
                time.sleep(0.1)
        self.process.wait()


def group_alive(group: int) -> bool:
    """Whether a live (not zombie) process is left in process group `group` (from /proc)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            state, _parent, process_group = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if int(process_group) == group and state != "Z":
                return True
    return False


@contextlib.contextmanager
def peer_process(
    command: Sequence[str], env: dict[str, str], scratch: Path, name: str
) -> Iterator[PeerProcess]:
    """Run `command` from .venv-peers in a new process group (so that stopping it stops all)."""
    log_path = scratch / f"{name}.log"
    path = f"{PEERS_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    full_env = os.environ | {"PYTHONUNBUFFERED": "1", "PATH": path} | env
    full_env.pop("VIRTUAL_ENV", None)
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            list(command),
            env=full_env,
            cwd=scratch,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process = PeerProcess(popen, log_path)
    try:
        yield process
    finally:
        process.stop()


# ---------------------------------------------------------------- set-up and checks


def pinned(package: str, requirements: Path = PEERS_REQUIREMENTS) -> str:
    """The version requirements/peers.txt (a lock: `name==version \\` then its hashes) pins `package` at."""
    for line in requirements.read_text().splitlines():
        name, separator, version = line.split("#", 1)[0].strip().partition("==")
        if separator and name.strip().lower() == package:
            return version.rstrip("\\").strip()
    raise KeyError(f"{package} is not pinned in {requirements}")


def ensure_peers_venv() -> None:
    """Create .venv-peers, or bring it up to requirements/peers.txt, unless its stamp is newer."""
    if PEERS_STAMP.is_file() and PEERS_STAMP.stat().st_mtime >= PEERS_REQUIREMENTS.stat().st_mtime:
        return
    print(f"installing the peers into {PEERS_VENV.name} (requirements/peers.txt) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(PEERS_VENV)], check=True)
    # The service venv's pip (pinned in requirements/venv.txt) installs into the peers' venv: the
    # pip a new venv gets from ensurepip (23.2 with Python 3.11.7) refuses the lock in
    # hash-checking mode, taking LitServe's `uvicorn[standard]` for an unpinned requirement.
    pip = [sys.executable, "-m", "pip", "--python", str(PEERS_VENV / "bin" / "python"), "install"]
    pip += ["--quiet", "--require-hashes"]
    subprocess.run([*pip, "-r", str(PEERS_REQUIREMENTS)], check=True)
    PEERS_STAMP.touch()


def java_version() -> str:
    """The first line of `java -version`; exits with a clear message when there is no Java."""
    java = shutil.which("java")
    if java is None:
        raise SystemExit(
            "compare_servers: `java` not found on PATH. TorchServe's frontend is Java: install a "
            "JDK 17 (Debian: apt-get install openjdk-17-jre-headless) and run again."
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=True)
    return (result.stderr or result.stdout).splitlines()[0].strip()


def check_answers(name: str, url: str) -> None:
    """Every photo with a known answer is classified right (top-1), or the run stops here."""
    with httpx.Client(timeout=FIRST_ANSWER_TIMEOUT_S) as client:
        for photo, expected in photos.EXPECTED_TOP1.items():
            response = client.post(url, content=photos.encode(photo), headers={"content-type": "image/jpeg"})
            if response.status_code != 200:
                raise RuntimeError(f"{name}: {photo} answered {response.status_code}: {response.text[:500]}")
            top1 = response.json()["predictions"][0]["label"]
            if top1 not in expected:
                raise RuntimeError(f"{name}: {photo} classified {top1!r}, expected one of {sorted(expected)}")


def photo_files(directory: Path) -> list[Path]:
    """The four scikit-image photos at their own sizes, JPEG quality 90 (as bench_service.py)."""
    paths = []
    for name in PHOTOS:
        path = directory / f"{name}.jpg"
        path.write_bytes(photos.encode(name))
        paths.append(path)
    return paths


def photo_description() -> str:
    sizes = (f"{name} {photos.photo(name).width}x{photos.photo(name).height}" for name in PHOTOS)
    return ", ".join(sizes) + " (scikit-image), JPEG quality 90"


# ---------------------------------------------------------------- measuring


def measure(
    contender: Contender, files: list[Path], concurrencies: Sequence[int], seconds: float
) -> list[dict[str, Any]]:
    """One server alone: started, checked, loaded at each concurrency, stopped."""
    print(f"{contender.name} ...", file=sys.stderr)
    with (
        tempfile.TemporaryDirectory(prefix="compare-servers-") as scratch,
        contender.serve(Path(scratch)) as url,
    ):
        check_answers(contender.name, url)
        return [{"server": contender.name, **load(url, files, c, seconds)} for c in concurrencies]


def estimated_minutes(servers: int, concurrencies: int, seconds: float) -> float:
    load_s = concurrencies * (seconds + WARMUP_S + 1)  # + the client's start
    return servers * (START_AND_CHECK_S + load_s) / 60


# ---------------------------------------------------------------- the report


def ratios(runs: list[dict[str, Any]], peers: set[str]) -> list[dict[str, Any]]:
    """Per concurrency, each server against the best peer there (most images/s; the service is no peer).

    Throughput as server / best peer (above 1: more images/s); latencies as server / best peer
    (below 1: faster).
    """
    rows = []
    for concurrency in sorted({run["concurrency"] for run in runs}):
        here = [run for run in runs if run["concurrency"] == concurrency]
        candidates = [run for run in here if run["server"] in peers]
        if not candidates:
            continue
        best = max(candidates, key=lambda run: run["ok_rps"])
        for run in here:
            rows.append(
                {
                    "concurrency": concurrency,
                    "server": run["server"],
                    "best_peer": best["server"],
                    "images_per_s": _ratio(run["ok_rps"], best["ok_rps"]),
                    "p50": _ratio(run["p50_ms"], best["p50_ms"]),
                    "p99": _ratio(run["p99_ms"], best["p99_ms"]),
                }
            )
    return rows


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference else float("nan")


def _statuses(statuses: dict[str, int]) -> str:
    return ", ".join(f"{status}: {count}" for status, count in statuses.items()) or "none"


def markdown(report: dict[str, Any], command: str) -> str:
    machine = report["machine"]
    peers = {server["name"] for server in report["servers"] if server["peer"]}
    return "\n".join(
        [
            "# Performance beside other Python model servers",
            "",
            "This project's service beside LitServe and TorchServe: the same model, photos and load, one",
            "server at a time (each stopped before the next starts), in one run on one machine. The",
            "machine is shared and noisy: compare the ratios within this run, not numbers across runs.",
            "",
            f"Machine: {machine['cpu']}, {machine['cores']} cores; {report['date']}; Python "
            f"{machine['python']}; {machine['java']}.",
            "",
            "Produced by:",
            "",
            "```",
            command,
            "```",
            "",
            f"* Model: EfficientNet-Lite0's fp32 ONNX graph (`{report['peer_model']}`) on ONNX Runtime,",
            "  CPU, in both peers; the service serves the artifact its row names (name:version), with the",
            "  backend that artifact calls for.",
            f"* Photos, cycled by every connection: {report['photos']}.",
            "* Load: `benchmarks/load_client.py`, its own process, closed loop (each connection sends its",
            f"  next request when the answer arrives), {report['warmup_s']:g} s of warm-up then "
            f"{report['duration_s']:g} s measured, per server and concurrency.",
            "* Check: before it was measured, every server classified coffee, chelsea and rocket right",
            "  (top-1; coffee: espresso).",
            "",
            "| server | settings |",
            "|---|---|",
            *(f"| {server['name']} | {server['settings']} |" for server in report["servers"]),
            "",
            "| server | concurrency | images/s | p50 ms | p99 ms | statuses | socket errors "
            "| load client CPU ms/request |",
            "|---|---:|---:|---:|---:|---|---:|---:|",
            *(
                f"| {run['server']} | {run['concurrency']} | {run['ok_rps']:.1f} | {run['p50_ms']:.1f} "
                f"| {run['p99_ms']:.1f} | {_statuses(run['statuses'])} | {run['socket_errors']} "
                f"| {run['client_cpu_ms_per_request']:.2f} |"
                for run in report["runs"]
            ),
            "",
            "## Against the best peer",
            "",
            "Per concurrency, each server divided by the peer with the most images/s there (this",
            "project's service is not a peer): images/s above 1 is more throughput, latency below 1 is",
            "faster.",
            "",
            "| concurrency | server | best peer | images/s | p50 | p99 |",
            "|---:|---|---|---:|---:|---:|",
            *(
                f"| {row['concurrency']} | {row['server']} | {row['best_peer']} | {row['images_per_s']:.2f}x "
                f"| {row['p50']:.2f}x | {row['p99']:.2f}x |"
                for row in ratios(report["runs"], peers)
            ),
            "",
            "The load client shares the two cores with the server under test; its CPU per request (from",
            "its own process, warm-up and start included) is the last column of the first table.",
            "",
        ]
    )


def command_line(argv: Sequence[str]) -> str:
    """This invocation as one could paste it in the repository root."""

    def relative(path: str) -> str:
        with contextlib.suppress(ValueError):
            return str(Path(path).absolute().relative_to(REPO))
        return path

    return shlex.join([relative(sys.executable), relative(argv[0]), *argv[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance-peers.md")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds per run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--service-model-dir",
        type=Path,
        action="append",
        help=f"an artifact to serve the service with; repeatable (default {DEFAULT_SERVICE_MODEL_DIR})",
    )
    args = parser.parse_args()
    service_dirs: list[Path] = args.service_model_dir or [DEFAULT_SERVICE_MODEL_DIR]
    java = java_version()
    ensure_peers_venv()
    contenders = [
        *(service(directory.resolve()) for directory in service_dirs),
        litserve(PEER_MODEL_DIR),
        torchserve(PEER_MODEL_DIR),
    ]
    minutes = estimated_minutes(len(contenders), len(args.concurrency), args.duration)
    print(
        f"{len(contenders)} servers x concurrency {args.concurrency}: about {minutes:.0f} min",
        file=sys.stderr,
    )
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "java": java,
        },
        "peer_model": str(PEER_MODEL_DIR.relative_to(REPO) / "model.onnx"),
        "photos": photo_description(),
        "warmup_s": WARMUP_S,
        "duration_s": args.duration,
        "servers": [{"name": c.name, "peer": c.peer, "settings": c.settings} for c in contenders],
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="compare-servers-photos-") as scratch:
        files = photo_files(Path(scratch))
        for contender in contenders:
            report["runs"] += measure(contender, files, args.concurrency, args.duration)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown(report, command_line(sys.argv)))
    print(args.output.read_text())


if __name__ == "__main__":
    main()
