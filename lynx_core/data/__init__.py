"""Data: what every path hands the model (`examples`), conversations written for the LLM
(`dialogue`), what each stage trains on (`stage_data`, from the world and the files) and its
batches (`stage_batches`, from `mixture`, `batches`, `prefetch`); the generated world in
`world/`, the files researchers bring in `files/`."""
