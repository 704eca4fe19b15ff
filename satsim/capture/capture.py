"""Capture one training iteration of a zoo model as a satsim trace.

Train ``steps`` real optimizer steps (so the traced iteration's masks come from updated
weights) and record the last one; or, with ``shapes_only``, run one iteration under
``FakeTensorMode`` (no compute, no values: N:M is then taken from the configured layers). A step
may accumulate the gradients of several micro-batches before its one update.
"""

from __future__ import annotations

import ctypes
import inspect
import math
import platform
import sys
import time
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from tqdm import tqdm

from satsim.capture.data import digit_batches, synthetic_batches
from satsim.capture.models.llama import load_config
from satsim.capture.nm import DEFAULT_LAM, masks_per_step, sparsify
from satsim.capture.tracer import Capture, record
from satsim.capture.zoo import ModelSpec, get_spec, input_spec, llama_spec
from satsim.errors import SatsimError
from satsim.files import write_atomic
from satsim.trace.graph import check_graph
from satsim.trace.schema import LayerInfo, Trace, TraceHeader
from satsim.trace.workload import Method, dense_reasons
from satsim.types import NMPattern

# Final classifiers stay dense (usual practice; GPT-2's lm_head is tied to its embedding).
CLASSIFIERS = ("fc", "head", "lm_head", "classifier.0")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}  # autocast dtype
# sgd-momentum: torch.optim.SGD(momentum=MOMENTUM), one state tensor per parameter;
# adamw: torch.optim.AdamW, two (exp_avg, exp_avg_sq), fp32 like the master weight.
OPTIMIZERS = ("sgd-momentum", "adamw")
MOMENTUM = 0.9
# The default learning rate per optimizer. SGD's 0.01: with momentum 0.9, 0.05 overshot on the
# full-size models from their initial weights (ResNet-18 2:4 at batch 32: loss 2.475 -> 3.651;
# VGG-16: 2.34 -> 7.17 -> 13). AdamW's 3e-4: LLaMA 7B/13B's peak (Touvron et al., 2023).
LEARNING_RATES = {"sgd-momentum": 0.01, "adamw": 3e-4}


@dataclass(frozen=True)
class CaptureSpec:
    """Everything that determines a capture (recorded in the trace header)."""

    model: str
    method: str
    nm: NMPattern | None
    batch: int
    steps: int = 2
    data: str | None = None  # digits | synthetic; None: digits where the input size allows
    shapes_only: bool = False
    seed: int = 0
    lr: float | None = None  # None: the optimizer's default (LEARNING_RATES)
    # fp32 | bf16 | fp16: the forward's autocast dtype; None: the model's (LLMs: bf16)
    precision: str | None = None
    options: dict = field(default_factory=dict)  # model builder options (tiny variants)
    # one of OPTIMIZERS; None: the model's (LLMs: adamw, else sgd-momentum)
    optimizer: str | None = None
    # AdamW's (unused by SGD), as LLMs are trained (GPT-3, LLaMA: betas 0.9/0.95, decay 0.1).
    # Decay applies to parameters with two or more dimensions (the weights of linear and
    # conv layers, embeddings), not to biases and norm gains.
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    # A LLaMA-family config.json to build instead of a zoo model (``model`` names it).
    model_config: str | None = None
    # Gradient accumulation: each step runs this many forward and backward passes of
    # ``batch`` samples, then one update (an effective batch of micro_batches x batch).
    micro_batches: int = 1

    def __post_init__(self) -> None:
        """Settle the defaults that depend on the model (an unknown one: validate() says so)."""
        try:
            spec = self.spec
        except SatsimError:
            spec = None
        for name, fallback in (("precision", "fp32"), ("optimizer", "sgd-momentum")):
            if getattr(self, name) is None:
                object.__setattr__(self, name, getattr(spec, name) if spec else fallback)

    @property
    def spec(self) -> ModelSpec:
        """The zoo entry, or the one ``model_config`` describes."""
        if self.model_config is not None:
            return llama_spec(self.model_config, self.model)
        return get_spec(self.model)

    @property
    def learning_rate(self) -> float:
        return LEARNING_RATES[self.optimizer] if self.lr is None else self.lr

    def validate(self) -> None:
        spec = self.spec  # raises for an unknown model or a bad config
        methods = [m.value for m in Method]
        if self.method not in methods:
            raise SatsimError(f"unknown method {self.method!r} (methods: {', '.join(methods)})",
                              source="--method")
        if self.method != "dense" and self.nm is None:
            raise SatsimError(f"method {self.method} needs an N:M pattern", source="--nm")
        if self.batch < 1:
            raise SatsimError(f"batch must be at least 1, got {self.batch}", source="--batch")
        if self.precision not in PRECISIONS:
            raise SatsimError(f"unknown precision {self.precision!r} "
                              f"({', '.join(PRECISIONS)})", source="--precision")
        if self.steps < 1:
            raise SatsimError(f"steps must be at least 1, got {self.steps}", source="--steps")
        if not (isinstance(self.micro_batches, int) and self.micro_batches >= 1):
            raise SatsimError(f"micro-batches must be a whole number of at least 1, got "
                              f"{self.micro_batches!r}", source="--micro-batches")
        self._check_optimizer()
        if self.data not in (None, "digits", "synthetic"):
            raise SatsimError(f"unknown data {self.data!r} (digits, synthetic)", source="--data")
        self._check_options(spec)
        if self.data == "digits" and not self._digits_fit():
            shape, classes = input_spec(spec, **self.options)
            raise SatsimError(f"digits are 3x32x32 images with 10 classes; {self.model} takes "
                              f"{shape} with {classes} classes", source="--data")

    def _check_optimizer(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise SatsimError(f"unknown optimizer {self.optimizer!r} ({', '.join(OPTIMIZERS)})",
                              source="--optimizer")
        for value, option in ((self.learning_rate, "--lr"), (self.eps, "--eps"),
                              (self.weight_decay, "--weight-decay")):
            if not (_is_number(value) and math.isfinite(value) and value >= 0):
                raise SatsimError(f"expected a finite number of at least 0, got {value!r}",
                                  source=option)
        if not (isinstance(self.betas, tuple) and len(self.betas) == 2
                and all(_is_number(b) and 0 <= b < 1 for b in self.betas)):
            raise SatsimError(f"expected two numbers in [0, 1), got {self.betas!r}",
                              source="--betas")

    def _check_options(self, spec) -> None:
        """Option names the builder takes (plus ``seq`` for token models), positive values of
        the default's type; anything else is the user's error, named."""
        params = inspect.signature(spec.build).parameters
        allowed = {name: p.default for name, p in params.items()}
        if spec.input_kind == "tokens":
            allowed["seq"] = 1
        for key, value in self.options.items():
            if key not in allowed:
                raise SatsimError(f"{self.model} has no option {key!r} (options: "
                                  f"{', '.join(sorted(allowed))})", source="--model-option")
            default = allowed[key]
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int):
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
            elif isinstance(default, float):
                ok = (isinstance(value, int | float) and not isinstance(value, bool)
                      and math.isfinite(value) and value > 0)
            elif isinstance(default, tuple | list):
                ok = isinstance(value, list) and all(
                    isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
            else:
                ok = True
            if not ok:
                raise SatsimError(f"{key}={value!r}: expected a value like {default!r}",
                                  source="--model-option")

    def _digits_fit(self) -> bool:
        return input_spec(self.spec, **self.options) == ((3, 32, 32), 10)

    @property
    def dataset(self) -> str:
        if self.shapes_only:
            return "none (shapes only)"
        if self.data is not None:
            return self.data
        return "digits" if self._digits_fit() else "synthetic"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _batches(cs: CaptureSpec):
    if cs.dataset == "digits":
        return digit_batches(cs.batch, cs.seed)
    spec = cs.spec
    shape, classes = input_spec(spec, **cs.options)
    return synthetic_batches(shape, spec.input_kind, classes, cs.batch, cs.seed)


def _loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out.flatten(0, -2) if out.dim() > 2 else out, target.flatten())


def _model_options(cs: CaptureSpec) -> dict:
    return {k: v for k, v in cs.options.items() if k != "seq"}


# Options that train the same model differently: the trace keeps the model's name.
SAME_MODEL = ("seq", "checkpoint")


def capture(cs: CaptureSpec, *, dump_layers: tuple[str, ...] = (), dump_path: Path | None = None,
            progress: bool = False) -> Trace:
    """Run the capture described by ``cs`` and return its trace.

    With ``shapes_only`` the model is built on uninitialised memory and the traced iteration
    runs under ``FakeTensorMode``: the same records on the same tensors, without values.
    ``progress`` reports on stderr: a bar on a terminal, else one line per stage.
    """
    cs.validate()
    _return_freed_memory()
    clock = time.perf_counter()
    bar_on_tty = progress and sys.stderr.isatty()

    def say(text: str) -> None:
        if progress and not bar_on_tty:
            print(f"capture {cs.model}: {text} ({time.perf_counter() - clock:.1f} s)",
                  file=sys.stderr, flush=True)

    torch.manual_seed(cs.seed)
    try:
        model = _build(cs)
    except (TypeError, ValueError, RuntimeError, AssertionError, ZeroDivisionError) as exc:
        raise SatsimError(f"{cs.model} cannot be built with {cs.options}: {exc}",
                          source="--model-option") from None
    n, m = (cs.nm.n, cs.nm.m) if cs.nm else (1, 2)
    names = {name for name, _ in model.named_modules()}
    # SR-STE's decay belongs to the step: each micro-batch's backward adds its share.
    table = sparsify(model, cs.method, n, m, skip=[c for c in CLASSIFIERS if c in names],
                     lam=DEFAULT_LAM / cs.micro_batches)
    sparse = {name for name, info in table.items() if info.status.startswith("sparse")}
    if cs.method != "dense" and not sparse:
        reasons = {name: info.dense_reason(cs.method, m) for name, info in table.items()}
        raise SatsimError(f"{cs.nm} makes no layer of {cs.model} sparse: "
                          f"{dense_reasons(reasons)}", source="--nm")
    unknown = [name for name in dump_layers if name not in table]
    if unknown:
        raise SatsimError(f"no weight layer named {', '.join(map(repr, unknown))} in {cs.model}",
                          source="--dump-tensors")
    say(f"built, {len(sparse)} of {len(table)} weight layers {cs.method}"
        + (f" {cs.nm}" if cs.nm else ""))
    # One optimizer per parameter, stepped as soon as its gradient is complete (the update
    # fused into the backward): bit for bit the single-tensor step, without holding every
    # gradient at once. With micro-batches, complete means after the last one's backward.
    updates = {} if cs.shapes_only else {p: _optimizer(cs, p) for p in model.parameters()}
    micro = _MicroBatch(cs.micro_batches)
    hooks = [p.register_post_accumulate_grad_hook(_step_now(updates[p], micro))
             for p in updates]
    batches = _batches(cs)
    steps = 1 if cs.shapes_only else cs.steps
    prunable = {name: name in sparse for name in table}
    # A layer's forward runs more than once a step: its masks are computed at the first.
    repeats = cs.micro_batches > 1 or cs.options.get("checkpoint", False)
    losses = []
    bar = tqdm(range(steps), desc=f"capture {cs.model}", unit="step", disable=not bar_on_tty)
    for step in bar:
        inputs = [next(batches) for _ in range(cs.micro_batches)]
        traced = step == steps - 1
        with ExitStack() as stack:
            if traced:  # its update is recorded, not run: no momentum or gradients kept
                for handle in hooks:
                    handle.remove()
                before = _update_inputs(model, dump_layers, updates)
                for update in updates.values():
                    update.state.clear()
                if cs.shapes_only:
                    # The batch made fake before the recording: a real tensor converted by
                    # the first op that reads it would make a view (GPT-2's targets, one
                    # sequence) look like a new tensor, a vector op.
                    fake = stack.enter_context(_fake_mode())
                    inputs = [(fake.from_tensor(x), fake.from_tensor(target))
                              for x, target in inputs]
                recorder = stack.enter_context(record(
                    model, method=cs.method, nm=cs.nm, prunable=prunable,
                    measure=not cs.shapes_only, dump=set(dump_layers), optimizer=cs.optimizer,
                    keep_grads=False))
            if repeats:
                stack.enter_context(masks_per_step(model))
            step_loss = 0.0
            for index, (x, target) in enumerate(inputs):
                micro.index = index
                if traced:
                    recorder.forward(final=micro.last)
                with _autocast(cs.precision):  # AMP: forward only, backward follows its dtypes
                    loss = _loss(model(x), target)
                if not cs.shapes_only:  # fake values are not losses
                    step_loss += float(loss.detach()) / cs.micro_batches
                if cs.micro_batches > 1:  # the mean over the step's micro-batches
                    loss = loss / cs.micro_batches
                if traced:
                    recorder.backward(loss)
                loss.backward()
        if not cs.shapes_only:
            losses.append(step_loss)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        loss_text = f", loss {losses[-1]:.3f}" if losses else ", shapes only"
        say(f"step {step + 1}/{steps}{' traced' if traced else ''}{loss_text}")
    cap = recorder.capture
    trace = _trace(cs, table, cap, losses)
    check_graph(trace)
    if dump_path is not None and dump_layers:
        _torch_updates(cap.dumps, before, cs)
        _write_dump(dump_path, cap.dumps, model, dump_layers)
    return trace


def _optimizer(cs: CaptureSpec, p: torch.Tensor) -> torch.optim.Optimizer:
    """The single-tensor optimizer of one parameter."""
    if cs.optimizer == "adamw":
        return torch.optim.AdamW([p], lr=cs.learning_rate, betas=cs.betas, eps=cs.eps,
                                 weight_decay=_weight_decay(cs, p), foreach=False)
    return torch.optim.SGD([p], lr=cs.learning_rate, momentum=MOMENTUM)


def _weight_decay(cs: CaptureSpec, p: torch.Tensor) -> float:
    """AdamW's decay of ``p``: matrices and kernels decay, biases and norm gains do not."""
    return cs.weight_decay if p.dim() >= 2 else 0.0


def _update_inputs(model: nn.Module, layers, updates: dict) -> dict[str, tuple]:
    """Per dumped layer: its fp32 master weight and optimizer state before the traced step."""
    found = {}
    for name in layers:
        p = model.get_submodule(name).weight
        if p in updates:
            state = updates[p].state.get(p, {})
            found[name] = (p.detach().clone(), {k: v.clone() for k, v in state.items()})
    return found


def _torch_updates(dumps: dict, before: dict[str, tuple], cs: CaptureSpec) -> None:
    """PyTorch's update of each dumped layer's weight in the traced step (which the capture
    records but does not run): the optimizer on copies, from the state the step started with,
    and the new weight's copy in the training precision (``layer/WU/...``)."""
    for name, (weight, state) in before.items():
        grad = dumps.get(f"{name}/WU/g")
        if grad is None:
            continue
        new = nn.Parameter(weight.clone())
        new.grad = grad.clone()
        opt = _optimizer(cs, new)
        if state:
            opt.state[new] = {k: v.clone() for k, v in state.items()}
        opt.step()
        after = opt.state[new]
        key = f"{name}/WU"
        dumps[f"{key}/w"] = weight
        if cs.optimizer == "adamw":
            zeros = torch.zeros_like(weight)  # the moments before a first step, as torch starts
            dumps[f"{key}/exp_avg"] = state.get("exp_avg", zeros)
            dumps[f"{key}/exp_avg_sq"] = state.get("exp_avg_sq", zeros)
            dumps[f"{key}/w_new"] = new.detach()
            dumps[f"{key}/exp_avg_new"] = after["exp_avg"]
            dumps[f"{key}/exp_avg_sq_new"] = after["exp_avg_sq"]
            scalars = {"lr": cs.learning_rate, "step": float(after["step"]),
                       "beta1": cs.betas[0], "beta2": cs.betas[1], "eps": cs.eps,
                       "weight_decay": _weight_decay(cs, weight)}
        else:
            if "momentum_buffer" in state:
                dumps[f"{key}/v"] = state["momentum_buffer"]
            dumps[f"{key}/w_new"] = new.detach()
            dumps[f"{key}/v_new"] = after["momentum_buffer"]
            scalars = {"lr": cs.learning_rate, "momentum": MOMENTUM}
        dtype = PRECISIONS[cs.precision]
        if dtype is not None:
            dumps[f"{key}/copy"] = new.detach().to(dtype)
        for scalar, value in scalars.items():
            dumps[f"{key}/{scalar}"] = torch.tensor(value, dtype=torch.float64)


def _build(cs: CaptureSpec) -> nn.Module:
    """The zoo model; for shapes only, initialised on the meta device (no compute) and moved
    to uninitialised memory."""
    build = cs.spec.build
    if not cs.shapes_only:
        return build(**_model_options(cs))
    with torch.device("meta"):
        model = build(**_model_options(cs))
    # Swapping keeps each Parameter object, so tied weights stay tied.
    swap = torch.__future__.get_swap_module_params_on_conversion()
    torch.__future__.set_swap_module_params_on_conversion(True)
    try:
        return model.to_empty(device="cpu")
    finally:
        torch.__future__.set_swap_module_params_on_conversion(swap)


@dataclass
class _MicroBatch:
    """Which of a step's ``count`` micro-batches runs: gradients accumulate until the last."""

    count: int
    index: int = 0

    @property
    def last(self) -> bool:
        return self.index == self.count - 1


def _step_now(update: torch.optim.Optimizer, micro: _MicroBatch):
    """A post-accumulate-grad hook: after the step's last micro-batch, run ``update`` on the
    parameter and free its gradient (before it, the next micro-batch adds to the gradient)."""

    def hook(p: torch.Tensor) -> None:
        if micro.last:
            update.step()
            p.grad = None

    return hook


def _return_freed_memory() -> None:
    """Serve allocations of 1 MiB and more with their own mmap (glibc), so a freed tensor's
    pages go back to the system at once.

    By default glibc raises this threshold each time such a block is freed (up to 32 MiB);
    later tensors then come from the heap, whose holes are not returned: a gpt2-small bdwp
    capture peaked at about 6 GB instead of 3.2 GB. Setting the threshold fixes it for the
    process (other C libraries: nothing to do).
    """
    if platform.libc_ver()[0] == "glibc":
        ctypes.CDLL(None).mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD


def _autocast(precision: str):
    dtype = PRECISIONS[precision]
    return nullcontext() if dtype is None else torch.autocast("cpu", dtype=dtype)


def _fake_mode():
    """FakeTensorMode: shapes, no compute; real tensors are converted on entry."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    return FakeTensorMode(allow_non_fake_inputs=True)


def _trace(cs: CaptureSpec, table: dict[str, LayerInfo], cap: Capture, losses) -> Trace:
    meta = {
        "model": cs.model, "method": cs.method, "nm": str(cs.nm) if cs.nm else "dense",
        "batch": cs.batch, "steps": cs.steps, "dataset": cs.dataset, "seed": cs.seed,
        **({"micro_batches": cs.micro_batches} if cs.micro_batches > 1 else {}),
        "optimizer": cs.optimizer, "lr": cs.learning_rate, **_hyper_parameters(cs),
        "shapes_only": cs.shapes_only, "measured": not cs.shapes_only,
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "options": cs.options,
        **({"model_config": load_config(cs.model_config).model_dump(exclude_none=True)}
           if cs.model_config else {}),
        "losses": [round(v, 6) for v in losses if math.isfinite(v)],
    }
    # Another input length or checkpointing is the same model; any other option builds
    # another one.
    name = cs.model if set(cs.options) <= set(SAME_MODEL) else f"{cs.model}-custom"
    header = TraceHeader(name=name, source="satsim capture", precision=cs.precision, meta=meta,
                         layers=table)
    return Trace(header=header, records=tuple(cap.records), tensors=tuple(cap.tensors))


def _hyper_parameters(cs: CaptureSpec) -> dict:
    if cs.optimizer == "adamw":
        return {"betas": list(cs.betas), "eps": cs.eps, "weight_decay": cs.weight_decay,
                "weight_decay_on": "parameters with 2+ dimensions"}
    return {"momentum": MOMENTUM}


def _bits(t: torch.Tensor) -> tuple[np.ndarray, str]:
    """A tensor as a numpy array; bf16/fp16 as raw uint16 bit patterns (npz has no bf16)."""
    t = t.detach().contiguous().cpu()
    if t.dtype in (torch.bfloat16, torch.float16):
        return t.view(torch.int16).numpy().view(np.uint16), str(t.dtype).removeprefix("torch.")
    return t.numpy(), str(t.dtype).removeprefix("torch.")


def _write_dump(path: Path, dumps: dict, model: nn.Module, layers) -> None:
    arrays: dict[str, np.ndarray] = {}
    for key, tensor in dumps.items():
        arrays[key], dtype = _bits(tensor)
        arrays[f"{key}.dtype"] = np.array(dtype)
    for name in layers:
        module = model.get_submodule(name)
        if hasattr(module, "masks"):
            for direction, mask in zip(("FF", "BP"), module.masks(), strict=True):
                arrays[f"{name}/mask_{direction}"] = np.packbits(mask.cpu().numpy().ravel())
                arrays[f"{name}/mask_{direction}.shape"] = np.array(mask.shape)
        if hasattr(module, "lam"):  # the SR-STE decay its weight gradient carries
            arrays[f"{name}/WU/lam"] = np.array(module.lam)
    write_atomic(path, lambda handle: np.savez_compressed(handle, **arrays))
