"""What a sweep found: the study frame read from MLflow, its statistics, the paper's tables,
plots, findings and evidence, the report, OwlEval's human ratings, and the calibration of
the verdict rules."""
