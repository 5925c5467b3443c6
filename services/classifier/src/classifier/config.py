"""Service settings: declared once, read from the environment once, validated at start-up.

Nothing else in the service reads ``os.environ``. Every setting is an environment variable
named ``CLASSIFIER_<FIELD>``; a bad value raises :class:`SettingsError` naming the variable,
which the entry point turns into a one-line message and a non-zero exit.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

ENV_PREFIX = "CLASSIFIER_"

Backend = Literal["onnxruntime", "openvino", "torch"]
BackendSetting = Literal["auto", "onnxruntime", "openvino", "torch"]
DecodeStage = Literal["auto", "inline", "pool", "device"]
Device = Literal["auto", "cpu", "cuda"]
LogLevel = Literal["debug", "info", "warning", "error"]


class SettingsError(ValueError):
    """A setting has a value the service cannot run with."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Rule:
    holds: Callable[[Any], bool]
    description: str


_POSITIVE = _Rule(lambda value: value > 0, "must be greater than 0")
_NON_NEGATIVE = _Rule(lambda value: value >= 0, "must be 0 or more")
_FRACTION = _Rule(lambda value: 0.0 <= value <= 1.0, "must be between 0 and 1")
_AUTO_OR_NON_NEGATIVE = _Rule(lambda value: value == -1 or value >= 0, "must be -1 (auto) or 0 or more")
_PORT = _Rule(lambda value: 0 <= value <= 65535, "must be a TCP port (0-65535)")


def _setting(default: Any, help: str, rule: _Rule | None = None) -> Any:
    return dataclasses.field(default=default, metadata={"help": help, "rule": rule})


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service, with its default and the rule it must satisfy."""

    model_dir: Path = _setting(
        Path("artifacts/efficientnet-lite0/1"), "model artifact directory (made by `make model`)"
    )
    model_name: str = _setting("", "name the model is served under; default: the artifact's name")
    backend: BackendSetting = _setting(
        "auto",
        "inference backend; auto: the artifact's own CPU runtime (onnxruntime for a float32 ONNX "
        "artifact, openvino for an int8 OpenVINO one)",
    )
    device: Device = _setting("auto", "torch backend device; auto picks CUDA when present")
    host: str = _setting("127.0.0.1", "address to listen on")
    port: int = _setting(8000, "port to listen on", _PORT)
    max_body_bytes: int = _setting(8 * 1024 * 1024, "largest request body accepted", _POSITIVE)
    max_image_pixels: int = _setting(
        4096 * 4096,
        "largest image (width x height) accepted: 4096 x 4096; such a PNG costs ~0.25 s of CPU "
        "and ~100 MB to decode (docs/decisions.md)",
        _POSITIVE,
    )
    max_batch_size: int = _setting(
        0,
        "most images in one model call; 0 = auto (64 on GPU; on CPU 1, or 8 with OpenVINO: tuning.py)",
        _NON_NEGATIVE,
    )
    max_batch_wait_ms: float = _setting(
        -1.0,
        "longest the oldest queued image waits for a batch to fill; -1 = auto (0 CPU, 4 GPU)",
        _AUTO_OR_NON_NEGATIVE,
    )
    queue_capacity: int = _setting(
        0,
        "images admitted at once (body arriving, decoding, queued, computing); more wait in line "
        "(CLASSIFIER_ADMISSION_WAIT_MS), then get 429; 0 = auto",
        _NON_NEGATIVE,
    )
    admission_wait_ms: float = _setting(
        1000.0,
        "longest a request waits in line for a place when the pipeline is full, before 429",
        _NON_NEGATIVE,
    )
    inference_workers: int = _setting(
        0, "model calls that run at once; 0 = auto (one per CPU, 2 on GPU)", _NON_NEGATIVE
    )
    inference_threads: int = _setting(
        0, "threads one model call may use; 0 = auto (1 with several workers)", _NON_NEGATIVE
    )
    decode_stage: DecodeStage = _setting(
        "auto",
        "where images are decoded: inline (by the inference worker, just before its model call: "
        "one pipeline per core), pool (own threads) or device (JPEGs batched on the torch backend's "
        "device, nvJPEG on a GPU; the rest inline); auto = inline on CPU, pool on GPU",
    )
    decode_workers: int = _setting(0, "threads of the decode pool; 0 = one per CPU", _NON_NEGATIVE)
    request_timeout_s: float = _setting(
        5.0, "deadline per request; a client may ask for less with X-Request-Timeout-Ms", _POSITIVE
    )
    shutdown_timeout_s: float = _setting(
        20.0, "most seconds to wait for in-flight requests after SIGTERM", _NON_NEGATIVE
    )
    drain_delay_s: float = _setting(
        0.0,
        "seconds to keep serving (readiness 503) after SIGTERM before closing the listener",
        _NON_NEGATIVE,
    )
    metrics_port: int = _setting(
        0,
        "serve /metrics on this port instead of the API port (only Prometheus may reach it); 0 = off",
        _PORT,
    )
    auth_tokens_file: str = _setting(
        "", "file of bearer tokens (one per line) required by the inference routes; empty = no auth"
    )
    log_level: LogLevel = _setting("info", "log level")
    fault_latency_ms: float = _setting(
        0.0, "DRILL ONLY: extra latency added to every inference request", _NON_NEGATIVE
    )
    fault_error_rate: float = _setting(
        0.0, "DRILL ONLY: fraction of inference requests answered 500", _FRACTION
    )
    allow_drill_defects: bool = _setting(
        False,
        "DRILL ONLY: serve a model artifact built with a deliberate defect (its metadata's "
        "drill_defect, from `make drill-models`); otherwise the service refuses to load one",
    )

    @property
    def faults_enabled(self) -> bool:
        return self.fault_latency_ms > 0 or self.fault_error_rate > 0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``CLASSIFIER_*`` variables; raise SettingsError on a bad one."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            variable = env_name(field.name)
            raw = environ.get(variable)
            if raw is None:
                continue
            value = _parse(variable, raw.strip(), field)
            _check(variable, raw.strip(), value, field)
            values[field.name] = value
        return cls(**values)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field against its rule (also for settings built in code)."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            _check(env_name(field.name), str(value), value, field)
        if self.decode_stage == "device" and self.backend != "torch":
            raise SettingsError(
                f"{env_name('decode_stage')}=device decodes on the torch backend's device: "
                f"set {env_name('backend')}=torch (it is {self.backend!r})"
            )


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, help) for every setting, for documentation."""
    return [(env_name(f.name), str(f.default), f.metadata["help"]) for f in dataclasses.fields(Settings)]


def _check(variable: str, shown: str, value: Any, field: dataclasses.Field[Any]) -> None:
    rule: _Rule | None = field.metadata["rule"]
    if rule is not None and not rule.holds(value):
        raise SettingsError(f"{variable}={shown!r} is invalid: {rule.description} ({field.metadata['help']})")


def _parse(variable: str, raw: str, field: dataclasses.Field[Any]) -> Any:
    kind = field.type if not isinstance(field.type, str) else _TYPES[field.type]
    choices = get_args(kind)
    try:
        if choices:
            value = raw.lower()
            if value not in choices:
                raise ValueError(f"expected one of {', '.join(choices)}")
            return value
        if kind is bool:
            return _parse_bool(raw)
        return kind(raw)
    except ValueError as error:
        reason = str(error) if choices else f"expected {kind.__name__}"
        raise SettingsError(f"{variable}={raw!r} is invalid: {reason}") from None


def _parse_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


# Field annotations are strings under `from __future__ import annotations`.
_TYPES: dict[str, Any] = {
    "Path": Path,
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "BackendSetting": BackendSetting,
    "DecodeStage": DecodeStage,
    "Device": Device,
    "LogLevel": LogLevel,
}
