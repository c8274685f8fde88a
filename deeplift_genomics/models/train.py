"""Train a :class:`~deeplift_genomics.models.spec.ModelSpec` net on a dataset's train split.

Adam, binary cross-entropy on the logits, early stopping on the validation loss (the best-validation
weights are kept), a max-epochs bound. Seeded: the same seed gives the same weights on the CPU, without
touching the caller's global random state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from ..core.devices import resolve_device
from ..core.errors import InputError
from ..core.progress import progress_bar
from ..io.config_file import dataclass_from_mapping
from .metrics import bce_with_logits, split_metrics, task_auroc_auprc
from .spec import ModelSpec, build_model

log = logging.getLogger(__name__)

POS_WEIGHT_BALANCED = "balanced"
MONITORS = ("loss", "auprc")
LR_SCHEDULES = (None, "plateau")


class DatasetLike(Protocol):
    """What :func:`train_model` needs from a dataset (``deeplift_genomics.datasets.load.Dataset`` has it)."""

    # Read-only members, so that a cached property (Dataset.onehot) or a frozen field satisfies them.
    @property
    def onehot(self) -> np.ndarray: ...  # (N, A, L) float32
    @property
    def labels(self) -> np.ndarray: ...  # (N, T) in [0, 1]
    @property
    def split(self) -> np.ndarray: ...  # (N,) of "train" | "valid" | "test"
    @property
    def task_names(self) -> list[str]: ...


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (the CLI flags of ``train``).

    Parameters
    ----------
    lr
        Adam learning rate.
    batch_size
        Sequences per gradient step. 32 (Keras' default, as the authors trained with) reaches test auROC
        >= 0.98 on every task of the default simulation in about a dozen epochs; 128 costs about the same
        per epoch on a CPU but needs many more epochs for the same auROC.
    epochs
        Maximum number of epochs (early stopping usually ends sooner).
    patience
        Stop after this many epochs without a lower validation loss.
    eval_batch_size
        Sequences per forward pass when evaluating (no effect on the result).
    num_threads
        CPU threads while training (restored afterwards); ``None`` keeps torch's setting. One by default:
        batches of 32 through this small net gain little from a second thread on an idle machine, lose
        several-fold on a busy one (measured: 9 s vs 50-80 s per epoch on a loaded 2-core machine), and
        the float sums, hence the weights, depend on the thread count, so a fixed count makes a seed give
        the same weights on any CPU machine with the same torch build.
    pos_weight
        Class imbalance: the weight of each task's positive examples in the binary cross-entropy (torch's
        ``BCEWithLogitsLoss(pos_weight=...)``). ``None`` (default): unweighted. ``"balanced"``: per task,
        negatives / positives in the train split, so both classes weigh the same in total. A number, or
        one number per task. The validation loss that early stopping watches is weighted the same way.
    reverse_complement
        Augment with reverse complements: each training sequence of each batch is replaced by its
        reverse complement with probability 1/2 (labels kept: for strand-symmetric assays such as
        ChIP-seq peaks). Needs the ACGT alphabet. The flips come from their own seeded generator.
    min_epochs
        Never stop early before this many epochs (1: stopping may come as early as ``patience`` allows).
    monitor
        What early stopping (and the learning-rate schedule) watches on the validation split: ``"loss"``
        (default; the weighted loss when ``pos_weight`` is set) or ``"auprc"`` (the mean auPRC over tasks).
        The best epoch by it gives the weights kept.
    lr_schedule
        ``None`` (default: a constant learning rate) or ``"plateau"``: halve the learning rate when the
        monitored value has not improved for 2 epochs (torch's ``ReduceLROnPlateau``, floor ``lr / 64``).
    """

    lr: float = 1e-3
    batch_size: int = 32
    epochs: int = 30
    patience: int = 3
    eval_batch_size: int = 1000
    num_threads: int | None = 1
    pos_weight: str | float | list[float] | None = None
    reverse_complement: bool = False
    min_epochs: int = 1
    monitor: str = "loss"
    lr_schedule: str | None = None

    def __post_init__(self) -> None:
        if self.monitor not in MONITORS:
            raise InputError(f"training option 'monitor' must be one of {', '.join(MONITORS)}, got {self.monitor!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise InputError(
                f"training option 'lr_schedule' must be plateau or null, got {self.lr_schedule!r}"
            )
        for key in ("batch_size", "epochs", "patience", "eval_batch_size", "min_epochs"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"training option '{key}' must be a positive integer, got {value!r}")
        if self.num_threads is not None and (
            not isinstance(self.num_threads, int)
            or isinstance(self.num_threads, bool)
            or self.num_threads < 1
        ):
            raise InputError(
                f"training option 'num_threads' must be a positive integer or null, got {self.num_threads!r}"
            )
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not 0 < self.lr < math.inf:
            raise InputError(f"training option 'lr' must be a positive number, got {self.lr!r}")
        if not isinstance(self.reverse_complement, bool):
            raise InputError(
                f"training option 'reverse_complement' must be true or false, got {self.reverse_complement!r}"
            )
        weight = self.pos_weight
        if isinstance(weight, tuple):
            object.__setattr__(self, "pos_weight", list(weight))
            weight = self.pos_weight
        if weight is None or weight == POS_WEIGHT_BALANCED:
            return
        values = weight if isinstance(weight, list) else [weight]
        if not values or not all(
            not isinstance(v, bool) and isinstance(v, (int, float)) and 0 < v < math.inf for v in values
        ):
            raise InputError(
                f"training option 'pos_weight' must be '{POS_WEIGHT_BALANCED}', a positive number or one "
                f"positive number per task, got {weight!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the options (for ``model.json``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None, source: str = "training config") -> TrainConfig:
        """Build from a dict of option names; unknown names raise :class:`InputError`."""
        return dataclass_from_mapping(cls, dict(data or {}), source, "training option(s)")


def train_model(
    dataset: DatasetLike,
    spec: ModelSpec | None = None,
    config: TrainConfig | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    verbose: bool | None = None,
) -> tuple[nn.Module, list[dict[str, Any]], dict[str, Any]]:
    """Train a net on ``dataset``'s ``train`` split, early-stopping on its ``valid`` split.

    Parameters
    ----------
    dataset
        Anything with ``onehot`` ``(N, A, L)``, ``labels`` ``(N, T)``, ``split`` ``(N,)`` of
        ``"train"``/``"valid"``/``"test"`` and ``task_names`` (e.g. a loaded
        ``deeplift_genomics.datasets.load.Dataset``).
    spec
        Architecture; ``None`` gives the authors' net sized for the data (``input_length=L``,
        ``n_tasks=T``). A given spec must match the data's length, tasks and alphabet size.
    config
        Hyper-parameters; ``None`` gives :class:`TrainConfig` defaults.
    seed
        Seeds the initial weights, the shuffling and dropout. The caller's global RNG state is restored
        afterwards.
    device
        ``"cpu"`` (bit-for-bit reproducible for a given ``config.num_threads`` and torch build),
        ``"cuda"`` (seeded, deterministic kernels where torch has them) or ``"auto"``.
    verbose
        Progress bars on/off; ``None`` shows them when stderr is a terminal.

    Returns
    -------
    model : torch.nn.Module
        The net with the best-validation weights, in eval mode, on ``device``.
    history : list of dict
        One row per epoch: ``epoch, train_loss, valid_loss, valid_auroc_<task>..., seconds``.
    metrics : dict
        ``{"task_names", "test": split_metrics, "valid": split_metrics, "training": {...}}`` (see
        :func:`deeplift_genomics.models.metrics.split_metrics`; ``training`` has ``best_epoch``, ``epochs_run``,
        ``stopped_early``, ``seconds``, ``seed``, ``device``, ``pos_weight`` (task -> the weight used, or
        ``None``) and ``reverse_complement``).
    """
    config = config or TrainConfig()
    dev = resolve_device(device)
    x, y, split, task_names = _check_dataset(dataset)
    spec = _spec_for_data(spec, x.shape, len(task_names))
    train_idx, valid_idx, test_idx = (np.flatnonzero(split == name) for name in ("train", "valid", "test"))
    if train_idx.size == 0 or valid_idx.size == 0:
        raise InputError(
            f"dataset: needs 'train' and 'valid' sequences for training with early stopping; "
            f"found {train_idx.size} train, {valid_idx.size} valid"
        )
    log.info(
        "training on %d sequences (valid %d, test %d), length %d, %d task(s), device %s, seed %d",
        train_idx.size,
        valid_idx.size,
        test_idx.size,
        spec.input_length,
        spec.n_tasks,
        dev,
        seed,
    )
    pos_weight = resolve_pos_weight(config.pos_weight, y[train_idx], task_names)
    if config.reverse_complement and spec.alphabet != "ACGT":
        raise InputError(
            f"training option 'reverse_complement' needs the ACGT alphabet, the model's is {spec.alphabet!r}"
        )
    started = time.perf_counter()
    with _seeded(seed, dev), _threads(config.num_threads if dev.type == "cpu" else None):
        model: nn.Module = build_model(spec).to(dev)
        model, history, best_epoch, stopped = _fit(
            model, x, y, train_idx, valid_idx, task_names, config, seed, dev, verbose, pos_weight
        )
    seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {"task_names": list(task_names)}
    for name, idx in (("test", test_idx), ("valid", valid_idx)):
        logits = predict_logits(model, x[idx], batch_size=config.eval_batch_size, device=dev)
        metrics[name] = split_metrics(y[idx], logits, task_names)
    metrics["training"] = {
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "stopped_early": stopped,
        "seconds": round(seconds, 2),
        "seed": int(seed),
        "device": str(dev),
        "pos_weight": None if pos_weight is None else dict(zip(task_names, pos_weight.tolist())),
        "reverse_complement": bool(config.reverse_complement),
    }
    if test_idx.size == 0:
        log.warning("dataset has no 'test' sequences: test metrics are empty")
    else:
        log.info(
            "test auROC %s  auPRC %s",
            _format_per_task(metrics["test"]["auroc"]),
            _format_per_task(metrics["test"]["auprc"]),
        )
    return model, history, metrics


def predict_logits(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    batch_size: int = 1000,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Run ``model`` in eval mode over ``x`` ``(N, A, L)`` in batches; returns ``(N, T)`` float32 logits."""
    dev = resolve_device(device) if device is not None else next(model.parameters()).device
    model.eval()
    x = torch.as_tensor(x, dtype=torch.float32)
    outputs = []
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            outputs.append(model(x[start : start + batch_size].to(dev)).float().cpu())
    if not outputs:
        with torch.no_grad():
            n_tasks = model(torch.zeros(1, *x.shape[1:], device=dev)).shape[1]
        return np.zeros((0, n_tasks), dtype=np.float32)
    return torch.cat(outputs).numpy()


def _warn_one_class(y_train: np.ndarray, y_valid: np.ndarray, task_names: Sequence[str]) -> None:
    """Warn for each task whose training or validation labels are all one class: nothing to learn, or no
    auROC to report (the history's column stays blank)."""
    for t, name in enumerate(task_names):
        for split, labels in (("training", y_train), ("validation", y_valid)):
            column = np.asarray(labels)[:, t]
            if len(column) and np.all(column == column[0]):
                log.warning("task '%s': every %s label is %g, so %s; the data needs negatives and positives "
                            "(dataset --negatives-per-positive 1 or more)", name, split, float(column[0]),
                            "there is nothing to learn" if split == "training" else "no auROC can be measured")


def _fit(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    train_idx: np.ndarray,
    valid_idx: np.ndarray,
    task_names: list[str],
    config: TrainConfig,
    seed: int,
    dev: torch.device,
    verbose: bool | None,
    pos_weight: np.ndarray | None = None,
) -> tuple[nn.Module, list[dict[str, Any]], int, bool]:
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = (
        torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.5, patience=2, min_lr=config.lr / 64
        )
        if config.lr_schedule == "plateau"
        else None
    )
    if pos_weight is None:
        loss_fn = nn.BCEWithLogitsLoss()
    else:
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.as_tensor(pos_weight, dtype=torch.float32, device=dev))
    # Reverse-complement flips draw from their own generator, so without them nothing else changes.
    flipper = torch.Generator().manual_seed(int(seed) + 1) if config.reverse_complement else None
    x_train = torch.from_numpy(x[train_idx]).to(dev)
    y_train = torch.from_numpy(y[train_idx]).to(dev)
    x_valid, y_valid = x[valid_idx], y[valid_idx]
    _warn_one_class(y[train_idx], y_valid, task_names)
    # A private generator for shuffling, so the order depends on the seed alone.
    shuffler = torch.Generator().manual_seed(int(seed))
    n_train = x_train.shape[0]
    # the monitored value, larger is better: -loss or the mean auPRC
    best_score, best_state, best_epoch, waited = -math.inf, None, 0, 0
    history: list[dict[str, Any]] = []
    stopped = False
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        order = torch.randperm(n_train, generator=shuffler).to(dev)
        loss_sum = 0.0
        bar = progress_bar(total=n_train, desc=f"epoch {epoch}/{config.epochs}", unit="seq", verbose=verbose)
        try:
            for start in range(0, n_train, config.batch_size):
                batch = order[start : start + config.batch_size]
                optimizer.zero_grad(set_to_none=True)
                xb = x_train[batch]
                if flipper is not None:
                    flip = (torch.rand(xb.shape[0], generator=flipper) < 0.5).to(dev)
                    # A,C,G,T order: reversing the channel axis complements, reversing length reverses.
                    xb = torch.where(flip[:, None, None], xb.flip(dims=(1, 2)), xb)
                loss = loss_fn(model(xb), y_train[batch])
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * batch.numel()
                bar.update(batch.numel())
        finally:
            bar.close()
        train_loss = loss_sum / n_train
        valid_logits = predict_logits(model, x_valid, batch_size=config.eval_batch_size, device=dev)
        valid_loss = (
            bce_with_logits(y_valid, valid_logits)
            if pos_weight is None
            else bce_with_logits(y_valid, valid_logits, pos_weight=pos_weight)
        )
        if not (math.isfinite(train_loss) and math.isfinite(valid_loss)) or not np.isfinite(valid_logits).all():
            raise InputError(
                f"training diverged at epoch {epoch} (train loss {train_loss:.4g}, valid loss "
                f"{valid_loss:.4g}): the weights are no longer finite; lower --lr (now {config.lr:g})"
            )
        areas = [task_auroc_auprc(y_valid[:, t], valid_logits[:, t]) for t in range(len(task_names))]
        aurocs = {name: a[0] for name, a in zip(task_names, areas)}
        row: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, "valid_loss": valid_loss}
        row.update({f"valid_auroc_{name}": value for name, value in aurocs.items()})
        score = -valid_loss
        if config.monitor == "auprc":
            row.update({f"valid_auprc_{name}": a[1] for name, a in zip(task_names, areas)})
            score = float(np.nanmean([a[1] for a in areas])) if not all(math.isnan(a[1]) for a in areas) else 0.0
        if scheduler is not None:
            row["lr"] = optimizer.param_groups[0]["lr"]
            scheduler.step(score)
        row["seconds"] = round(time.perf_counter() - epoch_start, 3)
        history.append(row)
        improved = score > best_score
        log.info(
            "epoch %d/%d  train loss %.4f  valid loss %.4f%s  valid auROC %s%s  (%.1fs)",
            epoch,
            config.epochs,
            train_loss,
            valid_loss,
            " *" if improved else "",
            _format_per_task(aurocs),
            f"  mean auPRC {score:.4f}" if config.monitor == "auprc" else "",
            row["seconds"],
        )
        if improved:
            best_score, best_epoch, waited = score, epoch, 0
            best_state = {name: t.detach().clone() for name, t in model.state_dict().items()}
        else:
            waited += 1
            if waited >= config.patience and epoch >= config.min_epochs:
                stopped = True
                log.info(
                    "early stop: no better valid %s for %d epochs; keeping epoch %d",
                    config.monitor,
                    waited,
                    best_epoch,
                )
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, history, best_epoch, stopped


def resolve_pos_weight(
    pos_weight: str | float | list[float] | None, labels: np.ndarray, task_names: list[str]
) -> np.ndarray | None:
    """Per-task positive weights ``(T,)`` from a :class:`TrainConfig` ``pos_weight`` and the train labels.

    ``"balanced"`` gives negatives / positives of each task (labels >= 0.5 count as positive).

    Raises
    ------
    InputError
        ``"balanced"`` with a task that has no positive or no negative training example, or a list whose
        length is not the number of tasks.
    """
    if pos_weight is None:
        return None
    n_tasks = len(task_names)
    if pos_weight == POS_WEIGHT_BALANCED:
        positive = (np.asarray(labels) >= 0.5).sum(axis=0)
        negative = labels.shape[0] - positive
        for t, name in enumerate(task_names):
            if positive[t] == 0 or negative[t] == 0:
                raise InputError(
                    f"pos_weight balanced: task '{name}' has {positive[t]} positive and {negative[t]} "
                    "negative training examples; both are needed"
                )
        return (negative / positive).astype(np.float64)
    values = pos_weight if isinstance(pos_weight, list) else [pos_weight] * n_tasks
    if len(values) != n_tasks:
        raise InputError(
            f"pos_weight: {len(values)} weight(s) given for {n_tasks} task(s) ({', '.join(task_names)})"
        )
    return np.asarray(values, dtype=np.float64)


def _check_dataset(dataset: DatasetLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    for attr in ("onehot", "labels", "split", "task_names"):
        if not hasattr(dataset, attr):
            raise InputError(f"dataset: missing attribute '{attr}'")
    x = np.ascontiguousarray(np.asarray(dataset.onehot, dtype=np.float32))
    y = np.ascontiguousarray(np.asarray(dataset.labels, dtype=np.float32))
    split = np.asarray(dataset.split).astype(str)
    task_names = [str(name) for name in dataset.task_names]
    if x.ndim != 3:
        raise InputError(f"dataset: onehot must be (N, 4, L), got shape {list(x.shape)}")
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != x.shape[0]:
        raise InputError(f"dataset: labels must be (N, T) with N={x.shape[0]}, got shape {list(y.shape)}")
    if y.shape[1] != len(task_names):
        raise InputError(f"dataset: {y.shape[1]} label columns but {len(task_names)} task names")
    if split.shape != (x.shape[0],):
        raise InputError(f"dataset: split must have one entry per sequence ({x.shape[0]}), got {split.shape}")
    bad = sorted(set(split.tolist()) - {"train", "valid", "test"})
    if bad:
        raise InputError(f"dataset: unknown split name(s) {bad}; expected train, valid, test")
    if not np.isfinite(y).all() or (y < 0).any() or (y > 1).any():
        raise InputError("dataset: labels must be finite and within [0, 1]")
    return x, y, split, task_names


def _spec_for_data(spec: ModelSpec | None, shape: tuple[int, ...], n_tasks: int) -> ModelSpec:
    _, channels, length = shape
    if spec is None:
        return ModelSpec().with_data_shape(length, n_tasks)
    if spec.input_length != length:
        raise InputError(
            f"model spec: input_length {spec.input_length} but the data's sequences have length {length}"
        )
    if spec.n_tasks != n_tasks:
        raise InputError(f"model spec: n_tasks {spec.n_tasks} but the data has {n_tasks} task(s)")
    if len(spec.alphabet) != channels:
        raise InputError(
            f"model spec: alphabet {spec.alphabet!r} but the data's one-hot has {channels} channels"
        )
    return spec


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Use ``n`` intra-op CPU threads inside the block (``None``: leave torch's setting)."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch (init, dropout) and use deterministic kernels, then restore the caller's state."""
    devices = [device.index or 0] if device.type == "cuda" else []
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn_flags = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if device.type == "cuda":
        # cuBLAS reads this when it starts; without it deterministic mode only warns.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn_flags


def _format_per_task(values: Mapping[str, float | None]) -> str:
    return " ".join(
        f"{name}={'nan' if v is None or math.isnan(v) else f'{v:.4f}'}" for name, v in values.items()
    )
