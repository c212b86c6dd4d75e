"""The code that talks to TensorRT, and nothing else: ``lib`` (the only ``import tensorrt`` /
``tensorrt_rtx``: feature detection, parse, build, engine and context calls), ``builder`` (what is
installed here, one build that Ctrl-C stops) and ``runner`` (an engine as a Runner).

The TensorRT-free rules it is driven by live where their layer is: the capability table
(:mod:`fastscnn_edge.runtime.capability`), the ONNX rules (:mod:`fastscnn_edge.export.onnx_rules`), the sidecar
format (:mod:`fastscnn_edge.runtime.sidecar`) and the build workflow (:mod:`fastscnn_edge.engine`).
Importing this package imports neither TensorRT nor CUDA; they load when an engine is built or run.
"""
