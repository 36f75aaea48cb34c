"""The generated world: scenes and clips (`toyworld`), the twelve tasks asked about them
(`tasks`) with their prompts (`prompts`), drawn as pixels (`render`), the world's datasets
as files (`worldset`)."""
