"""GPU benchmark (issue #18): the service on one GPU over HTTP from 1 to 512 clients, and in-process
figures; writes docs/performance-gpu.md (and .json) with the command that produced it.

    make gpu-wheels   # once, where PyPI is reachable: the wheels a bare GPU machine lacks
    make bench-gpu    # on the GPU machine, offline; about 4 minutes

Everything runs in one invocation on one machine, with the benchmark's six-photo mix:
  * in-process: the torch backend's first call and steady speed at every batch bucket (the
    per-shape cost the buckets and the warm-up exist for), the bare model at batch 64 and 256
    (inputs already on the device), and CPU decode + preprocess on every core;
  * parity: the top-5 of the GPU path against ONNX Runtime on the CPU, on the mix and the model
    build's parity photos (Pillow-decoded pixels, as the service decodes them);
  * HTTP, closed loop: the time to ready, the first request after readiness, then c = 1, 32, 128,
    256, 512, the clients split over several `load_client.py` processes (each reports its own CPU,
    so a saturated client shows), GPU utilisation sampled through NVML during each run, and the
    mean batch from the service's own classifier_batch_size histogram;
  * the issue's targets, judged from those numbers, next to the issue's "before" table.

`--device cpu` runs the same code on the CPU (the test suite does, on a short run), so the script
stays runnable where no GPU is lent; its numbers then say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from bench_service import CLIENT, DEFAULT_MODEL_DIR, REPO, photo_mix

from classifier.artifact import load_artifact
from classifier.backends import load_model
from classifier.buckets import power_of_two_buckets
from classifier.config import DecodeStage, Device, Settings
from classifier.device_decode import DeviceDecoder, synchronise
from classifier.prepare import ImagePreparation
from classifier.tuning import Tuning
from classifier_modelbuild.parity import PARITY_PHOTOS, top5
from classifier_testkit import photos
from classifier_testkit.server import ServerProcess, local_server

CONCURRENCIES = (1, 32, 128, 256, 512)
COMMAND = "make bench-gpu   # = python3 benchmarks/gpu_setup.py run -- python3 benchmarks/bench_gpu.py"
# Issue #18's table: main before the batch buckets (torch backend, CUDA, GPU defaults, same mix),
# on one NVIDIA H200 with 16 cores, as the issue reports it.
BEFORE = (
    {"concurrency": 1, "images_per_s": 51, "p50_ms": 13.5, "p99_ms": 47, "mean_batch": 1.0, "gpu": 0.045},
    {"concurrency": 32, "images_per_s": 6.1, "p50_ms": 3709, "p99_ms": 6203, "mean_batch": 9.7, "gpu": 0.0},
    {
        "concurrency": 128,
        "images_per_s": 48.5,
        "p50_ms": 2552,
        "p99_ms": 5601,
        "mean_batch": 41,
        "gpu": 0.002,
    },
    {"concurrency": 256, "images_per_s": 112, "p50_ms": 289, "p99_ms": 3423, "mean_batch": 54, "gpu": 0.008},
    {"concurrency": 512, "images_per_s": 262, "p50_ms": 2570, "p99_ms": 3188, "mean_batch": 55, "gpu": 0.012},
)
# "Never falls" within this: two runs of the same point differ by a few percent.
RUN_TO_RUN_NOISE = 0.05


def ensure_model(model_dir: Path) -> None:
    """Build the float32 artifact where it is missing (about 10 s on the GPU machine)."""
    if (model_dir / "metadata.json").is_file():
        return
    print(f"building {model_dir} ...", file=sys.stderr)
    subprocess.run(
        [sys.executable, "-m", "classifier_modelbuild.cli", "--variant", "lite0", "--version", model_dir.name,
         "--output", str(model_dir.parents[1])],
        check=True,
    )  # fmt: skip


# ---------------------------------------------------------------- in-process


def buckets_first_and_steady(
    model_dir: Path, device: Device, max_batch: int, calls: int
) -> list[dict[str, float]]:
    """Each bucket's first call (the per-shape cost) and its steady images/s, through the backend."""
    _, backend = load_model(
        Settings(model_dir=model_dir, backend="torch", device=device), threads=os.cpu_count() or 1
    )
    rows = []
    for size in power_of_two_buckets(max_batch):
        batch = np.zeros((size, 3, 224, 224), dtype=np.float32)
        started = time.perf_counter()
        backend.predict(batch)
        first = time.perf_counter() - started
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            backend.predict(batch)
            times.append(time.perf_counter() - started)
        steady = statistics.median(times)
        rows.append({"batch": size, "first_call_ms": first * 1000, "steady_ms": steady * 1000,
                     "images_per_s": size / steady})  # fmt: skip
    return rows


def bare_model(model_dir: Path, device: Device, sizes: tuple[int, ...], calls: int) -> list[dict[str, float]]:
    """The TorchScript model alone, its inputs already on the device: what the GPU itself allows."""
    import torch

    cuda = device.startswith("cuda")
    dtype = torch.float16 if cuda else torch.float32
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    module = torch.jit.load(str(model_dir / "model.torchscript.pt"), map_location=device)  # type: ignore[no-untyped-call]
    module = module.to(dtype=dtype, memory_format=memory_format).eval()
    rows = []
    with torch.inference_mode():
        for size in sizes:
            inputs = torch.zeros((size, 3, 224, 224), device=device, dtype=dtype).to(
                memory_format=memory_format
            )
            for _ in range(3):
                module(inputs)
            synchronise(device)
            started = time.perf_counter()
            for _ in range(calls):
                module(inputs)
            synchronise(device)
            rows.append({"batch": size, "images_per_s": size * calls / (time.perf_counter() - started)})
    return rows


def decode_on_cpu(model_dir: Path, bodies: list[bytes], threads: int, seconds: float) -> dict[str, float]:
    """Decode + preprocess (the service's own stage) on ``threads`` threads: the CPU's image supply."""
    prepare = ImagePreparation(load_artifact(model_dir, verify=()).metadata.preprocessing, max_pixels=10**8)
    stop = time.perf_counter() + seconds

    def loop(offset: int) -> int:
        done = 0
        while time.perf_counter() < stop:
            prepare(bodies[(offset + done) % len(bodies)])
            done += 1
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        total = sum(pool.map(loop, range(threads)))
    return {"threads": threads, "images_per_s": total / (time.perf_counter() - started)}


def device_decode(
    model_dir: Path, device: Device, bodies: list[bytes], batch: int, seconds: float
) -> dict[str, float]:
    """Images/s of the service's decode on the device (CLASSIFIER_DECODE_STAGE=device, nvJPEG
    through TorchCodec on CUDA) in batches of ``batch`` from one thread, resize and crop included."""
    decode = DeviceDecoder(load_artifact(model_dir, verify=()).metadata.preprocessing, 10**8, device)
    batches = [[bodies[(start + i) % len(bodies)] for i in range(batch)] for start in range(len(bodies))]
    decode(batches[0])
    synchronise(device)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        decode(batches[done // batch % len(batches)])
        done += batch
    synchronise(device)
    return {"batch": batch, "images_per_s": done / (time.perf_counter() - started)}


def device_decode_problem(model_dir: Path, device: Device, body: bytes) -> str | None:
    """Why the decode on the device cannot run here (TorchCodec missing or not built for this
    torch), or None: the benchmark then measures everything else and says so."""
    try:
        DeviceDecoder(load_artifact(model_dir, verify=()).metadata.preprocessing, 10**8, device)([body])
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


def top5_parity(
    model_dir: Path, device: Device, files: list[Path], *, on_device: bool = True
) -> list[dict[str, Any]]:
    """Top-5 of ONNX Runtime on the CPU (the service's CPU path), of the torch backend on ``device``
    (the GPU path), and of the torch backend on pixels decoded on the device (`device_decoder`)."""
    spec = load_artifact(model_dir, verify=()).metadata.preprocessing
    prepare = ImagePreparation(spec, max_pixels=10**8)
    decode = DeviceDecoder(spec, 10**8, device) if on_device else None
    _, gpu = load_model(Settings(model_dir=model_dir, backend="torch", device=device), threads=1)
    _, cpu = load_model(Settings(model_dir=model_dir, backend="onnxruntime"), threads=1)
    named = [(path.name, path.read_bytes()) for path in files]
    named += [(f"parity:{name}", photos.encode(name)) for name in PARITY_PHOTOS]
    rows = []
    for name, body in named:
        tensor = prepare(body).tensor[None]
        cpu_top5 = top5(cpu.predict(tensor))[0]
        gpu_top5 = top5(gpu.predict(tensor))[0]
        decoded_top5 = top5(gpu.predict(decode([body]).tensor.cpu().numpy()))[0] if decode else None
        rows.append({
            "photo": name, "cpu": cpu_top5, "device": gpu_top5, "same": set(cpu_top5) == set(gpu_top5),
            "device_decoded": decoded_top5,
            "device_decoded_same": None if decoded_top5 is None else set(cpu_top5) == set(decoded_top5),
        })  # fmt: skip
    return rows


# ---------------------------------------------------------------- HTTP


class GpuSampler:
    """NVML utilisation sampled every 100 ms while a run lasts (nothing on a machine without NVML)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._handle: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml: Any = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception:  # no library, driver or device
            self._handle = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def available(self) -> bool:
        return self._handle is not None

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            if self._handle is not None:
                self.samples.append(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu / 100)

    def __enter__(self) -> GpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def mean(self) -> float | None:
        return statistics.fmean(self.samples) if self.samples else None


def batch_totals(server: ServerProcess) -> tuple[float, float]:
    """(sum, count) of the service's classifier_batch_size histogram."""
    return server.metric("classifier_batch_size_sum"), server.metric("classifier_batch_size_count")


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Load:
    seconds: float
    warmup: float
    clients: int


def split(concurrency: int, clients: int) -> list[int]:
    """``concurrency`` connections over at most ``clients`` processes, as evenly as can be."""
    processes = max(1, min(clients, concurrency))
    return [concurrency // processes + (i < concurrency % processes) for i in range(processes)]


def http_point(server: ServerProcess, files: list[Path], concurrency: int, load: Load) -> dict[str, Any]:
    """One closed-loop run: the clients' answers merged (latencies of 200 answers only), and the
    service's batches, CPU and the GPU over the measured seconds (after the clients' warm-up)."""
    pid = server.pid
    url = server.base_url + "/v1/classify"
    command = [sys.executable, str(CLIENT), "--url", url, "--duration", str(load.seconds),
               "--warmup", str(load.warmup), "--raw-latencies"]  # fmt: skip
    processes = [
        subprocess.Popen([*command, "--concurrency", str(share), *map(str, files)], stdout=subprocess.PIPE)
        for share in split(concurrency, load.clients)
    ]
    time.sleep(load.warmup)
    batch_before, cpu_before = batch_totals(server), process_cpu_seconds(pid)
    with GpuSampler() as gpu:
        started = time.perf_counter()
        outputs = [json.loads(process.communicate()[0]) for process in processes]
        wall = time.perf_counter() - started
    batch_after = batch_totals(server)
    latencies = sorted(
        value for output in outputs for value in output["latencies_ms_by_status"].get("200", [])
    )
    statuses: dict[str, int] = {}
    for output in outputs:
        for status, count in output["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    batches = batch_after[1] - batch_before[1]
    row = {
        "concurrency": concurrency,
        "client_processes": len(processes),
        "images_per_s": sum(o["ok_rps"] for o in outputs),
        "p50_ms": float(np.percentile(latencies, 50)) if latencies else float("nan"),
        "p99_ms": float(np.percentile(latencies, 99)) if latencies else float("nan"),
        "statuses": statuses,
        "socket_errors": sum(o["socket_errors"] for o in outputs),
        "mean_batch": (batch_after[0] - batch_before[0]) / batches if batches else float("nan"),
        "gpu_utilisation": gpu.mean(),
        "server_cores": (process_cpu_seconds(pid) - cpu_before) / wall,
        "busiest_client_core": max(o["client_cpu_s"] for o in outputs) / (load.warmup + wall),
    }
    print(
        f"  c={concurrency}: {row['images_per_s']:.1f}/s p50 {row['p50_ms']:.1f} p99 {row['p99_ms']:.1f} "
        f"batch {row['mean_batch']:.1f} {statuses}",
        file=sys.stderr,
    )
    return row


def broken_jpegs(files: list[Path]) -> list[bytes]:
    """JPEGs a client may send broken: cut short, a scan overwritten, a header hit, bytes flipped."""
    broken = []
    for path in files[:4]:
        data = path.read_bytes()
        broken += [data[: len(data) // 2], data[:600] + bytes(2000) + data[2600:]]
        zeroed = bytearray(data)
        zeroed[len(data) // 3 : len(data) // 3 + 512] = bytes(512)
        broken.append(bytes(zeroed))
        flipped = bytearray(data)
        for position in range(700, len(data), 997):
            flipped[position] ^= 0x5A
        broken.append(bytes(flipped))
    return broken


def hostile_check(server: ServerProcess, files: list[Path]) -> dict[str, Any]:
    """Broken JPEGs one after another, then a good one: the statuses, and whether it still serves."""
    statuses: dict[str, int] = {}
    for body in broken_jpegs(files):
        status = server.client.post("/v1/classify", content=body, headers={"Content-Type": "image/jpeg"})
        statuses[str(status.status_code)] = statuses.get(str(status.status_code), 0) + 1
    good = server.client.post(
        "/v1/classify", content=files[0].read_bytes(), headers={"Content-Type": "image/jpeg"}
    )
    return {"statuses": statuses, "still_serves": good.status_code == 200}


def http_runs(
    model_dir: Path,
    device: Device,
    files: list[Path],
    concurrencies: tuple[int, ...],
    load: Load,
    max_batch: int,
    decode_stage: DecodeStage,
) -> dict[str, Any]:
    print(f"HTTP, CLASSIFIER_DECODE_STAGE={decode_stage} ...", file=sys.stderr)
    env = {
        "CLASSIFIER_DECODE_STAGE": decode_stage,
        "CLASSIFIER_MODEL_DIR": str(model_dir),
        "CLASSIFIER_BACKEND": "torch",
        "CLASSIFIER_DEVICE": device,
        "CLASSIFIER_MAX_BATCH_SIZE": str(max_batch),
        "CLASSIFIER_LOG_LEVEL": "warning",
    }
    started = time.perf_counter()
    with local_server(env) as server:
        ready_s = time.perf_counter() - started
        body = files[0].read_bytes()
        sent = time.perf_counter()
        answer = server.client.post("/v1/classify", content=body, headers={"Content-Type": "image/jpeg"})
        first_ms = (time.perf_counter() - sent) * 1000
        answer.raise_for_status()
        rows = [http_point(server, files, c, load) for c in concurrencies]
        hostile = hostile_check(server, files)
        fallbacks = server.metric("classifier_device_decode_fallbacks_total")
    return {"ready_s": ready_s, "first_request_ms": first_ms, "rows": rows, "broken_jpegs": hostile,
            "device_decode_fallbacks": fallbacks}  # fmt: skip


# ---------------------------------------------------------------- report


def targets(
    http: dict[str, Any], parity: list[dict[str, Any]], same: str = "same"
) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each of issue #18's targets one HTTP configuration measured;
    ``same``: the parity rows' key for that configuration's top-5 verdict."""
    rows = http["rows"]
    falls = [
        f"c={b['concurrency']} {b['images_per_s']:.0f} < c={a['concurrency']} {a['images_per_s']:.0f}"
        for a, b in itertools.pairwise(rows)
        if b["images_per_s"] < a["images_per_s"] * (1 - RUN_TO_RUN_NOISE)
    ]
    result = [
        ("images/s never falls as concurrency rises", "; ".join(falls) or "never falls", not falls),
        ("first request after readiness ≤ 20 ms", f"{http['first_request_ms']:.1f} ms",
         http["first_request_ms"] <= 20),
    ]  # fmt: skip
    wanted = {1: (None, None, 5.0), 32: (1500, 60, None), 256: (4000, 150, None)}
    for concurrency, (rate, p99, p50) in wanted.items():
        row = next((r for r in rows if r["concurrency"] == concurrency), None)
        if row is None:
            continue
        if p50 is not None:
            result.append(
                (f"c={concurrency} p50 ≤ {p50:g} ms", f"{row['p50_ms']:.1f} ms", row["p50_ms"] <= p50)
            )
        if rate is not None and p99 is not None:
            refused = sum(count for status, count in row["statuses"].items() if status != "200")
            result.append((
                f"c={concurrency} ≥ {rate:,} images/s, p99 ≤ {p99} ms",
                f"{row['images_per_s']:,.0f} images/s, p99 {row['p99_ms']:.0f} ms"
                + (f", {refused} answers not 200" if refused else ""),
                row["images_per_s"] >= rate and row["p99_ms"] <= p99 and not refused,
            ))  # fmt: skip
    broken = http["broken_jpegs"]
    server_errors = sum(count for status, count in broken["statuses"].items() if status.startswith("5"))
    result.append(("broken JPEGs: no 5xx, and the service still answers",
                   f"{broken['statuses']}, then a good JPEG: {'200' if broken['still_serves'] else 'failed'}",
                   not server_errors and broken["still_serves"]))  # fmt: skip
    differing = [r["photo"] for r in parity if not r[same]]
    result.append(("same top-5 as the CPU path (mix and parity photos)",
                   ", ".join(differing) or f"all {len(parity)} photos", not differing))  # fmt: skip
    return result


def _http_section(title: str, http: dict[str, Any], load: dict[str, Any]) -> list[str]:
    return [
        f"## {title}",
        "",
        f"Ready {http['ready_s']:.1f} s after start (every bucket warmed first); the first request after "
        f"readiness took {http['first_request_ms']:.1f} ms. {load['seconds']:g} s measured per point after "
        f"{load['warmup']:g} s of warm-up; the clients split over up to {load['clients']} processes. "
        f"Latencies are those of 200 answers. Afterwards {sum(http['broken_jpegs']['statuses'].values())} "
        f"broken JPEGs were answered {http['broken_jpegs']['statuses']}; images the device could not "
        f"decode and the CPU prepared instead: {http['device_decode_fallbacks']:.0f}.",
        "",
        "| concurrency | images/s | p50 ms | p99 ms | mean batch | GPU utilisation | server cores "
        "| busiest client core | statuses |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        *(
            f"| {r['concurrency']} | {r['images_per_s']:,.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['mean_batch']:.1f} | {_percent(r['gpu_utilisation'])} | {r['server_cores']:.2f} | "
            f"{r['busiest_client_core']:.0%} | {r['statuses']} |"
            for r in http["rows"]
        ),
        "",
    ]


def _device_decode_line(report: dict[str, Any]) -> str:
    if report["device_decode_problem"]:
        return f"Decode on the device not run: {report['device_decode_problem']}."
    measured = report["in_process"]["device_decode"]
    return (
        "Decode on the device (CLASSIFIER_DECODE_STAGE=device: TorchCodec's batched `decode_jpeg`, nvJPEG on "
        f"CUDA, then resize, crop and normalise there), batches of {measured['batch']} from one thread: "
        f"{measured['images_per_s']:,.0f} images/s."
    )


def _decoded_verdict(row: dict[str, Any]) -> str:
    if row["device_decoded_same"] is None:
        return "not run"
    return "yes" if row["device_decoded_same"] else f"**no** {row['device_decoded']}"


def _verdict(met: bool) -> str:
    return "yes" if met else "**no**"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def markdown(report: dict[str, Any], command: str) -> str:
    shipped = targets(report["http"], report["parity"])
    problem = report["device_decode_problem"]
    on_device = (
        {}
        if problem
        else {
            name: (value, _verdict(met))
            for name, value, met in targets(
                report["http_device_decode"], report["parity"], "device_decoded_same"
            )
        }
    )
    not_run = ("not run", "")
    lines = [
        "# GPU performance",
        "",
        f"Generated by `{command}` on {report['date']}: {report['machine']}. Do not edit by hand.",
        "",
        "## Targets (issue #18)",
        "",
        "As shipped (CLASSIFIER_DECODE_STAGE=auto: decode on CPU threads), and with the decode on the device "
        "(CLASSIFIER_DECODE_STAGE=device), the candidate these numbers decide on.",
        "",
        "| target | as shipped | met | decode on the device | met |",
        "|---|---|---|---|---|",
        *(
            f"| {name} | {value} | {_verdict(met)} | {' | '.join(on_device.get(name, not_run))} |"
            for name, value, met in shipped
        ),
        "",
        *_http_section("HTTP, closed loop, as shipped (after)", report["http"], report["load"]),
        *(
            [f"Decode on the device **not run**: {problem}", ""]
            if problem
            else _http_section(
                "HTTP, closed loop, decode on the device", report["http_device_decode"], report["load"]
            )
        ),
        "## Before (issue #18: main before the batch buckets, one H200)",
        "",
        "| concurrency | images/s | p50 ms | p99 ms | mean batch | GPU utilisation |",
        "|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {r['concurrency']} | {r['images_per_s']:g} | {r['p50_ms']:g} | {r['p99_ms']:g} | "
            f"{r['mean_batch']:g} | {r['gpu']:.1%} |"
            for r in BEFORE
        ),
        "",
        "## In-process",
        "",
        "Every batch bucket through the backend (host copies included): its first call, what a shape "
        "costs before the warm-up, and its steady speed.",
        "",
        "| batch | first call ms | steady ms | images/s |",
        "|---:|---:|---:|---:|",
        *(
            f"| {r['batch']} | {r['first_call_ms']:.1f} | {r['steady_ms']:.2f} | {r['images_per_s']:,.0f} |"
            for r in report["in_process"]["buckets"]
        ),
        "",
        "The model alone, inputs already on the device: "
        + ", ".join(
            f"batch {r['batch']}: {r['images_per_s']:,.0f} images/s" for r in report["in_process"]["bare"]
        )
        + f". Decode + preprocess on the CPU, {report['in_process']['decode']['threads']} threads: "
        f"{report['in_process']['decode']['images_per_s']:,.0f} images/s. {_device_decode_line(report)}",
        "",
        "## Top-5 against the CPU path",
        "",
        "The GPU path must keep the CPU path's top-5 (the issue's parity criterion); so must the decode "
        "on the device, whose pixels differ from Pillow's.",
        "",
        "| photo | same top-5 | CPU (ONNX Runtime) | this device (torch) "
        "| decoded on the device: same top-5 |",
        "|---|---|---|---|---|",
        *(
            f"| {r['photo']} | {'yes' if r['same'] else '**no**'} | {r['cpu']} | {r['device']} | "
            f"{_decoded_verdict(r)} |"
            for r in report["parity"]
        ),
        "",
    ]
    return "\n".join(lines)


def machine(device: str) -> str:
    cpus = os.cpu_count() or 1
    name = "CPU only"
    if device.startswith("cuda"):
        import torch

        name = torch.cuda.get_device_name(0)
    return f"{name}, {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    parser.add_argument(
        "--device", choices=("cuda", "cpu"), default="cuda", help="cpu: try the script where no GPU is"
    )
    parser.add_argument("--concurrency", default=",".join(map(str, CONCURRENCIES)), help="comma-separated")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per HTTP point")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each point")
    parser.add_argument("--clients", type=int, default=8, help="load client processes, at most")
    parser.add_argument(
        "--max-batch", type=int, default=0, help="the largest batch; 0 = the service's GPU default"
    )
    parser.add_argument("--calls", type=int, default=20, help="steady calls per in-process figure")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "performance-gpu.md")
    args = parser.parse_args(argv)
    gpu_default = Tuning.resolve(Settings(), backend="torch", accelerator=True).max_batch_size
    max_batch = args.max_batch or gpu_default
    concurrencies = tuple(int(c) for c in args.concurrency.split(","))
    load = Load(args.seconds, args.warmup, args.clients)
    ensure_model(args.model_dir)
    cpus = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as scratch:
        files = photo_mix(Path(scratch))
        bodies = [path.read_bytes() for path in files]
        print("in-process ...", file=sys.stderr)
        in_process = {
            "buckets": buckets_first_and_steady(args.model_dir, args.device, max_batch, args.calls),
            "bare": bare_model(args.model_dir, args.device, (max_batch, 4 * max_batch), args.calls),
            "decode": decode_on_cpu(args.model_dir, bodies, cpus, args.seconds / 3),
        }
        problem = device_decode_problem(args.model_dir, args.device, bodies[0])
        if problem is None:
            in_process["device_decode"] = device_decode(
                args.model_dir, args.device, bodies, max_batch, args.seconds / 3
            )
        parity = top5_parity(args.model_dir, args.device, files, on_device=problem is None)
        stages: tuple[DecodeStage, ...] = ("auto",) if problem else ("auto", "device")
        http = {"auto": http_runs(args.model_dir, args.device, files, concurrencies, load, max_batch, "auto")}
        if "device" in stages:
            try:
                http["device"] = http_runs(
                    args.model_dir, args.device, files, concurrencies, load, max_batch, "device"
                )
            except Exception as error:  # keep what was measured; say why this half is missing
                problem = f"the service with the decode on the device failed: {type(error).__name__}: {error}"
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": machine(args.device),
        "device": args.device,
        "load": {"seconds": load.seconds, "warmup": load.warmup, "clients": load.clients},
        "in_process": in_process,
        "parity": parity,
        "http": http["auto"],  # as shipped: what `make cost` prices
        "http_device_decode": http.get("device"),
        "device_decode_problem": problem,
    }
    report["targets"] = [
        {"target": n, "measured": v, "met": m} for n, v, m in targets(report["http"], report["parity"])
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown(report, COMMAND))
    args.output.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(args.output.read_text())


if __name__ == "__main__":
    main()
