"""ablations: sweep specs, planning, Ray execution, MLflow tracking and tables around lynx_core."""
