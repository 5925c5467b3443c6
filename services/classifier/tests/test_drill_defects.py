"""Drill-only defective artifacts: refused at start-up unless a drill allows them, then served
fast, with 200s, and wrong."""

from __future__ import annotations

from typing import Any

import pytest

from classifier_testkit import photos
from classifier_testkit.artifacts import drill_artifact
from classifier_testkit.classify import classify
from classifier_testkit.server import ServerProcess, StartServer

# A colour photo whose top-1 each input defect changes by a wide margin (lampshade, 0.25, becomes
# jellyfish or tick); on coffee espresso survives them all.
PHOTO = "retina"


@pytest.fixture(scope="module")
def photo_jpeg() -> bytes:
    return photos.encode(PHOTO)


def _predictions(server: ServerProcess, body: bytes) -> list[dict[str, Any]]:
    response = classify(server, body)
    assert response.status_code == 200
    predictions: list[dict[str, Any]] = response.json()["predictions"]
    return predictions


def test_service_refuses_a_drill_artifact_by_default(start_server: StartServer) -> None:
    server = start_server(wait=False, model_dir=str(drill_artifact("shuffled-labels")))
    assert server.process.wait(timeout=120) == 1
    (last_line,) = server.log().strip().splitlines()[-1:]
    assert last_line.startswith("classifier: model load failed: ArtifactError: ")
    assert "deliberate defect 'shuffled-labels'" in last_line
    assert "CLASSIFIER_ALLOW_DRILL_DEFECTS=true" in last_line


def test_shuffled_labels_name_the_same_index_differently(
    start_server: StartServer, server: ServerProcess, photo_jpeg: bytes
) -> None:
    drill = start_server(model_dir=str(drill_artifact("shuffled-labels")), allow_drill_defects="true")
    healthy_top, drill_top = _predictions(server, photo_jpeg)[0], _predictions(drill, photo_jpeg)[0]
    assert drill_top["index"] == healthy_top["index"]
    assert drill_top["score"] == pytest.approx(healthy_top["score"], abs=1e-4)
    assert drill_top["label"] != healthy_top["label"]
    drill.stop()


@pytest.mark.parametrize("defect", ["swapped-channels", "wrong-normalisation", "wrong-crop"])
def test_an_input_defect_changes_the_top_1_on_a_colour_photo(
    defect: str, start_server: StartServer, server: ServerProcess, photo_jpeg: bytes
) -> None:
    drill = start_server(model_dir=str(drill_artifact(defect)), allow_drill_defects="true")
    (ready,) = [record for record in drill.log_records() if record.get("event") == "model_ready"]
    assert ready["drill_defect"] == defect
    assert any(record.get("event") == "drill_defect_allowed" for record in drill.log_records())
    assert drill.client.get("/v2/models/efficientnet-lite0").json()["versions"] == ["1"]  # as healthy
    assert _predictions(drill, photo_jpeg)[0]["index"] != _predictions(server, photo_jpeg)[0]["index"]
    drill.stop()
