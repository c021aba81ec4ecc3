"""Layer-aware analysis: each layer read once by digest, an image the composition of its
layers (efficiency as ``dive`` reports it, secrets left in any layer)."""
