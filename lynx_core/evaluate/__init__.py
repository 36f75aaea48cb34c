"""Evaluation: answer generation and judging on held-out questions."""
