"""JPEGs decoded and prepared on the model's device (CLASSIFIER_DECODE_STAGE=device), run here
with torch on the CPU: TorchCodec's CPU decoder (libjpeg-turbo) stands in for nvJPEG, the rest is
the same code. Its pixels are not Pillow's, so the criterion is issue #18's: the CPU path's top-5."""

from __future__ import annotations

import base64
import concurrent.futures
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from classifier.artifact import load_artifact
from classifier.backends import load_model
from classifier.config import Settings, SettingsError
from classifier.device_decode import DeviceDecoder, exif_orientation
from classifier.errors import PayloadTooLarge
from classifier.prepare import ImagePreparation
from classifier.tuning import Tuning
from classifier_modelbuild.parity import PARITY_PHOTOS
from classifier_modelbuild.photo_mix import photo_mix
from classifier_testkit import photos
from classifier_testkit.server import ServerProcess, StartServer

LIMIT = 40_000_000


@pytest.fixture(scope="module")
def decoder(artifact_dir: Path) -> DeviceDecoder:
    return DeviceDecoder(load_artifact(artifact_dir, verify=()).metadata.preprocessing, LIMIT, "cpu")


def _top5(logits: np.ndarray) -> list[set[int]]:
    return [set(map(int, np.argsort(-row, kind="stable")[:5])) for row in logits]


def _camera_photo(name: str, size: tuple[int, int]) -> bytes:
    """As the benchmark's mix makes its camera-sized photos (bench_service.photo_mix)."""
    buffer = io.BytesIO()
    photos.photo(name).resize(size, resample=Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _rotated_jpeg(name: str, orientation: int) -> bytes:
    """A photo as a phone stores a portrait: the pixels as shot, and an EXIF Orientation tag."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    photos.photo(name).save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


def test_the_cpu_paths_top5_on_the_benchmark_and_parity_photos(
    artifact_dir: Path, decoder: DeviceDecoder
) -> None:
    """Issue #18's criterion, photo by photo; and on 60 real-photo views, the top-1 and the top-5
    overlap (float32 near-ties flip with any change of pixels, as for the int8 build)."""
    artifact, backend = load_model(Settings(model_dir=artifact_dir, backend="torch", device="cpu"))
    prepare = ImagePreparation(artifact.metadata.preprocessing, LIMIT)

    def both(jpegs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        on_cpu = backend.predict(np.stack([prepare(data).tensor for data in jpegs]))
        return on_cpu, backend.predict(decoder(jpegs).tensor)  # type: ignore[arg-type]  # torch takes tensors

    required = [photos.encode(name) for name in PARITY_PHOTOS]
    required += [_camera_photo("coffee", (1920, 1280)), _camera_photo("chelsea", (4032, 2682))]
    on_cpu, on_device = both(required)
    assert _top5(on_cpu) == _top5(on_device)

    on_cpu, on_device = both([view.jpeg() for view in photo_mix(60, 5)])
    overlap = np.mean([len(a & b) / 5 for a, b in zip(_top5(on_cpu), _top5(on_device), strict=True)])
    assert overlap >= 0.99  # measured 0.998 over 120 views
    assert np.mean(on_cpu.argmax(axis=1) == on_device.argmax(axis=1)) >= 0.98  # measured 1.0 over 120


def test_a_batch_is_model_input_on_the_device(decoder: DeviceDecoder) -> None:
    batch = decoder([photos.encode("coffee"), photos.encode("rocket"), photos.encode("camera")])
    assert tuple(batch.tensor.shape) == (3, 3, 224, 224)
    assert str(batch.tensor.device) == "cpu"
    assert batch.decode_s > 0
    assert batch.preprocess_s > 0
    # Normalised as the model was trained: (x/255 - 0.5)/0.5 spans [-1, 1].
    assert -1.0 <= float(batch.tensor.min()) < 0 < float(batch.tensor.max()) <= 1.0


def test_only_jpegs_the_device_decodes_as_pillow_would_are_taken(decoder: DeviceDecoder) -> None:
    assert decoder.accepts(photos.encode("coffee"))
    assert decoder.accepts(photos.encode("camera"))  # grey
    assert not decoder.accepts(photos.encode("coffee", "PNG"))
    assert not decoder.accepts(photos.encode("coffee", "WEBP"))
    cmyk = io.BytesIO()
    photos.photo("coffee").convert("CMYK").save(cmyk, "JPEG")
    assert not decoder.accepts(cmyk.getvalue())
    assert not decoder.accepts(b"\xff\xd8\xff" + bytes(100))  # no readable header: Pillow decides
    # A strip 20 times longer than wide would be resized whole to 256 x 5,120 on the device.
    strip = io.BytesIO()
    photos.photo("coffee").resize((2000, 100)).save(strip, "JPEG")
    assert not decoder.accepts(strip.getvalue())
    square_enough = io.BytesIO()
    photos.photo("coffee").resize((1000, 250)).save(square_enough, "JPEG")
    assert decoder.accepts(square_enough.getvalue())


def test_a_jpeg_with_an_exif_orientation_takes_the_cpu_path(decoder: DeviceDecoder) -> None:
    """TorchCodec turns a JPEG by its EXIF orientation and the CPU path does not (decode.py), so
    such a photo would get another answer on the device (rocket: none of its top-5 kept)."""
    from torchcodec.decoders import decode_jpeg  # type: ignore[attr-defined]

    portrait = _rotated_jpeg("rocket", 6)  # stored 640 wide, 427 high; "turn 90 degrees to show"
    assert tuple(decode_jpeg(_rotated_jpeg("rocket", 1)).shape) == (3, 427, 640)  # type: ignore[union-attr]
    assert tuple(decode_jpeg(portrait).shape) == (3, 640, 427)  # type: ignore[union-attr]  # turned
    assert not decoder.accepts(portrait)
    assert decoder.accepts(_rotated_jpeg("rocket", 1))  # "as stored": nothing to turn
    assert [
        orientation
        for orientation in range(1, 9)
        if exif_orientation(_rotated_jpeg("coffee", orientation)) != orientation
    ] == []
    assert exif_orientation(photos.encode("coffee")) == 1  # no EXIF at all
    assert exif_orientation(b"\xff\xd8\xff\xe1\x00\x10Exif\x00\x00MM\x00*\x00\x00\x00\xff") == 1  # truncated


def test_the_pixel_limit_is_checked_on_the_header_before_any_decode(artifact_dir: Path) -> None:
    spec = load_artifact(artifact_dir, verify=()).metadata.preprocessing
    small_limit = DeviceDecoder(spec, 100_000, "cpu")
    with pytest.raises(PayloadTooLarge, match="limit is 100,000"):
        small_limit.accepts(photos.encode("coffee"))  # 600 x 400


def _broken_jpeg() -> bytes:
    """A JPEG whose header reads fine and whose scan ends early (a truncated upload)."""
    return photos.encode("coffee")[:3000]


def test_a_batch_the_device_cannot_decode_raises_for_the_cpu_path_to_decide(decoder: DeviceDecoder) -> None:
    assert decoder.accepts(_broken_jpeg())  # the header is fine
    with pytest.raises(RuntimeError):
        decoder([photos.encode("chelsea"), _broken_jpeg()])


def test_the_setting_needs_the_torch_backend() -> None:
    with pytest.raises(SettingsError, match="CLASSIFIER_BACKEND=torch"):
        Settings.from_env({"CLASSIFIER_DECODE_STAGE": "device"})
    settings = Settings.from_env({"CLASSIFIER_DECODE_STAGE": "device", "CLASSIFIER_BACKEND": "torch"})
    tuning = Tuning.resolve(settings, backend="torch", accelerator=True, cpus=16)
    assert tuning.decode_on_device
    assert tuning.decode_inline  # what the device does not take is prepared by the worker
    assert not Tuning.resolve(Settings(), backend="torch", accelerator=True, cpus=16).decode_on_device


def test_served_a_corrupt_jpeg_fails_alone_in_its_batch(start_server: StartServer) -> None:
    """Over HTTP, batched with others: a JPEG the device cannot decode gets the CPU path's 400
    (and is counted), the good JPEGs and a PNG in the same batches get their answers."""
    server = start_server(
        backend="torch", device="cpu", decode_stage="device", max_batch_size="8", max_batch_wait_ms="200"
    )
    bodies = [
        (photos.encode("coffee"), "image/jpeg", 200),
        (_broken_jpeg(), "image/jpeg", 400),
        (photos.encode("coffee", "PNG"), "image/png", 200),
        (photos.encode("coffee"), "image/jpeg", 200),
    ]

    def send(body: bytes, media_type: str) -> tuple[int, dict[str, object]]:
        answer = server.client.post("/v1/classify", content=body, headers={"Content-Type": media_type})
        return answer.status_code, answer.json()

    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: send(b[0], b[1]), bodies))
    assert [status for status, _ in answers] == [expected for _, _, expected in bodies]
    for (status, answer), (_, media_type, _) in zip(answers, bodies, strict=True):
        if status == 200:
            assert answer["predictions"][0]["label"] == "espresso", media_type  # type: ignore[index]
    assert "corrupt" in str(answers[1][1]["error"])
    assert server.metric("classifier_device_decode_fallbacks_total") == 1
    assert server.metric("classifier_decode_duration_seconds_count") == 3  # the 400 decoded nothing


def test_a_mixed_batch_answers_each_image_as_the_cpu_path_does(
    start_server: StartServer, server: ServerProcess
) -> None:
    """One request of four different photos is one batch: two PNGs prepared on the CPU and two
    JPEGs decoded on the device, joined in one model call. Each answer must be its own photo's."""
    on_device = start_server(backend="torch", device="cpu", decode_stage="device", max_batch_size="8")
    images = [
        photos.encode("coffee", "PNG"),
        photos.encode("chelsea"),
        photos.encode("astronaut", "PNG"),
        photos.encode("rocket"),
    ]
    document = {
        "inputs": [
            {
                "name": "image",
                "shape": [len(images)],
                "datatype": "BYTES",
                "data": [base64.b64encode(image).decode() for image in images],
            }
        ],
        "outputs": [{"name": "labels"}],
        "parameters": {"top_k": 1},
    }

    def labels(answering: ServerProcess) -> list[str]:
        answer = answering.client.post("/v2/models/efficientnet-lite0/infer", json=document)
        assert answer.status_code == 200, answer.text
        return [str(label) for label in answer.json()["outputs"][0]["data"]]

    expected = labels(server)  # the default: every image on the CPU path
    assert len(set(expected)) == 4
    assert labels(on_device) == expected
    assert on_device.metric("classifier_batch_size_count") == 1
    assert on_device.metric("classifier_batch_size_sum") == 4
