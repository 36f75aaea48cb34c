"""lynx_core: the Lynx model, data, training and evaluation library (no Ray, no MLflow)."""
