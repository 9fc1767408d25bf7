"""Quality predictor: trained on a real file, scored through real ONNX Runtime sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from routing_samples import routing_rows, write_routing_file

from edge_moma.bundle_dirs import CARD_NAME
from edge_moma.errors import BundleError
from edge_moma.routing.features import Featurizer
from edge_moma.routing.quality import DEFAULT_PRIOR, QualityPredictor, blend_task_prior
from edge_moma.training.quality import train_quality
from edge_moma.training.routing_data import RoutingSet, load_routing_set


@dataclass(frozen=True)
class Model:
    """Shaped like a config's model entry."""

    name: str
    profile: str = ""
    priors: dict[str, float] = field(default_factory=dict)


CODE, CHAT = "def parse_lamp7(text): return text.split()", "tell me a joke about cloud3"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("quality")
    data = load_routing_set(write_routing_file(tmp / "train.jsonl", routing_rows(80)))
    train_quality(data, tmp / "bundle", data_path="train.jsonl")
    return tmp / "bundle"


def _ids(predictor: QualityPredictor, text: str) -> np.ndarray:
    return predictor.featurizer.indices(text)


def test_card_records_models_data_and_files(bundle: Path) -> None:
    p = QualityPredictor.load(bundle)
    assert p.models == ("big", "small")
    assert p.card["data"]["path"] == "train.jsonl" and p.card["data"]["n"] == 80
    assert p.featurizer == Featurizer()  # one featurization serves both routers
    assert set(p.card["files"]) == {"quality.int8.onnx"}


def test_the_file_tasks_make_the_served_table(bundle: Path) -> None:
    p = QualityPredictor.load(bundle)
    prior = p.card["task_prior"]
    assert prior["labels"] == ["chat", "code"] and prior["source"] == "file"
    assert prior["weight"] == 0.0  # the table alone is served when there are tasks
    assert np.array(prior["observed"]).sum() == 80 * 2  # every row scores both models
    # Code prompts: only big answers well, in the per-task table and in what is served.
    table = np.array(prior["quality"])
    assert table[1, 0] - table[1, 1] > 0.5
    quality, _ = p.known(_ids(p, CODE))
    assert quality[0] - quality[1] > 0.3
    assert set(p.card["heads"]) == {"task", "log_cost"}


def test_rows_without_tasks_get_pseudo_tasks_and_still_route(tmp_path: Path) -> None:
    data = load_routing_set(write_routing_file(tmp_path / "t.jsonl", routing_rows(120)))
    untagged = RoutingSet(
        data.path, data.ids, data.prompts, (None,) * len(data), data.models, data.scores,
        data.costs, data.sha256,
    )  # fmt: skip
    train_quality(untagged, tmp_path / "b")
    p = QualityPredictor.load(tmp_path / "b")
    assert p.card["task_prior"]["source"] == "clusters"
    assert len(p.card["task_prior"]["labels"]) >= 2
    code, _ = p.known(_ids(p, CODE))
    chat, _ = p.known(_ids(p, CHAT))
    assert code[0] - code[1] > 0.3 and abs(chat[0] - chat[1]) < code[0] - code[1]


def test_without_tasks_a_logistic_head_is_served(tmp_path: Path) -> None:
    rows = [dict(r, task=None) for r in routing_rows(80)]
    data = load_routing_set(write_routing_file(tmp_path / "t.jsonl", rows[:1]))
    train_quality(data, tmp_path / "b")  # one prompt: no table, the head alone
    p = QualityPredictor.load(tmp_path / "b")
    assert "task_prior" not in p.card and "quality" in p.card["heads"]
    quality, _ = p.known(_ids(p, CHAT))
    assert ((quality > 0) & (quality < 1)).all()


def test_uncertainty_falls_with_outcomes_and_is_one_for_unknown_models(tmp_path: Path) -> None:
    data = load_routing_set(write_routing_file(tmp_path / "t.jsonl", routing_rows(80)))
    scores = data.scores.copy()
    scores[10:, 1] = np.nan  # "small" has 10 outcomes, "big" 80
    partial = RoutingSet(
        data.path, data.ids, data.prompts, data.tasks, data.models, scores, data.costs,
        data.sha256,
    )  # fmt: skip
    train_quality(partial, tmp_path / "b")
    p = QualityPredictor.load(tmp_path / "b")
    quality, unsure = p.assess_many([_ids(p, CODE), _ids(p, CHAT)])
    assert np.allclose(quality, p.known_quality_many([_ids(p, CODE), _ids(p, CHAT)]))
    assert ((unsure > 0) & (unsure < 1)).all() and (unsure[:, 1] > unsure[:, 0]).all()
    pool = [Model("big"), Model("stranger", priors={"overall": 0.5})]
    assert p.pool_uncertainty(unsure[0], pool) == [unsure[0, 0], 1.0]


def test_blend_task_prior_mixes_head_and_task_table() -> None:
    head = np.array([0.2, 0.8])
    table = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert blend_task_prior(head, np.array([1.0, 0.0]), table, 1.0).tolist() == [0.2, 0.8]
    assert blend_task_prior(head, np.array([1.0, 0.0]), table, 0.0).tolist() == [1.0, 0.0]
    mixed = blend_task_prior(head, np.array([0.5, 0.5]), table, 0.5)
    assert np.allclose(mixed, [0.35, 0.65])


def test_known_models_learn_the_signal(bundle: Path) -> None:
    p = QualityPredictor.load(bundle)
    pool = [Model("big"), Model("small")]
    code = p.predict(_ids(p, CODE), pool)
    chat = p.predict(_ids(p, CHAT), pool)
    assert ((code >= 0) & (code <= 1)).all()
    assert code[0] - code[1] > 0.3  # only big writes code
    assert abs(chat[0] - chat[1]) < code[0] - code[1]
    _, cost = p.known(_ids(p, CHAT))
    assert cost[0] > 5 * cost[1]  # the cost head prices big above small


def test_profile_and_name_use_the_learned_head(bundle: Path) -> None:
    p = QualityPredictor.load(bundle)
    pool = [Model("my-gpt", profile="big"), Model("small", priors={"overall": 0.99})]
    q = p.predict(_ids(p, CODE), pool)
    known, _ = p.known(_ids(p, CODE))
    assert q.tolist() == [known[0], known[1]]  # a learned profile replaces priors
    assert [r.source for r in p.resolve(pool)] == ["profile", "name"]


def test_unknown_model_is_scored_by_priors_per_task(bundle: Path) -> None:
    p = QualityPredictor.load(bundle)
    local = Model("local-gguf", priors={"overall": 0.6, "code": 0.2, "chat": 0.9})
    ids = _ids(p, CHAT)
    as_code = p.predict(ids, [local], task="code")[0]
    as_chat = p.predict(ids, [local], task="chat")[0]
    overall = p.predict(ids, [local], task="math")[0]  # no prior for math: overall
    assert as_code < overall < as_chat
    mixed = p.predict(ids, [local], task_probs={"code": 0.5, "chat": 0.5})[0]
    assert as_code < mixed < as_chat
    assert [r.source for r in p.resolve([local])] == ["priors"]


def test_unknown_model_without_priors_gets_the_default_moved_by_difficulty(bundle: Path) -> None:
    p = QualityPredictor.load(bundle)
    stranger = Model("stranger")
    code = p.predict(_ids(p, CODE), [stranger])[0]
    chat = p.predict(_ids(p, CHAT), [stranger])[0]
    # Code prompts are harder for the known models, so the stranger's estimate drops there.
    assert code < chat
    assert abs(0.5 * (code + chat) - DEFAULT_PRIOR) < 0.3
    assert p.resolve([stranger])[0].source == "default"


def test_unknown_profile_falls_back_and_warns(
    bundle: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = QualityPredictor.load(bundle)
    entry = Model("x", profile="no-such-model", priors={"overall": 0.8})
    assert p.resolve([entry])[0].source == "priors"
    assert "no-such-model" in caplog.text


def test_predictions_are_deterministic_across_loads(bundle: Path) -> None:
    a, b = QualityPredictor.load(bundle), QualityPredictor.load(bundle)
    pool = [Model("big"), Model("small"), Model("local", priors={"overall": 0.7})]
    for text in (CODE, CHAT, "", "x" * 5000):
        first = a.predict(_ids(a, text), pool, task="code")
        assert np.array_equal(first, a.predict(_ids(a, text), pool, task="code"))
        assert np.array_equal(first, b.predict(_ids(b, text), pool, task="code"))


def test_training_twice_gives_the_same_model(bundle: Path, tmp_path: Path) -> None:
    data = load_routing_set(write_routing_file(tmp_path / "train.jsonl", routing_rows(80)))
    train_quality(data, tmp_path / "again", data_path="train.jsonl")
    first = (bundle / "quality.int8.onnx").read_bytes()
    assert (tmp_path / "again" / "quality.int8.onnx").read_bytes() == first


def test_corrupt_or_foreign_bundle_is_refused(bundle: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in bundle.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    onnx_file = broken / "quality.int8.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes()[:-10])
    with pytest.raises(BundleError, match="sha256"):
        QualityPredictor.load(broken)
    card = (bundle / CARD_NAME).read_text(encoding="utf-8").replace('"routing"', '"intent"', 1)
    (broken / CARD_NAME).write_text(card, encoding="utf-8")
    with pytest.raises(BundleError, match="expected 'routing'"):
        QualityPredictor.load(broken)


def test_mean_logit_matches_numpy_including_clipped_ends() -> None:
    from edge_moma.routing.quality import _logit, _mean_logit

    for p in (np.array([0.0, 1.0, 0.5]), np.random.default_rng(0).uniform(0, 1, 11)):
        assert _mean_logit(p) == pytest.approx(float(_logit(p).mean()), rel=1e-12, abs=1e-12)
