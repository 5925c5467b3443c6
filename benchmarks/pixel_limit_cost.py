"""What the largest image a pixel limit admits costs to decode: CPU seconds and peak memory.

A flat-colour PNG compresses to a few dozen KiB at any size, so the limit, not the body size,
bounds its cost. Each limit is measured in a fresh process (peak RSS only grows):

    .venv/bin/python benchmarks/pixel_limit_cost.py 4096 6325
"""

from __future__ import annotations

import argparse
import io
import resource
import subprocess
import sys
import time

from PIL import Image

from classifier.decode import decode_image

TARGET = 256  # lite0's shorter side before the crop; a PNG has no DCT scaling to use it


def measure(side: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (120, 30, 200)).save(buffer, "PNG", optimize=True)
    data = buffer.getvalue()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    decode_image(data, max_pixels=side * side, target=TARGET)
    cpu_s = time.process_time() - started
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    size_kib = len(data) / 1024
    return f"| {side}x{side} | {side * side / 1e6:.1f} | {size_kib:.0f} KiB | {cpu_s:.2f} | {grown_mib:.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sides", nargs="+", type=int, help="square image sides to measure")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(measure(args.sides[0]))
        return
    print("| image | megapixels | PNG size | decode CPU s | peak memory growth MiB |")
    print("|---|---:|---:|---:|---:|")
    for side in args.sides:
        subprocess.run([sys.executable, __file__, "--one", str(side)], check=True)


if __name__ == "__main__":
    main()
