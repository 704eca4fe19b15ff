"""Timing: what executes a Program (the one-pass clock, the SimPy engine, the cycle-stepped
references) and the timeline they produce."""
