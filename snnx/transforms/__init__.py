"""snnx.transforms."""
