"""Data: what every path hands the model (`examples`), conversations written for the LLM
(`dialogue`), and a stage's batches (`stage_batches`, from `mixture`, `batches`, `prefetch`);
the generated world in `world/`, the files researchers bring in `files/`."""
