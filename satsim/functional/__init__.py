"""Bit-accurate functional model of the datapath: number formats, N:M compression, the PE
array's values, the SORE and the WUVE, and their validation against PyTorch."""
