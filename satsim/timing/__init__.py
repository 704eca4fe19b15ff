"""Timing: the SimPy engine, the STCE's closed forms and the cycle-stepped reference."""
