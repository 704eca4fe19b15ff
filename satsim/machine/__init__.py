"""The machine at the bottom of the stack: the Program contract and the units' cost models."""
