"""snnx.data."""
