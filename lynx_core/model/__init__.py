"""Model components: vision tower, resampler, injectors (prefix / cross-attention), adapters."""
