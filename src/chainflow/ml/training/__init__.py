"""Training: datasets and labels, purged walk-forward runs, model families, the ONNX bundle
(exported, and run by ONNX Runtime), out-of-sample and live quality measures, the work of
``chainflow train``, the default model and scheduled retraining."""
