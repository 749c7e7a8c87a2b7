"""snnx.learn."""
