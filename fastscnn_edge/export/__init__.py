"""PyTorch -> ONNX (`to_onnx`), the refined cls head (an ONNX rewrite), and the ONNX rules
every TensorRT parser needs (pure Python)."""
