"""snnx.nn."""
