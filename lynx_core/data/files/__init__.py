"""The data researchers bring, read as released: caption files (webdataset shards, LLaVA
pretraining json, Hugging Face datasets) and their filters, training files, JSON rows and
media, the released benchmarks' files, and what is computed from a file once (`computed`)."""
