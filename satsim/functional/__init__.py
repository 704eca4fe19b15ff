"""Numerics of the datapath: N:M selection and compression (more with the numerics issue)."""
