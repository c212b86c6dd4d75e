"""Precision-explicit ONNX: FP16 graphs and INT8 Q/DQ graphs (`convert`), Q/DQ placement,
calibration, the fp32-vs-reduced check, and mixed INT8 under a drop budget (`sensitivity`)."""
