"""ml-processing: datasets, training, model registry, ONNX inference, patterns, anomalies."""
