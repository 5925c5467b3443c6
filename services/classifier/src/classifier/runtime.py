"""The service's live state: settings, metrics, the loaded model and the lifecycle flags.

One instance per process, shared by the handlers (through dependency injection), the
start-up loader and the signal handler that starts a drain.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

from classifier.artifact import ArtifactError, ModelMetadata
from classifier.auth import TokenFile
from classifier.backends import chosen_backend, load_model, uses_accelerator
from classifier.config import Settings, env_name
from classifier.errors import ModelNotFound, NotReady
from classifier.faults import FaultInjector
from classifier.gpu_metrics import register_gpu_metrics
from classifier.inference import ImageClassifier
from classifier.metrics import ServiceMetrics
from classifier.tuning import Tuning

logger = logging.getLogger("classifier")


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or ServiceMetrics()
        self.faults = FaultInjector(settings)
        self.tokens = TokenFile(Path(settings.auth_tokens_file)) if settings.auth_tokens_file else None
        self.classifier: ImageClassifier | None = None
        self.draining = False
        self.load_error: str | None = None
        self.metrics.fault_injection.set(1 if self.faults.enabled else 0)
        self.gpu_metrics = register_gpu_metrics(self.metrics.registry)

    @property
    def ready(self) -> bool:
        """Ready: model loaded and warmed up, and not draining."""
        return self.classifier is not None and not self.draining

    def model(self, name: str | None = None) -> ImageClassifier:
        """The loaded model, if ``name`` (when given) is the one served; NotReady while loading."""
        served = self.served_model_name
        if name is not None and served is not None and name != served:
            raise ModelNotFound(f"no model named {name!r} is served here; try {served!r}")
        if self.classifier is None:
            raise NotReady("the model is still loading; retry shortly")
        return self.classifier

    async def load(self) -> None:
        """Load and warm up the model off the event loop; on failure record why."""
        if self.classifier is not None:
            return
        try:
            classifier = await asyncio.to_thread(self._load_blocking)
        except Exception as error:
            self.load_error = f"{type(error).__name__}: {error}"
            logger.exception("model load failed", extra={"event": "model_load_failed"})
            raise
        classifier.start()
        self.classifier = classifier
        self._publish_model(classifier)
        logger.info(
            "model ready",
            extra={
                "event": "model_ready",
                "model": classifier.metadata.name,
                "version": classifier.metadata.version,
                "drill_defect": classifier.metadata.drill_defect,
                "backend": classifier.backend.name,
                "device": classifier.backend.device,
                "tuning": dataclasses.asdict(classifier.tuning),
            },
        )

    def start_draining(self) -> None:
        if not self.draining:
            self.draining = True
            self.metrics.model_loaded.set(0)
            logger.info("draining: readiness now reports 503", extra={"event": "draining"})

    async def close(self) -> None:
        if self.classifier is not None:
            await self.classifier.stop()

    def _load_blocking(self) -> ImageClassifier:
        tuning = Tuning.resolve(
            self.settings, backend=chosen_backend(self.settings), accelerator=uses_accelerator(self.settings)
        )
        artifact, backend = load_model(
            self.settings,
            threads=tuning.inference_threads,
            alone_threads=tuning.alone_threads,
            callers=tuning.inference_workers,
        )
        self._refuse_unallowed_drill_defect(artifact.metadata)
        classifier = ImageClassifier(
            artifact.metadata,
            backend,
            self.metrics,
            tuning,
            max_image_pixels=self.settings.max_image_pixels,
            admission_wait_s=self.settings.admission_wait_ms / 1000.0,
        )
        classifier.warm_up()
        return classifier

    def _refuse_unallowed_drill_defect(self, metadata: ModelMetadata) -> None:
        """A drill artifact is a wrong model on purpose: never served unless a drill says so."""
        if metadata.drill_defect is None:
            return
        setting = env_name("allow_drill_defects")
        if not self.settings.allow_drill_defects:
            raise ArtifactError(
                f"{self.settings.model_dir} is a drill-only artifact with the deliberate defect "
                f"{metadata.drill_defect!r}; refusing to serve it (set {setting}=true only in a drill)"
            )
        logger.warning(
            f"SERVING A DEFECTIVE MODEL ({setting}, drill setting): its answers are wrong on purpose",
            extra={"event": "drill_defect_allowed", "drill_defect": metadata.drill_defect},
        )

    def _publish_model(self, classifier: ImageClassifier) -> None:
        meta = classifier.metadata
        self.metrics.model_info.labels(
            name=meta.name,
            version=meta.version,
            backend=classifier.backend.name,
            device=classifier.backend.device,
        ).set(1)
        self.metrics.model_loaded.set(1)

    @property
    def served_model_name(self) -> str | None:
        if self.classifier is None:
            return self.settings.model_name or None
        return self.settings.model_name or self.classifier.metadata.name
