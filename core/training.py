"""Plain helpers every trainer uses; each ``core/<model>/train.py`` keeps its own explicit loop on top.

- ``setup``: device, seeds and threads, and ``torch.distributed`` when launched by ``torchrun``
  (gloo on CPU, NCCL on GPUs). A trainer runs unchanged as one process or as N.
- ``wrap``/``unwrap``/``shard``: DistributedDataParallel around the model, the plain model for
  saving and evaluation, and each rank's share of an epoch's batches; ``Objective`` for models whose
  loss is not their ``forward``.
- ``RunState``: the one resumable-state policy: atomic saves by rank 0, a state written by a
  different run configuration is refused, SIGTERM saves and stops every rank together.
- ``length_bucketed_batches``, ``warmup_cosine`` (with ``budget_or_step_progress`` for runs bounded by a compute
  budget), ``optimizer_step``, ``log_line``.

Checkpoints are always written from the unwrapped model, so one process or N give one format.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from core import checkpoints

STATE_FORMAT = 2  # version 1 was the per-model states written before this module; they are refused


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1
    started_cpu: float = field(default_factory=time.process_time)
    started_wall: float = field(default_factory=time.monotonic)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def autocast(self):
        """bf16 autocast on a GPU (fast, no loss scaling needed); full precision on the CPU."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_true(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every rank (every rank must call this at the same point)."""
        if not self.distributed:
            return flag
        value = torch.tensor([0 if flag else 1], device=self.device)
        dist.all_reduce(value)
        return value.item() == 0

    def any_true(self, flag: bool) -> bool:
        return not self.all_true(not flag)


def setup(seed: int, threads: int | None = None) -> Runtime:
    """Seed everything the same way on every rank (so replicas start identical) and pick the device.

    Under ``torchrun`` (``WORLD_SIZE`` > 1) this joins the process group: NCCL with one GPU per
    rank when CUDA is available, else gloo on the CPU.
    """
    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = checkpoints.device()
    if world_size == 1:
        return Runtime(device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Runtime(device, rank=dist.get_rank(), world_size=dist.get_world_size())


def teardown(runtime: Runtime) -> None:
    """End a run. A distributed rank then leaves at once, without the interpreter's shutdown: there, the DDP
    wrapper's last reference can drop with the GIL held while its gloo process group joins a worker thread that
    waits for the GIL, and the rank hangs for ever (seen in the 2-process test). Call it last: every rank has saved
    and logged by then."""
    if not runtime.distributed:
        return
    if dist.is_initialized():
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def wrap(model: torch.nn.Module, runtime: Runtime, find_unused_parameters: bool = False) -> torch.nn.Module:
    """The model to train: DDP (gradients averaged over ranks) when distributed, else the model itself.

    ``find_unused_parameters`` for models whose steps use only part of the weights (e.g. stages
    with different heads)."""
    model.to(runtime.device)
    if not runtime.distributed:
        return model
    ids = [runtime.device.index] if runtime.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)


class Objective(torch.nn.Module):
    """A model whose training loss is not its ``forward`` (several heads, several passes per step),
    with ``loss(model, *batch)`` as the forward: DDP averages the gradients of what its forward
    computes, so such a model is trained as ``wrap(Objective(model, loss), runtime)``."""

    def __init__(self, model: torch.nn.Module, loss):
        super().__init__()
        self.model = model
        self.loss = loss

    def forward(self, *batch, **options):
        return self.loss(self.model, *batch, **options)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model inside DDP: what is saved, evaluated and served."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def shard(items: list, runtime: Runtime) -> list:
    """This rank's share of an epoch's batches; every rank gets the same count (DDP steps in lockstep)."""
    if not runtime.distributed:
        return items
    per_rank = len(items) // runtime.world_size
    return items[runtime.rank :: runtime.world_size][:per_rank]


def length_bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random, pool_batches: int = 50) -> list[list[int]]:
    """Shuffled batches of indices of similar length (little padding), in random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lengths.__getitem__)
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def warmup_cosine(step: int, peak: float, warmup: int, progress: float, floor: float = 0.1) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay from ``peak`` to ``floor * peak`` as
    ``progress`` goes from 0 to 1 (a trainer defines progress: steps done, or a CPU budget used)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, max(0.0, progress))
    return peak * (floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * progress)))


def step_progress(step: int, warmup: int, total: int) -> float:
    """Progress of the decay phase when it is measured in steps."""
    return (step - warmup) / max(1, total - warmup)


def budget_or_step_progress(used_minutes: float, budget: float | None, step: int, warmup: int, total: float | None) -> float:
    """Progress of the decay phase for a run bounded by a compute budget (``used_minutes`` of ``budget``) and a step
    count (``total``), either of which may be unset: the further of the two, so the schedule ends at whichever
    comes first."""
    by_budget = used_minutes / budget if budget else 0.0
    by_steps = step_progress(step, warmup, total) if total else 0.0
    return max(by_budget, by_steps)


def run_config(args, keep: tuple[str, ...]) -> dict:
    """The arguments named in ``keep``, paths as text: what a resumed run must share with the run that saved the
    state (``RunState``)."""
    return {key: [str(v) for v in value] if isinstance(value, list) else (str(value) if isinstance(value, Path) else value)
            for key, value in vars(args).items() if key in keep}


def apply_preset(args, defaults: dict, preset: dict) -> None:
    """Fill every option left unset (None) from the preset, else from ``defaults``: explicit options win."""
    for key, value in {**defaults, **preset}.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, clip: float | None = 1.0) -> None:
    """zero_grad, backward (DDP averages the gradients here), clip the global norm, step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()


def log_line(runtime: Runtime, log_file: Path | None = None, **fields) -> None:
    """One JSON object per line on stdout (rank 0), appended to ``log_file`` when given."""
    if not runtime.is_main:
        return
    line = json.dumps(fields, ensure_ascii=False)
    print(line, flush=True)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A hash of every parameter's bytes: equal across DDP replicas that stayed in step."""
    digest = hashlib.sha256()
    for name, tensor in sorted(unwrap(model).state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def replicas_identical(model: torch.nn.Module, runtime: Runtime) -> bool:
    """Whether every rank holds bit-identical weights (always true for one process)."""
    if not runtime.distributed:
        return True
    fingerprints = [None] * runtime.world_size
    dist.all_gather_object(fingerprints, weights_fingerprint(model))
    return len(set(fingerprints)) == 1


class StateMismatch(ValueError):
    """A saved training state belongs to another run (or an older version of the trainers)."""


class RunState:
    """Where a run's resumable state lives, and the one policy for saving and resuming it.

    ``run`` is the run's configuration (model shape, data, recipe). A state is resumed only by a
    run whose configuration is equal, except the keys in ``may_change`` (budgets such as the
    number of epochs or CPU minutes). Saves are atomic (write, then rename) and done by rank 0.
    SIGTERM sets a flag; ``should_stop`` tells every rank together to save and stop.
    """

    def __init__(self, path: Path, run: dict, may_change: tuple[str, ...] = ()):
        self.path = Path(path)
        self.run = run
        self.may_change = set(may_change)
        self._signalled = False
        self._last_save = time.time()
        signal.signal(signal.SIGTERM, self._on_signal)  # `kill`, torchrun and schedulers stop a run this way

    def _on_signal(self, *_):
        self._signalled = True

    def _check(self, state: dict) -> None:
        if state.get("format") != STATE_FORMAT or "run" not in state:
            raise StateMismatch(
                f"{self.path} was written by an older version of this trainer and cannot be resumed; "
                "move it away (or pass another state/work directory) to start a new run"
            )
        saved = {k: v for k, v in state["run"].items() if k not in self.may_change}
        wanted = {k: v for k, v in self.run.items() if k not in self.may_change}
        if saved != wanted:
            differing = sorted(k for k in saved.keys() | wanted.keys() if saved.get(k) != wanted.get(k))
            raise StateMismatch(
                f"{self.path} belongs to a different run (differs in: {', '.join(differing)}); "
                "rerun with the same options, or pass another state/work directory to start a new run"
            )

    def resume(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, runtime: Runtime) -> dict | None:
        """Load the saved weights and optimizer into ``model``/``optimizer``; return the saved
        progress dict, or None when there is no state yet."""
        if not self.path.is_file():
            return None
        state = torch.load(self.path, map_location=runtime.device, weights_only=False)
        self._check(state)
        unwrap(model).load_state_dict(state["model"])
        if optimizer is not None:
            optimizer.load_state_dict(state["optimizer"])
        if "rng" in state:
            torch.set_rng_state(state["rng"])
        return state["progress"]

    def save(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, progress: dict, runtime: Runtime) -> None:
        if runtime.is_main:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            state = {
                "format": STATE_FORMAT,
                "run": self.run,
                "model": unwrap(model).state_dict(),
                "optimizer": optimizer.state_dict() if optimizer is not None else None,
                "rng": torch.get_rng_state(),
                "progress": progress,
            }
            tmp = self.path.with_name(self.path.name + ".tmp")
            torch.save(state, tmp)
            os.replace(tmp, self.path)  # an interruption never leaves a half-written state
        self._last_save = time.time()
        runtime.barrier()

    def due(self, every_seconds: float) -> bool:
        return time.time() - self._last_save >= every_seconds

    def stop_if_asked(self, save, runtime: Runtime, log_file: Path | None, step: int) -> bool:
        """When SIGTERM reached any rank: ``save()``, log it, leave the process group and return True
        (the trainer then returns); rerunning the same command resumes."""
        if not self.should_stop(runtime):
            return False
        save()
        log_line(runtime, log_file, event="interrupted", step=step, state=str(self.path), note="rerun the same command to resume")
        teardown(runtime)
        return True

    def should_stop(self, runtime: Runtime) -> bool:
        """True on every rank when any rank was asked to stop (SIGTERM)."""
        return runtime.any_true(self._signalled)


def budget_minutes(runtime: Runtime, before: float = 0.0) -> float:
    """Minutes of this run counted against its ``--cpu-minutes`` budget, including ``before`` minutes from earlier
    resumptions: process CPU minutes on the CPU (fair when other jobs share the cores), wall minutes on a GPU (there
    the process mostly waits on the device, and a budget must bound how long the run takes)."""
    if runtime.device.type == "cuda":
        return before + (time.monotonic() - runtime.started_wall) / 60
    return before + (time.process_time() - runtime.started_cpu) / 60


def resume_epoch_run(args, run_keys: tuple[str, ...], model: torch.nn.Module, optimizer: torch.optim.Optimizer, runtime: Runtime,
                     log_file: Path) -> tuple[RunState, dict]:
    """The state of a run over epochs with a CPU-minute budget (``args.state_dir``; ``epochs`` and ``cpu_minutes`` may
    grow between resumptions) and its progress: the saved one, logged as a resumption, or a fresh start."""
    state = RunState(args.state_dir / "state.pt", run_config(args, run_keys), may_change=("epochs", "cpu_minutes"))
    progress = state.resume(model, optimizer, runtime) or {"step": 0, "cpu_minutes": 0.0, "best_dev": -1.0}
    if progress["step"]:
        log_line(runtime, log_file, event="resumed", step=progress["step"], cpu_minutes=round(progress["cpu_minutes"], 1))
    return state, progress
