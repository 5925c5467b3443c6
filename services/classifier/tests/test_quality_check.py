"""The paired model-quality check against real servers: the same model passes, the same model
behind a defect fails, a golden set that changed or a service that does not answer gives no
verdict. (lite0 -> lite2, a different model that must pass, is the drill's: it needs lite2.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifier.quality_check import CheckError, Client, Floors, FloorsByKind, kinship, main, run_check
from classifier_modelbuild.golden import write_golden_set
from classifier_testkit.artifacts import drill_artifact, int8_artifact
from classifier_testkit.ports import free_port
from classifier_testkit.server import ServerProcess, StartServer

# Test floors, not platform/slo/slos.yaml's: these tests are about the check's logic.
SAME_MODEL = Floors(agreement=0.95, top5_overlap=0.95, accuracy=0.6)
NEW_MODEL = Floors(agreement=0.3, top5_overlap=0.4, accuracy=0.6)
FLOORS = FloorsByKind(SAME_MODEL, Floors(agreement=0.85, top5_overlap=0.85, accuracy=0.6), NEW_MODEL)
FLOOR_ARGS = [
    "--same-model-min-agreement=0.95",
    "--same-model-min-top5-overlap=0.95",
    "--same-network-min-agreement=0.85",
    "--same-network-min-top5-overlap=0.85",
    "--new-model-min-agreement=0.3",
    "--new-model-min-top5-overlap=0.4",
    "--min-accuracy=0.6",
]


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("golden")
    write_golden_set(directory, count=72)  # four views of each photo
    return directory


def check(
    golden: Path, canary: ServerProcess, stable: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, object]]:
    code = main(
        ["--golden", str(golden), "--canary", canary.base_url, "--stable", stable.base_url, *FLOOR_ARGS]
    )
    return code, json.loads(capsys.readouterr().out)


def test_the_same_model_agrees_with_itself(
    golden: Path, server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = check(golden, server, server, capsys)
    assert code == 0
    assert report["verdict"] == "pass"
    assert report["canary_model"] == report["stable_model"] == "efficientnet-lite0:1"
    assert (report["agreement"], report["top5_overlap"]) == (1.0, 1.0)
    assert report["labelled"] > 0
    assert report["canary_accuracy"] == report["stable_accuracy"]


@pytest.mark.parametrize(
    ("canary", "stable", "kind"),
    [
        ("efficientnet-lite0:1", "efficientnet-lite0:1", "same-model"),
        ("efficientnet-lite0:1+int8", "efficientnet-lite0:1", "same-network"),
        ("efficientnet-lite0:1", "efficientnet-lite0:1+int8", "same-network"),
        ("efficientnet-lite0:1+int8", "efficientnet-lite0:1+bf16", "same-network"),
        ("efficientnet-lite0:2+int8", "efficientnet-lite0:1", "new-model"),
        ("efficientnet-lite2:1", "efficientnet-lite0:1", "new-model"),
        ("efficientnet-lite0:10", "efficientnet-lite0:1", "new-model"),
    ],
)
def test_kinship_reads_semver_build_metadata(canary: str, stable: str, kind: str) -> None:
    assert kinship(canary, stable) == kind


def test_the_int8_build_passes_as_the_same_network_not_as_the_same_model(
    golden: Path, server: ServerProcess, start_server: StartServer, capsys: pytest.CaptureFixture[str]
) -> None:
    canary = start_server(model_dir=str(int8_artifact()))
    code, report = check(golden, canary, server, capsys)
    assert (code, report["kind"]) == (0, "same-network"), report
    assert 0.85 <= float(report["agreement"]) < 0.95  # type: ignore[arg-type]  # same-model floors would fail it


@pytest.mark.parametrize("defect", ["shuffled-labels", "wrong-normalisation", "wrong-crop"])
def test_the_same_model_behind_a_defect_fails(
    defect: str,
    golden: Path,
    server: ServerProcess,
    start_server: StartServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Same weights, same name and version: the strict floors apply, and the defect breaks them."""
    canary = start_server(model_dir=str(drill_artifact(defect)), allow_drill_defects="true")
    code, report = check(golden, canary, server, capsys)
    assert code == 1
    assert report["verdict"] == "fail"
    assert report["canary_model"] == report["stable_model"]
    assert report["agreement"] < SAME_MODEL.agreement
    assert any("same-model floor" in failure for failure in report["failures"])  # type: ignore[attr-defined]


def test_a_changed_golden_set_gives_no_verdict(
    golden: Path, tmp_path: Path, server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    tampered = tmp_path / "golden"
    tampered.mkdir()
    for path in golden.iterdir():
        (tampered / path.name).write_bytes(path.read_bytes())
    first = json.loads((tampered / "manifest.json").read_text())["images"][0]["file"]
    (tampered / first).write_bytes((tampered / first).read_bytes() + b"\0")
    code, report = check(tampered, server, server, capsys)
    assert code == 2
    assert "does not match the sha256" in str(report["error"])


def test_a_service_that_does_not_answer_gives_no_verdict(tmp_path: Path, server: ServerProcess) -> None:
    write_golden_set(tmp_path, count=2)
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(CheckError, match="did not answer within 2 s"):
        run_check(tmp_path, nobody, server.base_url, FLOORS, Client(retry_s=2))


def test_it_sends_the_token_the_service_asks_for(
    golden: Path, tmp_path: Path, start_server: StartServer, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# rotated weekly\n\nquality-check-token\n")
    guarded = start_server(auth_tokens_file=str(tokens))
    url = guarded.base_url
    common = ["--golden", str(golden), "--canary", url, "--stable", url, *FLOOR_ARGS]
    assert main([*common, "--token-file", str(tokens)]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] == "pass"
    assert main(common) == 2
    assert "answered 401" in json.loads(capsys.readouterr().out)["error"]
