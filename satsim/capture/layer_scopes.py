"""Which layer (module) of the model an op of the recorded step belongs to.

Module pre/post forward hooks record the autograd sequence numbers created inside each module;
a backward op belongs to the innermost module whose range holds its node's number, a forward op
to the innermost module running. A module that runs during the backward pass is an activation
checkpoint's recomputation: its ops belong to it, as in the forward.
"""

from __future__ import annotations

import torch


class LayerScopes:
    """The modules running now and the sequence-number range each finished forward created."""

    def __init__(self) -> None:
        self._stack: list[tuple[str, int]] = []  # running modules: (name, first sequence nr)
        self._ranges: list[tuple[int, int, int, str]] = []  # (start, end, depth, name)

    def pre_hook(self, name: str) -> None:
        """Module ``name`` starts its forward."""
        self._stack.append((name, torch._C._autograd._get_sequence_nr()))

    def post_hook(self) -> None:
        """The innermost running module ends its forward."""
        name, start = self._stack.pop()
        end = torch._C._autograd._get_sequence_nr()
        self._ranges.append((start, end, len(self._stack), name))

    @property
    def running(self) -> bool:
        """A module's forward is running (in the backward pass: a recomputation)."""
        return bool(self._stack)

    def layer(self, node) -> str:
        """The layer of an op: the innermost module running, if any; else, with an autograd
        ``node``, the innermost module whose range holds the node's sequence number."""
        if self._stack:
            return self._stack[-1][0]
        if node is None:
            return "(model)"
        seq, best = node._sequence_nr(), None
        for start, end, depth, name in self._ranges:
            if start <= seq < end and (best is None or depth > best[0]):
                best = (depth, name)
        return best[1] if best else "(model)"
