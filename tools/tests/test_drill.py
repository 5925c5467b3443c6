"""The canary drill against a real Prometheus: the analysis passes a healthy canary, fails the
erroring and the slow ones, calls an idle one Inconclusive, and the burn-rate alert's
expression is true for the erroring canary only. About a minute."""

from __future__ import annotations

import pytest

from gitops.drill import ARTIFACT, run_drill


@pytest.fixture(scope="module")
def artifact_built() -> None:
    if not (ARTIFACT / "metadata.json").is_file():
        from classifier.modelbuild.cli import build
        from classifier.modelbuild.variants import VARIANTS

        build(VARIANTS["lite0"], "1", ARTIFACT.parents[1])


def test_drill_stops_bad_canaries_and_pages_for_errors(artifact_built: None) -> None:
    report = run_drill(load_seconds=40)
    assert report.problems() == [], report.table()
    assert report.verdicts["healthy"]["error-rate"][0] == "Successful"
    assert report.verdicts["errors"]["error-rate"][1][0] > 0.0144
    assert report.verdicts["slow"]["latency-p99"][1][0] > 0.3
    assert report.verdicts["idle"]["latency-p99"][0] == "Inconclusive"
    assert report.seconds < 180
