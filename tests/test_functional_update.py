"""The WUVE's AdamW against torch.optim.AdamW's single-tensor CPU step, bit for bit."""

import numpy as np
import pytest

from satsim.functional.update import AdamWParams, adamw, faithful_sqrt

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _values(rng: np.random.Generator, shape, low: float, high: float) -> np.ndarray:
    """fp32 values of random sign and magnitudes spread over 10**low .. 10**high."""
    n = int(np.prod(shape))
    return (rng.standard_normal(n) * 10.0 ** rng.uniform(low, high, n)).astype(
        np.float32).reshape(shape)


def _torch_sqrt(x: np.ndarray) -> np.ndarray:
    return torch.from_numpy(np.ascontiguousarray(x)).sqrt().numpy()


# LLM defaults; a first moment through lerp's other branch (weight 1 - beta1 >= 0.5) and
# edge values (betas 0, lr 0, eps 0, no decay, strong decay).
HYPER = [AdamWParams(3e-4, 0.9, 0.95, 1e-8, 0.1), AdamWParams(1e-3, 0.3, 0.999, 1e-5, 0.0),
         AdamWParams(0.5, 0.5, 0.5, 0.0, 1.0), AdamWParams(0.0, 0.0, 0.0, 1e-8, 0.1),
         AdamWParams(1e-2, 0.99, 0.9, 1e-8, 0.01)]


@pytest.mark.parametrize("hp", HYPER)
@pytest.mark.parametrize("shape", [(1,), (15,), (16, 17), (3, 5, 7), (40_001,)])
def test_adamw_equals_torch_bit_for_bit(hp, shape):
    """Given torch's own square root, the emulation's w', exp_avg' and exp_avg_sq' equal
    torch.optim.AdamW(foreach=False)'s on the CPU bit for bit, on the first step (zero
    moments, bias correction with t = 1) and on the two after it, for weights and gradients
    from 1e-30 to 1e19 in magnitude (g² underflows and overflows), on vector bodies and
    scalar tails of the kernels."""
    rng = np.random.default_rng([HYPER.index(hp), *shape])
    w = _values(rng, shape, -30, 10)
    p = torch.nn.Parameter(torch.from_numpy(w.copy()))
    opt = torch.optim.AdamW([p], lr=hp.lr, betas=(hp.beta1, hp.beta2), eps=hp.eps,
                            weight_decay=hp.weight_decay, foreach=False)
    m = v = np.zeros(shape, np.float32)
    for step in (1, 2, 3):
        g = _values(rng, shape, -25, 19)
        before = p.detach().numpy().copy()
        p.grad = torch.from_numpy(g.copy())
        opt.step()
        state = opt.state[p]
        ours = adamw(before, g, m, v, step, hp, sqrt=_torch_sqrt)
        theirs = (p.detach().numpy(), state["exp_avg"].numpy(), state["exp_avg_sq"].numpy())
        for a, b in zip(ours, theirs, strict=True):
            assert a.dtype == np.float32 and a.shape == b.shape
            assert np.array_equal(a.view(np.uint32), b.view(np.uint32))
        m, v = theirs[1].copy(), theirs[2].copy()


def test_torch_sqrt_is_one_of_the_roots_two_neighbours():
    """torch's fp32 sqrt on the CPU (MKL's vsSqrt) returns one of the two fp32 values either
    side of the exact root, which faithful_sqrt gives (the validator's premise); the
    correctly rounded root is one of them."""
    rng = np.random.default_rng(1)
    x = np.abs(_values(rng, (1 << 16,), -44, 38))
    low, high = faithful_sqrt(x)
    ours = _torch_sqrt(x)
    assert np.all((ours == low) | (ours == high))
    assert np.all((np.sqrt(x) == low) | (np.sqrt(x) == high))
    assert np.all(high.astype(np.float64) ** 2 >= x) and np.all(low.astype(np.float64) ** 2 <= x)


def test_first_step_moments_are_the_scaled_gradient():
    """From zero moments the fused lerp and addcmul add nothing: exp_avg' = fp32(1 - beta1)·g
    and exp_avg_sq' = (fp32(1 - beta2)·g)·g, each product rounded to fp32."""
    g = np.array([3.0, -1e-20, 7e18], np.float32)
    zeros = np.zeros(3, np.float32)
    _, m, v = adamw(np.ones(3, np.float32), g, zeros, zeros, 1, HYPER[0])
    assert np.array_equal(m, np.float32(0.1) * g)
    assert np.array_equal(v, (np.float32(0.05) * g) * g)
