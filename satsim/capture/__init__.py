"""PyTorch side: N:M training layers, model zoo, trace capture (needs the torch extra)."""
