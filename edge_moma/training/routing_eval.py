"""The routing benchmark: quality-cost curves of the router and its baselines on a routing set.

``edge-moma eval routing`` calls ``evaluate_routing``. For each router the
trade-off knob is swept and every query goes to
``utility.select_batch(quality, estimated_cost / c_ref, lam)``; a point of the
curve is the mean *actual* score and the mean *actual* cost (the file's per-call
figures) of those choices. The cost a router decides with is an estimate it
has before the call:

* the router: its ``log_cost`` head (expected USD per model for this query);
  pool models it does not know are priced at the evaluated file's per-model
  mean cost (a deployment knows its price list);
* ``knn`` / ``logreg``: the per-model mean cost of their training file;
* ``task_lookup``: the per-task, per-model mean cost of its training file;
* ``oracle``: the true per-call scores and costs (an upper bound).

``c_ref`` (the largest per-model mean estimate) makes the knob dimensionless.
Baselines ``single_hull`` (the single models and their random mixes) and
``random`` (each query goes to the best single model with probability p, else
to the cheapest, seeded) need no training. Figures read off the curves are in
``routing_metrics``.

``eval`` never trains the router on the file it evaluates: it uses a trained
bundle and trains the baselines on that bundle's training file; ``cv=K``
instead trains router and baselines on K-1 folds of the file, predicts the
held-out fold, and pools the held-out predictions of every fold into one curve.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._extras import require
from ..errors import BundleError, DataError
from ..routing.utility import select_batch
from . import routing_metrics as rm
from .routing_data import RoutingSet, kfold_indices, load_routing_set

logger = logging.getLogger(__name__)

LAMBDAS = np.concatenate([[0.0], np.geomspace(1e-4, 1e4, 161), [math.inf]])
KNN_K = 40
RANDOM_SEED = 0
METRIC_KEYS = (
    "aiq",
    "cost_fraction_at_best_single_quality",
    "quality_at_25pct_cost",
    "apgr",
    "cpt50",
    "cpt80",
)
Progress = Callable[[str], None]


# --- curves ---------------------------------------------------------------------------


def sweep(
    quality: np.ndarray,
    est_cost: np.ndarray,
    scores: np.ndarray,
    costs: np.ndarray,
    lambdas: np.ndarray = LAMBDAS,
) -> list[dict[str, Any]]:
    """Curve points of the argmax-utility rule over ``lambdas`` (duplicates dropped).

    Each point: ``lambda`` (dimensionless, see the module docstring), mean
    actual ``cost`` and ``quality``, and ``shares`` (fraction of calls per model index).
    """
    c_ref = float(est_cost.mean(axis=0).max()) or 1.0
    rows = np.arange(len(scores))
    points: list[dict[str, Any]] = []
    seen: set[bytes] = set()
    for lam in lambdas:
        choice = select_batch(quality, est_cost / c_ref, float(lam))
        key = choice.tobytes()
        if key in seen:
            continue
        seen.add(key)
        shares = np.bincount(choice, minlength=scores.shape[1]) / len(choice)
        points.append(
            {
                "lambda": None if math.isinf(lam) else float(lam),
                "cost": float(costs[rows, choice].mean()),
                "quality": float(scores[rows, choice].mean()),
                "shares": shares,
            }
        )
    return points


def random_mix_points(
    scores: np.ndarray, costs: np.ndarray, weak: int, strong: int, seed: int = RANDOM_SEED
) -> list[dict[str, Any]]:
    """Realised points of sending each query to ``strong`` with probability p, else ``weak``."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(scores))
    points = []
    for p in np.linspace(0.0, 1.0, 21):
        choice = np.where(rng.random(len(scores)) < p, strong, weak)
        shares = np.bincount(choice, minlength=scores.shape[1]) / len(choice)
        points.append(
            {
                "lambda": None,
                "p": float(p),
                "cost": float(costs[rows, choice].mean()),
                "quality": float(scores[rows, choice].mean()),
                "shares": shares,
            }
        )
    return points


def curve_metrics(points: list[dict[str, Any]], data: RoutingSet) -> dict[str, Any]:
    """The report's figures for one curve (``None`` where a figure is not defined)."""
    c = np.array([p["cost"] for p in points])
    q = np.array([p["quality"] for p in points])
    mean_cost, mean_q = data.costs.mean(axis=0), data.scores.mean(axis=0)
    best = _best_single(data)
    c_lo, c_hi = float(mean_cost.min()), float(mean_cost.max())
    out: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
    out["aiq"] = rm.aiq(c, q, c_lo, c_hi) if c_hi > c_lo else None
    reach = rm.cost_to_reach(c, q, float(mean_q[best]))
    best_cost = float(mean_cost[best])
    out["cost_fraction_at_best_single_quality"] = (
        None if reach is None or best_cost <= 0 else reach / best_cost
    )
    out["quality_at_25pct_cost"] = rm.quality_within(c, q, 0.25 * best_cost)
    if len(data.models) == 2 and mean_q[0] != mean_q[1]:
        strong = int(np.argmax(mean_q))
        share = np.array([float(p["shares"][strong]) for p in points])
        q_weak, q_strong = float(mean_q[1 - strong]), float(mean_q[strong])
        out["apgr"] = rm.apgr(share, q, q_weak, q_strong)
        out["cpt50"] = rm.cpt(share, q, q_weak, q_strong, 0.5)
        out["cpt80"] = rm.cpt(share, q, q_weak, q_strong, 0.8)
    return {k: None if v is None else round(float(v), 6) for k, v in out.items()}


def _best_single(data: RoutingSet) -> int:
    """The most accurate single model (the cheaper one on a tie)."""
    mean_q, mean_c = data.scores.mean(axis=0), data.costs.mean(axis=0)
    return int(np.lexsort((mean_c, -mean_q))[0])


def _public(points: list[dict[str, Any]], models: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for p in points:
        d = {k: v for k, v in p.items() if k != "shares"}
        d["cost"], d["quality"] = round(d["cost"], 9), round(d["quality"], 6)
        d["shares"] = {
            m: round(float(s), 4) for m, s in zip(models, p["shares"], strict=True) if s > 0
        }
        out.append(d)
    return out


# --- baselines ----------------------------------------------------------------------


def _align(train: RoutingSet, test: RoutingSet, values: np.ndarray, fill: float) -> np.ndarray:
    """Columns of ``values`` (train's models) rearranged to test's models; others get ``fill``."""
    index = {m: i for i, m in enumerate(train.models)}
    out = np.empty((values.shape[0], len(test.models)))
    for j, m in enumerate(test.models):
        out[:, j] = values[:, index[m]] if m in index else fill
    return out


def _tfidf(train: RoutingSet, test: RoutingSet) -> tuple[Any, Any]:
    require("sklearn", "bench")
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(sublinear_tf=True, min_df=2)
    return vec.fit_transform(train.prompts), vec.transform(test.prompts)


def knn_quality(train: RoutingSet, test: RoutingSet, k: int = KNN_K) -> np.ndarray:
    """Mean scores of the ``k`` most similar training prompts (TF-IDF cosine)."""
    x_tr, x_te = _tfidf(train, test)
    k = min(k, len(train))
    sim = (x_te @ x_tr.T).toarray()
    # Stable order: ties among neighbours go to the earlier training row.
    nearest = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    pred = train.scores[nearest].mean(axis=1)
    return _align(train, test, pred, float(train.scores.mean()))


def logreg_quality(train: RoutingSet, test: RoutingSet) -> np.ndarray:
    """One logistic regression per model on TF-IDF features (fractional scores as weights)."""
    from scipy.sparse import vstack
    from sklearn.linear_model import LogisticRegression

    x_tr, x_te = _tfidf(train, test)
    n = len(train)
    x2 = vstack([x_tr, x_tr]).tocsr()
    y2 = np.r_[np.ones(n), np.zeros(n)]
    pred = np.empty((len(test), len(train.models)))
    for j in range(len(train.models)):
        s = train.scores[:, j]
        if s.min() == s.max():
            pred[:, j] = s[0]
            continue
        w = np.r_[s, 1.0 - s]
        clf = LogisticRegression(C=1.0, max_iter=1000)
        clf.fit(x2, y2, sample_weight=w)
        pred[:, j] = clf.predict_proba(x_te)[:, 1]
    return _align(train, test, pred, float(train.scores.mean()))


def task_lookup(train: RoutingSet, test: RoutingSet, values: np.ndarray) -> np.ndarray:
    """Per-task mean of ``values`` (train rows x models); unseen tasks get the overall mean."""
    overall = values.mean(axis=0)
    tasks_tr = np.array([t or "" for t in train.tasks])
    table = {t: values[tasks_tr == t].mean(axis=0) for t in np.unique(tasks_tr)}
    pred = np.stack([table.get(t or "", overall) for t in test.tasks]) if len(test) else values[:0]
    return _align(train, test, pred, float(values.mean()))


def _mean_cost(train: RoutingSet, test: RoutingSet) -> np.ndarray:
    per_model = train.costs.mean(axis=0)
    fill = test.costs.mean(axis=0)
    out = np.tile(fill, (len(test), 1))
    index = {m: i for i, m in enumerate(train.models)}
    for j, m in enumerate(test.models):
        if m in index:
            out[:, j] = per_model[index[m]]
    return out


# --- the router ---------------------------------------------------------------------


class _Pooled:
    """A pool entry named like the file's model, with no profile and no priors."""

    def __init__(self, name: str):
        self.name = name
        self.profile: str | None = None
        self.priors: dict[str, float] | None = None


def router_predictions(bundle_dir: Path, test: RoutingSet) -> tuple[np.ndarray, np.ndarray]:
    """(quality, estimated cost) of the bundle's predictor for every test prompt x pool model."""
    from ..routing.quality import QualityPredictor

    predictor = QualityPredictor.load(bundle_dir)
    pool = [_Pooled(m) for m in test.models]
    known_q, known_c = predictor.known_batch(test.prompts)
    quality = np.stack([predictor.score_pool(row, pool) for row in known_q])
    cost = np.tile(test.costs.mean(axis=0), (len(test), 1))
    index = {m: i for i, m in enumerate(predictor.models)}
    for j, m in enumerate(test.models):
        if m in index:
            cost[:, j] = known_c[:, index[m]]
    return quality, cost


# --- the benchmark -------------------------------------------------------------------


def _predict_all(
    train: RoutingSet, test: RoutingSet, bundle_dir: Path, progress: Progress | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(quality, estimated cost) on ``test`` of the router and every learned baseline."""
    out = {"router": router_predictions(bundle_dir, test)}
    mean_cost = _mean_cost(train, test)
    if progress:
        progress("baselines: knn, logreg, task_lookup")
    out["knn"] = (knn_quality(train, test), mean_cost)
    out["logreg"] = (logreg_quality(train, test), mean_cost)
    if test.has_tasks and train.has_tasks:
        out["task_lookup"] = (task_lookup(train, test, train.scores), _task_cost(train, test))
    return out


def _task_cost(train: RoutingSet, test: RoutingSet) -> np.ndarray:
    cost = task_lookup(train, test, train.costs)
    missing = [j for j, m in enumerate(test.models) if m not in train.models]
    if missing:
        cost[:, missing] = test.costs.mean(axis=0)[missing]
    return cost


def evaluate_routing(
    data_path: str | Path,
    bundle_dir: str | Path | None = None,
    train_path: str | Path | None = None,
    cv: int | None = None,
    seed: int = 0,
    train_config: Any = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Benchmark the router and its baselines on a routing file; return the JSON report.

    Without ``cv``: the router of ``bundle_dir`` (default: the shipped one) on
    the whole file, baselines trained on ``train_path`` (default: the bundle's
    training file). With ``cv=K``: K-fold cross-validation on the file itself.
    """
    data = load_routing_set(data_path)
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    info: dict[str, Any]
    if cv:
        folds = kfold_indices(len(data), cv, seed)
        with tempfile.TemporaryDirectory(prefix="edge-moma-cv-") as tmp:
            for i, (tr, te) in enumerate(folds):
                train, test = data.subset(tr), data.subset(te)
                if progress:
                    progress(f"fold {i + 1}/{cv}: training the router on {len(train)} prompts")
                fold_dir = Path(tmp) / f"fold{i}"
                _train_router(train, fold_dir, train_config, seed)
                for name, (q, c) in _predict_all(train, test, fold_dir, progress).items():
                    parts.setdefault(name, []).append((te, q, c))
        info = {"mode": f"{cv}-fold cross-validation on the file", "folds": cv, "seed": seed}
    else:
        from ..bundle_dirs import shipped_bundle_dir
        from ..routing.bundle import read_card

        bundle = Path(bundle_dir) if bundle_dir else shipped_bundle_dir("routing")
        card = read_card(bundle)
        train_file = Path(train_path) if train_path else _card_data_path(card, bundle)
        train = load_routing_set(train_file)
        if progress:
            progress(f"router {bundle}; baselines trained on {train_file}")
        for name, (q, c) in _predict_all(train, data, bundle, progress).items():
            parts[name] = [(np.arange(len(data)), q, c)]
        info = {
            "mode": "trained predictor on the whole file",
            "predictor": {"dir": str(bundle), "version": card.get("version")},
            "baselines_trained_on": str(train_file),
        }
    return _report(data, parts, info)


def _train_router(train: RoutingSet, out: Path, config: Any, seed: int) -> None:
    from dataclasses import replace

    from .quality import default_train_config, train_quality

    cfg = config or default_train_config()
    train_quality(train, out, replace(cfg, seed=seed))


def _card_data_path(card: dict[str, Any], bundle: Path) -> Path:
    """The bundle's training file: as recorded, else relative to the repository or cwd."""
    recorded = (card.get("data") or {}).get("path")
    if not recorded:
        raise BundleError(f"{bundle}: the model card names no training file; pass --train FILE")
    path = Path(recorded)
    candidates = [path] if path.is_absolute() else [bundle.parent.parent / path, Path.cwd() / path]
    for c in candidates:
        if c.is_file():
            return c
    raise DataError(
        f"the predictor's training file {recorded} is not here (looked in "
        f"{', '.join(str(c) for c in candidates)}); pass --train FILE to train the baselines"
    )


def _report(
    data: RoutingSet,
    parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]],
    info: dict[str, Any],
) -> dict[str, Any]:
    curves: dict[str, list[dict[str, Any]]] = {}
    for name, chunks in parts.items():
        quality = np.empty(data.scores.shape)
        cost = np.empty(data.costs.shape)
        for rows, q, c in chunks:
            quality[rows], cost[rows] = q, c
        curves[name] = sweep(quality, cost, data.scores, data.costs)
    mean_cost, mean_q = data.costs.mean(axis=0), data.scores.mean(axis=0)
    best = _best_single(data)
    curves["single_hull"] = [
        {
            "lambda": None,
            "model": m,
            "cost": float(c),
            "quality": float(q),
            "shares": np.eye(len(data.models))[j],
        }
        for j, (m, c, q) in enumerate(zip(data.models, mean_cost, mean_q, strict=True))
    ]
    cheapest = int(np.lexsort((-mean_q, mean_cost))[0])
    curves["random"] = random_mix_points(data.scores, data.costs, cheapest, best)
    curves["oracle"] = sweep(data.scores, data.costs, data.scores, data.costs)
    router = curves.pop("router")
    report: dict[str, Any] = {"n": len(data), "models": list(data.models)}
    report.update(curve_metrics(router, data))
    report["curve"] = _public(router, data.models)
    order = ["single_hull", "random", "oracle", "knn", "logreg", "task_lookup"]
    report["baselines"] = {
        name: {**curve_metrics(curves[name], data), "curve": _public(curves[name], data.models)}
        for name in order
        if name in curves
    }
    report["cost_range"] = [float(mean_cost.min()), float(mean_cost.max())]
    report["best_single"] = {
        "model": data.models[best],
        "quality": round(float(mean_q[best]), 6),
        "cost": float(mean_cost[best]),
    }
    report["data"] = {"path": data.path, "sha256": data.sha256, "tasks": data.has_tasks}
    report["setup"] = {
        **info,
        "knn_k": KNN_K,
        "aiq_range": "mean cost of the cheapest to the most expensive single model",
        "cost_estimates": {
            "router": "its log_cost head",
            "knn": "per-model mean train cost",
            "logreg": "per-model mean train cost",
            "task_lookup": "per-task per-model mean train cost",
            "oracle": "true per-call costs",
        },
    }
    return report


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The report's figures without curves, for the terminal."""
    rows = {"router": {k: report[k] for k in METRIC_KEYS}}
    for name, b in report["baselines"].items():
        rows[name] = {k: b[k] for k in METRIC_KEYS}
    return {
        "n": report["n"],
        "models": len(report["models"]),
        "mode": report["setup"]["mode"],
        "cost_range": report["cost_range"],
        "best_single": report["best_single"],
        "figures": rows,
    }


def plot_report(report: dict[str, Any], path: str | Path) -> Path:
    """Draw every curve (mean cost vs mean quality) into a PNG."""
    matplotlib = require("matplotlib", "bench")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    styles = {
        "single_hull": ("k", "o", ":"),
        "random": ("0.5", "", "--"),
        "oracle": ("tab:green", "", "-"),
        "knn": ("tab:orange", "", "-"),
        "logreg": ("tab:purple", "", "-"),
        "task_lookup": ("tab:brown", "", "-"),
    }
    for name, b in report["baselines"].items():
        color, marker, line = styles.get(name, ("0.3", "", "-"))
        pts = sorted(b["curve"], key=lambda p: p["cost"])
        xs, ys = rm.upper_hull(
            np.array([p["cost"] for p in pts]), np.array([p["quality"] for p in pts])
        )
        if name == "single_hull":
            ax.scatter([p["cost"] for p in pts], [p["quality"] for p in pts], c=color, s=14)
        ax.plot(
            xs,
            ys,
            color=color,
            linestyle=line,
            marker=marker or None,
            ms=3,
            label=f"{name} (AIQ {b['aiq']:.3f})" if b["aiq"] is not None else name,
        )
    pts = report["curve"]
    xs, ys = rm.upper_hull(
        np.array([p["cost"] for p in pts]), np.array([p["quality"] for p in pts])
    )
    ax.scatter([p["cost"] for p in pts], [p["quality"] for p in pts], c="tab:blue", s=8, alpha=0.5)
    aiq = report["aiq"]
    ax.plot(
        xs,
        ys,
        color="tab:blue",
        lw=2,
        label=f"router (AIQ {aiq:.3f})" if aiq is not None else "router",
    )
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per query (USD, log scale)")
    ax.set_ylabel("mean quality")
    ax.set_title(f"Routing benchmark: {report['n']} prompts, {len(report['models'])} models")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
