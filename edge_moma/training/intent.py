"""Train and evaluate intent bundles (``edge-moma train intent`` / ``eval intent``).

Training: featurize, train the two-head embedding bag (``training.py``), fit a
temperature on the validation split so confidences are calibrated, choose the
out-of-scope threshold on the same split, export fp32 and int8 ONNX files and
write the model card. Any labels work; only ``oos`` has a meaning (out of scope).

Out-of-scope rule (stored in the card): a query is out of scope when the
``oos`` class wins or the best in-scope confidence is below the threshold. The
threshold is the one with the best validation in-scope accuracy among those
whose validation oos recall is at least ``min_oos_recall``; with no ``oos``
rows in the validation split it is 0 (the class alone decides).

Example::

    card = train_intent("train.jsonl", "out/intent", val_path="val.jsonl", progress=print)
    report = evaluate_intent("test.jsonl", "out/intent")
    report["in_scope_accuracy"], report["latency_us"]["p50"]
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..jsonl import read_lines
from ..routing.bundle import read_card, sha256_file, write_card
from ..routing.features import Featurizer
from ..routing.intent import (
    KIND,
    MODEL_FP32,
    MODEL_INT8,
    OOS,
    TOP_K,
    IntentExample,
    IntentRouter,
    Progress,
    read_intent_file,
)
from .trainer import HeadData, TrainConfig, train_embedding_bag

DEFAULT_CONFIG = TrainConfig()
VAL_FRACTION = 0.1
TEACHER_HEAD = "teacher"


@dataclass(frozen=True)
class Distillation:
    """What a teacher model adds to training (the shipped bundle's build uses one).

    ``texts`` are extra rows (e.g. augmented copies of training queries) with
    tasks ``tasks`` (one per text, ``None`` = no task label) and intent targets
    ``soft_labels`` [len(texts), labels], the teacher's probabilities over the
    sorted labels of the training file.
    ``teacher_targets`` [training rows + len(texts), k], if given, are what a
    training-only head regresses (e.g. the teacher's sentence embeddings): it
    shapes the shared layers and is not exported. ``about`` goes into the card.
    """

    texts: tuple[str, ...]
    tasks: tuple[str | None, ...]
    soft_labels: np.ndarray
    teacher_targets: np.ndarray | None = None
    about: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Calibration:
    """A temperature, out-of-scope threshold and oos weight (``weigh_oos``) chosen
    elsewhere (``train_intent``)."""

    temperature: float
    threshold: float
    source: str
    oos_weight: float = 1.0
    oos_weight_source: str = ""


def split_holdout(
    rows: Sequence[IntentExample], fraction: float = VAL_FRACTION
) -> tuple[list[IntentExample], list[IntentExample]]:
    """A deterministic (text-hash based) holdout for files given without ``--val``."""
    train: list[IntentExample] = []
    val: list[IntentExample] = []
    for r in rows:
        bucket = zlib.crc32(r.text.encode("utf-8", "surrogatepass")) % 1000
        (val if bucket < fraction * 1000 else train).append(r)
    if not train or not val:
        raise DataError(f"cannot hold out a validation split from {len(rows)} rows; pass --val")
    return train, val


def intent_metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    """Accuracy, in-scope accuracy, oos recall/precision and macro F1 of decided labels."""
    t, p = np.array(y_true, dtype=object), np.array(y_pred, dtype=object)
    ins, oos_true, oos_pred = t != OOS, t == OOS, p == OOS
    f1s = []
    for label in sorted(set(t) | set(p)):
        tp = float(np.sum((t == label) & (p == label)))
        denom = float(np.sum(t == label) + np.sum(p == label))
        f1s.append(2 * tp / denom if denom else 0.0)
    return {
        "n": len(t),
        "accuracy": _ratio(np.sum(t == p), len(t)),
        "in_scope_accuracy": _ratio(np.sum((t == p) & ins), np.sum(ins)),
        "oos_recall": _ratio(np.sum(oos_true & oos_pred), np.sum(oos_true)),
        "oos_precision": _ratio(np.sum(oos_true & oos_pred), np.sum(oos_pred)),
        "macro_f1": round(float(np.mean(f1s)), 4) if f1s else None,
    }


def _ratio(a: Any, b: Any) -> float | None:
    return round(float(a) / float(b), 4) if b else None


def _task_metrics(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, Any]:
    m = intent_metrics(y_true, y_pred)
    return {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature minimizing the negative log-likelihood of ``y``: class ids
    [n] (validation labels) or probability rows [n, K] (a teacher's outputs)."""
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.05), np.log(10.0), 121)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        picked = (z * y).sum(axis=1) if y.ndim == 2 else z[np.arange(len(y)), y]
        nll = float(np.mean(np.log(np.exp(z).sum(axis=1)) - picked))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def choose_threshold(
    probs: np.ndarray, y: np.ndarray, oos_index: int, min_oos_recall: float
) -> float:
    """The out-of-scope threshold of the module docstring's rule, from validation probabilities."""
    is_oos = y == oos_index
    if oos_index < 0 or not is_oos.any():
        return 0.0
    scores = probs.copy()
    scores[:, oos_index] = -1.0
    top = scores.argmax(axis=1)
    conf = scores.max(axis=1)
    class_oos = probs.argmax(axis=1) == oos_index
    best: tuple[float, float] | None = None
    fallback: tuple[float, float] = (-1.0, 0.0)
    for th in np.unique(np.concatenate([[0.0], conf])):
        pred_oos = class_oos | (conf < th)
        in_acc = float(np.mean((top == y)[~is_oos] & ~pred_oos[~is_oos]))
        recall = float(np.mean(pred_oos[is_oos]))
        if recall >= min_oos_recall and (best is None or in_acc > best[0]):
            best = (in_acc, float(th))
        if in_acc + recall > fallback[0]:
            fallback = (in_acc + recall, float(th))
    return round((best or fallback)[1], 6)


# Weights on the oos class's probability that ``choose_oos_weight`` tries.
OOS_WEIGHTS = (1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1)


def choose_oos_weight(
    probs: np.ndarray, y: np.ndarray, oos_index: int, min_oos_recall: float, threshold: float
) -> float:
    """The weight on the ``oos`` probability with the best validation in-scope accuracy
    whose validation oos recall is at least ``min_oos_recall`` (the threshold rule kept).

    A model that learned many kinds of out-of-scope text (LLM prompts, near misses)
    can call too much out of scope when the threshold is already 0; lowering the
    oos class's weight is the other direction of the same trade."""
    is_oos = y == oos_index
    if oos_index < 0 or not is_oos.any():
        return 1.0
    scores = probs.copy()
    scores[:, oos_index] = -1.0
    top, conf = scores.argmax(axis=1), scores.max(axis=1)
    best = (-1.0, 1.0)
    for weight in OOS_WEIGHTS:
        pred_oos = (probs[:, oos_index] * weight > conf) | (conf < threshold)
        in_acc = float(np.mean((top == y)[~is_oos] & ~pred_oos[~is_oos]))
        if float(np.mean(pred_oos[is_oos])) >= min_oos_recall and in_acc > best[0]:
            best = (in_acc, weight)
    return best[1]


def bundle_probabilities(bundle_dir: str | Path, texts: Sequence[str]) -> np.ndarray:
    """A bundle's calibrated intent probabilities ``[len(texts), labels]`` (int8 model)."""
    router = IntentRouter.load(bundle_dir)
    rows = [router.featurizer.indices(t) for t in texts]
    return np.concatenate(
        [router._run(["intent"], rows[i : i + 256])[0] for i in range(0, len(rows), 256)]
    )


def weigh_oos(
    bundle_dir: str | Path, weight: float, source: str, min_oos_recall: float
) -> dict[str, Any]:
    """Multiply the ``oos`` class's probability by ``weight`` in the bundle's ONNX models
    (``ln(weight)`` added to its logit's bias) and record it, chosen with ``min_oos_recall``
    by ``source``, in the card; returns the card."""
    import onnx
    from onnx import numpy_helper

    bundle_dir = Path(bundle_dir)
    card = read_card(bundle_dir)
    oos = card["labels"].index(OOS)
    for name in card["models"].values():
        path = bundle_dir / name
        model = onnx.load(str(path))
        init = next(i for i in model.graph.initializer if i.name == "intent_head_b")
        bias = numpy_helper.to_array(init).copy()
        bias[oos] += np.float32(np.log(weight))
        init.CopyFrom(numpy_helper.from_array(bias, init.name))
        onnx.save(model, str(path))
    card["decision"] = {
        **card["decision"],
        "rule": card["decision"]["rule"] + "; the oos class's probability weighted by oos_weight "
        "(best validation in-scope accuracy with validation oos recall >= min_oos_recall)",
        "min_oos_recall": min_oos_recall,
        "oos_weight": weight,
        "oos_weight_chosen_by": source,
    }
    card.pop("files", None)
    card["version"] = f"intent-{sha256_file(bundle_dir / card['models']['int8'])[:12]}"
    return write_card(bundle_dir, card)


def train_intent(
    train_path: str | Path,
    out_dir: str | Path,
    val_path: str | Path | None = None,
    *,
    config: TrainConfig = DEFAULT_CONFIG,
    featurizer: Featurizer | None = None,
    min_oos_recall: float = 0.6,
    progress: Progress | None = None,
    card_extra: dict[str, Any] | None = None,
    distillation: Distillation | None = None,
    calibration: Calibration | None = None,
    teacher: str | Path | None = None,
) -> dict[str, Any]:
    """Train an intent bundle into ``out_dir`` and return its model card.

    Without ``val_path`` a deterministic 10 % of the training file is held
    out for calibration, unless ``calibration`` is given: then every row
    trains (e.g. a refit on train + validation after a twin trained without
    the validation rows chose the rule). ``distillation`` adds a teacher's
    rows and targets. ``teacher`` names a bundle with the file's labels that
    teaches this one (``intent_teacher``: warm start, soft targets and, without
    ``val_path``, its out-of-scope rule: its oos weight, and the threshold that
    matches its out-of-scope rate at a temperature fitted to its probabilities;
    with ``val_path`` the threshold and an oos weight are chosen there, as the
    build does). A ``calibration`` or teacher oos weight is applied by
    ``weigh_oos`` after export. ``card_extra`` adds fields.
    """
    say = progress or (lambda _msg: None)
    init = None
    if teacher is not None:
        from .intent_teacher import BundleTeacher

        if distillation is not None:
            raise ValueError("pass a teacher bundle or a distillation, not both")
        bundle_teacher = BundleTeacher.load(teacher)
        featurizer = bundle_teacher.featurizer
    teacher_rule = teacher is not None and val_path is None and calibration is None
    featurizer = featurizer or Featurizer()
    train_rows = read_intent_file(train_path)
    if val_path is not None:
        val_rows = read_intent_file(val_path)
    elif calibration is not None or teacher_rule:
        val_rows = []
    else:
        train_rows, val_rows = split_holdout(train_rows)
    labels = sorted({r.label for r in train_rows})
    if len(labels) < 2:
        raise DataError(f"need at least two labels to train, found {labels}", path=str(train_path))
    label_index = {label: i for i, label in enumerate(labels)}
    if teacher is not None:
        say(f"teacher: {teacher} (warm start, soft targets on noisy copies)")
        init = bundle_teacher.start(labels, sorted({r.task for r in train_rows if r.task}))
        distillation = bundle_teacher.distillation(train_rows, config.seed)

    extra = distillation.texts if distillation else ()
    say(
        f"featurizing {len(train_rows)} training"
        + (f" (+{len(extra)} distillation)" if extra else "")
        + f" and {len(val_rows)} validation texts"
    )
    flat, offsets = featurizer.batch([r.text for r in train_rows] + list(extra))
    y = np.array([label_index[r.label] for r in train_rows])
    intent_targets: np.ndarray = y
    if distillation is not None:
        intent_targets = _distilled_targets(y, distillation, len(labels), config.label_smoothing)
    heads = [HeadData("intent", intent_targets, len(labels), top_k=TOP_K + 1)]
    if distillation is not None and distillation.teacher_targets is not None:
        t = np.asarray(distillation.teacher_targets, dtype=np.float32)
        if t.ndim != 2 or len(t) != len(train_rows) + len(extra):
            raise DataError(
                f"distillation: teacher targets of shape {t.shape}, expected "
                f"({len(train_rows) + len(extra)}, k): the training rows, then the extra texts"
            )
        heads.append(HeadData(TEACHER_HEAD, t, t.shape[1], activation="linear"))
    extra_tasks = distillation.tasks if distillation else ()
    if len(extra_tasks) != len(extra):
        raise DataError(f"distillation: {len(extra_tasks)} tasks for {len(extra)} texts")
    tasks = sorted({t for t in [*(r.task for r in train_rows), *extra_tasks] if t is not None})
    task_index = {task: i for i, task in enumerate(tasks)}
    if tasks:
        y_task = np.array(
            [task_index[r.task] if r.task else -1 for r in train_rows]
            + [task_index[t] if t else -1 for t in extra_tasks]
        )
        counts = np.bincount(y_task[y_task >= 0], minlength=len(tasks)).astype(np.float64)
        weight = np.sqrt(counts.sum() / (len(tasks) * np.maximum(counts, 1)))
        weight /= np.sum(weight * counts) / counts.sum()
        heads.append(HeadData("task", y_task, len(tasks), class_weight=weight.astype(np.float32)))
    say(f"training {len(labels)} intents" + (f" and {len(tasks)} tasks" if tasks else ""))
    model = train_embedding_bag(flat, offsets, featurizer.n_buckets, heads, config, say, init)
    model = model.without(TEACHER_HEAD)
    if teacher_rule:  # the student's confidence scale matched to the teacher's on the copies
        logits = model.logits(flat, offsets)["intent"][len(train_rows) :]
        calibration = bundle_teacher.calibration(logits, extra)

    oos_weight, oos_weight_source = 1.0, ""
    if calibration is not None:
        temperature, threshold = calibration.temperature, calibration.threshold
        oos_weight, oos_weight_source = calibration.oos_weight, calibration.oos_weight_source
        model = model.with_temperature("intent", temperature)
    else:  # calibrate and choose the out-of-scope rule on rows whose label the model knows
        val_known = [r for r in val_rows if r.label in label_index]
        val_flat, val_offsets = featurizer.batch([r.text for r in val_known])
        val_y = np.array([label_index[r.label] for r in val_known])
        temperature = fit_temperature(model.logits(val_flat, val_offsets)["intent"], val_y)
        model = model.with_temperature("intent", temperature)
        val_probs = model.predict(val_flat, val_offsets)["intent"]
        oos = label_index.get(OOS, -1)
        threshold = choose_threshold(val_probs, val_y, oos, min_oos_recall)
        if teacher is not None:  # it taught its model before its oos weight: choose one
            oos_weight = choose_oos_weight(val_probs, val_y, oos, min_oos_recall, threshold)
            oos_weight_source = f"chosen on the validation file {Path(str(val_path)).name}"
    say(f"temperature {temperature:.3f}, out-of-scope threshold {threshold:.3f}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in (out_dir / MODEL_FP32, out_dir / MODEL_INT8):
        stale.unlink(missing_ok=True)
    say("exporting fp32 and int8 ONNX models")
    model.export(out_dir / MODEL_FP32, quantize=True)
    data = [_data_entry("train", train_path), *([_data_entry("val", val_path)] if val_path else [])]
    card: dict[str, Any] = {
        "kind": KIND,
        "version": "",
        "edge_moma_version": _package_version(),
        "models": {"int8": MODEL_INT8, "fp32": MODEL_FP32},
        "default_precision": "int8",
        "inputs": {
            "indices": "int64 [batch, length]: featurizer ids, padded to the longest",
            "weights": "float32 [batch, 1, length]: each id's pooling weight, 0 for padding",
        },
        "outputs": {
            "intent": "calibrated intent probabilities [batch, labels]",
            "intent_top_values": f"the best {TOP_K + 1} of them [batch, {TOP_K + 1}]",
            "intent_top_indices": f"their label indices [batch, {TOP_K + 1}]",
            **({"task": "task probabilities [batch, tasks]"} if tasks else {}),
        },
        "labels": labels,
        "oos_label": OOS if OOS in label_index else None,
        "tasks": tasks,
        "featurizer": featurizer.params(),
        "decision": {
            "rule": "out of scope if the oos class wins or the best in-scope "
            "confidence < threshold; threshold: best validation in-scope accuracy "
            "with validation oos recall >= min_oos_recall",
            "threshold": threshold,
            "temperature": round(temperature, 6),
            "min_oos_recall": min_oos_recall,
            **({"chosen_by": calibration.source} if calibration else {}),
        },
        "training": {**config.params(), "loss": [round(h["loss"], 5) for h in model.history]},
        "seed": config.seed,
        "data": data,
        "metrics": {},
        **({"distillation": {"rows": len(extra), **distillation.about}} if distillation else {}),
        **(card_extra or {}),
    }
    card["version"] = f"intent-{sha256_file(out_dir / MODEL_INT8)[:12]}"
    write_card(out_dir, card)
    if oos_weight != 1.0:
        say(f"oos weight {oos_weight}: {oos_weight_source}")
        card = weigh_oos(out_dir, oos_weight, oos_weight_source, min_oos_recall)
    if val_rows:
        say("evaluating on the validation split")
        card["metrics"]["val"] = evaluate_rows(val_rows, out_dir, latency=False)
    return write_card(out_dir, card)


def _distilled_targets(
    y: np.ndarray, d: Distillation, n_labels: int, smoothing: float
) -> np.ndarray:
    """Intent targets as probability rows: the file's labels (smoothed), then the teacher's."""
    soft = np.asarray(d.soft_labels, dtype=np.float32)
    if soft.shape != (len(d.texts), n_labels):
        raise DataError(
            f"distillation: soft labels of shape {soft.shape}, expected "
            f"({len(d.texts)}, {n_labels}) (one row per text over the training file's labels)"
        )
    hard = np.full((len(y), n_labels), smoothing / n_labels, dtype=np.float32)
    hard[np.arange(len(y)), y] += 1.0 - smoothing
    return np.concatenate([hard, soft])


def _data_entry(role: str, path: str | Path) -> dict[str, Any]:
    p = Path(path)
    rows = sum(1 for _ in read_lines(p))
    return {"role": role, "file": p.name, "sha256": sha256_file(p), "rows": rows}


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("edge-moma")
    except PackageNotFoundError:
        return "unknown (not installed)"


def evaluate_intent(
    data_path: str | Path,
    model_dir: str | Path,
    *,
    latency: bool = True,
    warmup: int = 200,
) -> dict[str, Any]:
    """Evaluate a bundle on an intent file; the report ``edge-moma eval intent`` prints.

    Latency is featurize + infer + decide for one text at a time (batch size
    1, the session's single intra-op thread), in microseconds. The fp32-vs-int8
    accuracy difference is measured when the bundle holds both models, else
    quoted from the model card.
    """
    report = evaluate_rows(read_intent_file(data_path), model_dir, latency=latency, warmup=warmup)
    return {"data": Path(data_path).name, **report}


def evaluate_rows(
    rows: Sequence[IntentExample],
    model_dir: str | Path,
    *,
    latency: bool = True,
    warmup: int = 200,
) -> dict[str, Any]:
    """``evaluate_intent`` on rows already in memory."""
    import onnxruntime  # noqa: F401  (a one-time import, not part of loading a bundle)

    model_dir = Path(model_dir)
    began = time.perf_counter()
    router = IntentRouter.load(model_dir)
    load_ms = (time.perf_counter() - began) * 1e3
    texts = [r.text for r in rows]
    preds, tasks, times, cpu_times = _run(router, texts, latency, warmup)
    report: dict[str, Any] = {"model": router.version}
    report.update(intent_metrics([r.label for r in rows], preds))
    if latency:
        report["latency_us"] = _percentiles(times)
        # CPU time of the calling thread (ONNX Runtime runs there with one intra-op
        # thread): the cost without the wait for a core on a busy machine.
        report["cpu_us"] = _percentiles(cpu_times)
        report["load_ms"] = round(load_ms, 1)
    report["threshold"] = router.threshold
    with_task = [(r.task, t) for r, t in zip(rows, tasks, strict=True) if r.task is not None]
    if with_task and router.tasks:
        report["task"] = _task_metrics([a for a, _ in with_task], [b for _, b in with_task])
    models = router.card["models"]
    report["model_bytes"] = (model_dir / models["int8"]).stat().st_size
    report["int8_vs_fp32"] = _precision_diff(model_dir, router.card, texts, rows, report)
    return report


def _percentiles(ns: Sequence[int]) -> dict[str, float]:
    us = np.array(ns) / 1e3
    return {
        "p50": round(float(np.percentile(us, 50)), 1),
        "p99": round(float(np.percentile(us, 99)), 1),
        "mean": round(float(us.mean()), 1),
    }


def _run(
    router: IntentRouter, texts: Sequence[str], timed: bool, warmup: int
) -> tuple[list[str], list[str], list[int], list[int]]:
    featurize, understand = router.featurizer.indices, router.understand_indices
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    if timed:
        for text in texts[:warmup]:
            understand(featurize(text))
    preds, tasks, times, cpu_times = [], [], [], []
    for text in texts:
        start, start_cpu = wall(), cpu()
        u = understand(featurize(text))
        times.append(wall() - start)
        cpu_times.append(cpu() - start_cpu)
        preds.append(OOS if u.out_of_scope or not u.intents else u.intents[0].label)
        tasks.append(u.task)
    return preds, tasks, times, cpu_times


def _precision_diff(
    model_dir: Path,
    card: dict[str, Any],
    texts: Sequence[str],
    rows: Sequence[IntentExample],
    report: dict[str, Any],
) -> dict[str, Any]:
    if "fp32" not in card["models"] or not (model_dir / card["models"]["fp32"]).is_file():
        quoted = read_card(model_dir).get("metrics", {}).get("test", {}).get("int8_vs_fp32")
        return {**(quoted or {}), "source": "model card (no fp32 model in this bundle)"}
    fp32 = IntentRouter.load(model_dir, precision="fp32", verify=False)
    preds, _, _, _ = _run(fp32, texts, False, 0)
    fp32_acc = intent_metrics([r.label for r in rows], preds)["accuracy"] or 0.0
    int8_acc = report["accuracy"] or 0.0
    return {
        "source": "measured",
        "fp32_accuracy": fp32_acc,
        "int8_accuracy": int8_acc,
        "difference_points": round(100 * (int8_acc - fp32_acc), 2),
    }
