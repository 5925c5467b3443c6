"""The golden set: fixed real-photo inputs the paired model-quality check sends to a canary and
to stable alike (`classifier-quality-check`). Built into the image beside the model:

    python -m classifier_modelbuild.golden --output /opt/golden

writes one JPEG per view of `photo_mix` and manifest.json: each file's sha256 (the check refuses
a set that changed) and, for the views that keep most of a photo whose subject is clear, the
labels a correct model answers (`photo_mix.CLEAR_LABELS`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

from classifier_modelbuild.photo_mix import photo_mix

MANIFEST = "manifest.json"
GOLDEN_COUNT = 240
GOLDEN_SEED = 7  # not the drill traffic's seed: the gate is not tuned on the traffic it judges


def write_golden_set(output: Path, count: int = GOLDEN_COUNT, seed: int = GOLDEN_SEED) -> Path:
    """Write the set into `output` (created); return the manifest's path."""
    output.mkdir(parents=True, exist_ok=True)
    images = []
    for view in photo_mix(count, seed):
        data = view.jpeg()
        file = f"{view.name}.jpg"
        (output / file).write_bytes(data)
        images.append(
            {
                "file": file,
                "source": view.source,
                "sha256": hashlib.sha256(data).hexdigest(),
                "expected": list(view.expected),
            }
        )
    manifest = output / MANIFEST
    manifest.write_text(json.dumps({"seed": seed, "images": images}, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="classifier_modelbuild.golden", description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--count", type=int, default=GOLDEN_COUNT)
    args = parser.parse_args(argv)
    manifest = write_golden_set(args.output, args.count)
    print(f"wrote {args.count} golden images and {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
