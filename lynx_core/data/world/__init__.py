"""The generated world: scenes and clips (`toyworld`), the twelve tasks asked about them
(`tasks`) with their prompts (`prompts`), the world's datasets as files (`worldset`), and
what each stage trains on, built from them (`stage_data`)."""
