"""LitServe serving the model's ONNX graph, set up as a careful user would on a 2-core machine.

    MODEL_DIR=artifacts/efficientnet-lite0/1 PORT=8002 \
        .venv-peers/bin/python benchmarks/peers/litserve_app.py   # POST a JPEG to /predict

Settings, and why:
  * workers_per_device=2 on the CPU "device": LitServe's inference workers are processes, each
    decoding, preprocessing and running the model; one per core, so neither core idles while
    the other works, and the GIL is not shared.
  * one ONNX Runtime thread per worker: two single-threaded workers already fill two cores;
    more threads would only contend with the other worker and the HTTP process.
  * max_batch_size=8, batch_timeout=5 ms: under load a worker runs up to 8 images in one
    inference call; a lone request waits at most 5 ms for company, a quarter of one image's time.
  * num_api_servers left at LitServe's default, one uvicorn process per worker (two): a single
    one measured no better here, within this machine's noise.
  * the raw JPEG as the request body (a FastAPI `bytes` body), the same bytes every server in
    the comparison gets; without it LitServe parses every body as JSON.
  * log level warning: no access log line, like the other servers in the comparison.

Runs in .venv-peers (requirements/peers.txt); `import onnx_classifier` finds the module next to
this file, which Python puts first on sys.path (also in LitServe's spawned workers).
"""

import os
from pathlib import Path
from typing import Annotated, Any

import litserve as ls  # type: ignore[import-not-found]  # only in .venv-peers
import numpy as np
import numpy.typing as npt
from fastapi import Body
from onnx_classifier import OnnxClassifier, Prediction

# No `from __future__ import annotations`: LitServe reads decode_request's and encode_response's
# annotations at run time to declare the route's body and response.
JpegBody = Annotated[bytes, Body(media_type="image/jpeg")]


class ClassifierAPI(ls.LitAPI):  # type: ignore[misc]  # LitAPI is Any to mypy (not installed in .venv)
    def setup(self, device: str) -> None:
        self.model = OnnxClassifier(Path(os.environ["MODEL_DIR"]), threads=1)

    def decode_request(self, request: JpegBody) -> npt.NDArray[np.float32]:
        return self.model.preprocess(request)

    def batch(self, inputs: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        return np.stack(inputs)

    def predict(self, x: npt.NDArray[np.float32]) -> list[list[Prediction]]:
        return self.model.predict(x)

    def unbatch(self, output: list[list[Prediction]]) -> list[list[Prediction]]:
        return output

    def encode_response(self, output: list[Prediction]) -> dict[str, Any]:
        return {"predictions": output}


def main() -> None:
    api = ClassifierAPI(max_batch_size=8, batch_timeout=0.005, api_path="/predict")
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=2, timeout=30)
    server.run(
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        log_level="warning",
        generate_client_file=False,
    )


if __name__ == "__main__":
    main()
