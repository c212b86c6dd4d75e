"""Running and describing an artifact: `Artifact` (a file read once), the `Runner` interface,
`open_runner` over onnxruntime, OpenVINO, torch and TensorRT, the capability table, the engine
sidecar, CUDA buffers, and `trt/` (the only code that talks to TensorRT)."""
