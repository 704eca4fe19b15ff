"""The MMA unit (a tensor core): closed-form issue timing.

Checked against the cycle-stepped reference (:mod:`satsim.timing.mma_reference`) by the
property tests. Each issue computes one ``m x n x k`` fragment: ``k`` reduction slots of the
weight operand, all of them dense, or ``k`` kept weights of an N:M weight, the activations
they multiply picked by their metadata (so a 2:4 issue covers ``2k`` of the dense reduction,
as NVIDIA's ``mma.sp`` does). An ``h x w`` output over a compressed reduction of ``K'``
slots takes ``I = ceil(h / m) * ceil(w / n) * ceil(K' / k)`` issues per batch instance, in
order (output fragment by output fragment, the reduction innermost). With ``B`` batch
instances, an interval ``II`` and a latency ``L >= II``:

* pipelined (interleaving on): an issue every ``II`` cycles, each result ``L`` cycles after its
  issue: ``(I * B - 1) * II + L``. Issues that accumulate into one output fragment follow each
  other at the interval: the accumulator is forwarded (docs/assumptions.md);
* one issue at a time (interleaving off): ``I * B * L``.
"""

from __future__ import annotations


def issues(h: int, w: int, k_eff: int, m: int, n: int, k: int) -> int:
    """Fragments an ``h x w`` output over ``k_eff`` reduction slots takes."""
    return -(-h // m) * -(-w // n) * -(-k_eff // k)


def mma_cycles(count: int, cycles_per_issue: int, latency_cycles: int, pipelined: bool) -> int:
    """Cycles from the first of ``count`` issues to the last result."""
    if not pipelined:
        return count * latency_cycles
    return (count - 1) * cycles_per_issue + latency_cycles
