"""Fleet side: collect verifies, dedupes and rejects; the gate decides; publish makes a release."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from log_samples import make_record

from edge_moma.bundle_dirs import active_bundle_dir
from edge_moma.errors import DataError
from edge_moma.jsonl import read_records
from edge_moma.log.store import Feedback, LogStore, decision_rows
from edge_moma.log.sync import MANIFEST_SUFFIX, export_batch
from edge_moma.training.fleet import collect, gate, iter_collected, logged_intent_examples, publish
from edge_moma.training.rollout import install


def device_batches(tmp_path: Path, name: str, records: list) -> Path:
    store = LogStore.open(tmp_path / name / "decisions.db")
    store.insert(decision_rows(records, name, "store", None))
    store.add_feedback(Feedback(records[0].decision.id, score=1.0))
    export_batch(store, tmp_path / "inbox" / name, name)
    store.close()
    return tmp_path / "inbox" / name


def test_collect_verifies_dedupes_and_rejects(tmp_path: Path) -> None:
    a = [make_record(i) for i in range(30)]
    b = [make_record(i) for i in range(20)]
    device_batches(tmp_path, "dev-a", a)
    device_batches(tmp_path, "dev-b", b + a[:5])  # five decisions arrive twice
    tampered_dir = device_batches(tmp_path, "dev-c", [make_record(i) for i in range(3)])
    manifest = next(tampered_dir.glob(f"*{MANIFEST_SUFFIX}"))
    data = json.loads(manifest.read_text())
    data["schema_version"] = 42
    manifest.write_text(json.dumps(data))
    db = tmp_path / "fleet" / "fleet.db"
    report = collect([tmp_path / "inbox"], db)
    assert len(report["batches"]) == 2
    assert report["decisions"] == 50 and report["duplicates"] == 5 and report["feedback"] == 2
    assert len(report["rejected"]) == 1
    assert "schema version 42 is unknown" in report["rejected"][0]["error"]
    collected = list(iter_collected(db))
    assert len(collected) == 50 and len({r["id"] for r in collected}) == 50
    shutil.rmtree(tmp_path / "inbox" / "dev-a")  # the fleet keeps its own copy
    assert len(list(iter_collected(db))) == 50
    logged = logged_intent_examples(db)
    assert len(logged["train"]) + len(logged["holdout"]) == 2  # two decisions had feedback
    assert {r.label for r in logged["train"] + logged["holdout"]} == {"calculator"}
    again = collect([tmp_path / "inbox"], db)
    assert again["decisions"] == 0 and len(again["already_collected"]) == 1
    with pytest.raises(DataError, match="not a batch manifest"):
        collect([db], db)


def test_collect_reads_batches_of_the_previous_schema(tmp_path: Path) -> None:
    # A device not yet upgraded still exports version-4 batches (the same fields).
    import gzip
    import hashlib

    records = [make_record(i) for i in range(4)]
    inbox = device_batches(tmp_path, "dev-old", records)
    manifest_path = next(inbox.glob(f"*{MANIFEST_SUFFIX}"))
    manifest = json.loads(manifest_path.read_text())
    manifest["schema_version"] = 4
    for entry in manifest["files"].values():
        path = inbox / entry["file"]
        lines = gzip.decompress(path.read_bytes()).decode().splitlines()
        old = [
            json.dumps({**json.loads(line), "schema": 4}, separators=(",", ":")) for line in lines
        ]
        path.write_bytes(gzip.compress(("\n".join(old) + "\n").encode()))
        entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    report = collect([inbox], tmp_path / "fleet" / "fleet.db")
    assert report["rejected"] == [] and report["decisions"] == 4
    ids = {r["id"] for r in iter_collected(tmp_path / "fleet" / "fleet.db")}
    assert ids == {r.decision.id for r in records}


def test_gate_and_publish_make_an_installable_release(tiny_intent: Path, tmp_path: Path) -> None:
    holdout = tmp_path / "holdout.jsonl"
    holdout.write_text(
        "\n".join(
            json.dumps({"text": t, "label": label})
            for t, label in [
                ("what's the weather in paris", "weather"),
                ("set a timer for ten minutes", "timer"),
                ("how much money is in my checking account", "balance"),
                ("translate thank you into german", "translate"),
                ("what is 12 times 7", "calculator"),
                ("who won the world cup in 1998", "oos"),
            ]
        )
        + "\n"
    )
    report = gate(tiny_intent, tiny_intent, [holdout], tmp_path / "gate.json")
    assert report["promote"] is True and report["delta"] == 0.0
    assert json.loads((tmp_path / "gate.json").read_text())["holdout_rows"] == 6
    stricter = gate(tiny_intent, tiny_intent, [holdout], tmp_path / "g2.json", tolerance=-0.01)
    assert stricter["promote"] is False
    release = publish(
        {"intent": tiny_intent}, tmp_path / "releases", release="r1", gate_report=report
    )
    with pytest.raises(DataError, match="already exists"):
        publish({"intent": tiny_intent}, tmp_path / "releases", release="r1")
    state = install(tmp_path / "device", release)
    assert state["active"]["intent"] == report["candidate"]["version"]
    assert active_bundle_dir(tmp_path / "device", "intent") is not None
    # A release with one byte changed is refused.
    broken = tmp_path / "broken"
    shutil.copytree(release, broken)
    (broken / "intent" / "card.json").write_text(
        (broken / "intent" / "card.json").read_text().replace('"kind"', '"kind" ', 1)
    )
    with pytest.raises(Exception, match="sha256 does not match the release"):
        install(tmp_path / "device2", broken)


def _rewrite(inbox: Path, data: bytes) -> None:
    """Replace a batch's decisions file with ``data`` and fix its sha256 in the manifest."""
    import hashlib

    manifest_path = next(inbox.glob(f"*{MANIFEST_SUFFIX}"))
    manifest = json.loads(manifest_path.read_text())
    entry = manifest["files"]["decisions"]
    (inbox / entry["file"]).write_bytes(data)
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    manifest_path.write_text(json.dumps(manifest))


def _lines(inbox: Path) -> list[bytes]:
    import gzip

    path = next(inbox.glob("*.decisions.jsonl.gz"))
    return [line + b"\n" for line in gzip.decompress(path.read_bytes()).split(b"\n")[:-1]]


def test_collect_reads_many_gzip_members_across_small_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gzip

    import edge_moma.training.fleet

    records = [make_record(i, attempts=i % 2 == 0) for i in range(25)]
    inbox = device_batches(tmp_path, "dev-m", records)
    lines = _lines(inbox)
    # Three members (as `cat a.gz b.gz c.gz` makes), read 100 compressed bytes at a time:
    # lines and members end in the middle of reads.
    members = [lines[:7], lines[7:8], lines[8:]]
    _rewrite(inbox, b"".join(gzip.compress(b"".join(m)) for m in members))
    monkeypatch.setattr(edge_moma.training.fleet, "_RAW_CHUNK", 100)
    report = collect([inbox], tmp_path / "fleet" / "fleet.db")
    assert report["rejected"] == [] and report["decisions"] == 25
    ids = [r["id"] for r in iter_collected(tmp_path / "fleet" / "fleet.db")]
    assert sorted(ids) == sorted(r.decision.id for r in records)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "truncated"),
        ("no_newline", "truncated"),
        ("schema", ".decisions.jsonl.gz:3: not a schema-5 decision"),
        ("order", ".decisions.jsonl.gz:2: not a schema-5 decision"),
        ("unclosed", ".decisions.jsonl.gz:2: the decision id is not a closed string"),
        ("unclosed_last", ".decisions.jsonl.gz:5: the decision id is not a closed string"),
    ],
)
def test_collect_rejects_damaged_lines_even_with_a_matching_sha256(
    tmp_path: Path, damage: str, message: str
) -> None:
    import gzip

    inbox = device_batches(tmp_path, "dev-d", [make_record(i) for i in range(5)])
    lines = _lines(inbox)
    if damage == "truncate":
        data = gzip.compress(b"".join(lines))[:-40]
    elif damage == "no_newline":
        data = gzip.compress(b"".join(lines)[:-1])
    elif damage == "schema":
        lines[2] = lines[2].replace(b'"schema":5', b'"schema":9', 1)
        data = gzip.compress(b"".join(lines))
    elif damage.startswith("unclosed"):  # an id whose closing quote is missing
        at = 1 if damage == "unclosed" else 4
        lines[at] = b'{"schema":5,"id":"abc\n'
        data = gzip.compress(b"".join(lines))
    else:  # a valid JSON object whose keys are in another order
        row = json.loads(lines[1])
        lines[1] = (json.dumps({"id": row.pop("id"), **row}, separators=(",", ":")) + "\n").encode()
        data = gzip.compress(b"".join(lines))
    _rewrite(inbox, data)
    report = collect([inbox], tmp_path / "fleet" / "fleet.db")
    assert report["decisions"] == 0 and len(report["rejected"]) == 1
    error = report["rejected"][0]["error"]
    assert message in error, error


def test_routing_predictor_retrains_from_logged_outcomes_gates_and_publishes(
    tmp_path: Path,
) -> None:
    import dataclasses

    from log_samples import make_decision
    from routing_samples import routing_rows, write_routing_file

    from edge_moma.log.sinks import LogRecord
    from edge_moma.routing.quality import QualityPredictor
    from edge_moma.training.fleet import gate_routing, logged_routing_rows, retrain_routing
    from edge_moma.training.quality import train_quality
    from edge_moma.training.routing_data import load_routing_set

    base = write_routing_file(tmp_path / "base.jsonl", routing_rows(80, seed=0))
    holdout = write_routing_file(tmp_path / "holdout.jsonl", routing_rows(30, seed=1))
    current = tmp_path / "current"
    train_quality(load_routing_set(base), current)
    # Devices run a local model the base file never saw: good at chat, bad at code.
    records, scores = [], {}
    for row in routing_rows(120, seed=2):
        d = dataclasses.replace(make_decision(row["prompt"]), target="local-tiny", propensity=0.8)
        records.append(LogRecord(d, row["prompt"], (), 1))
        scores[d.id] = 1.0 if row["task"] == "chat" else 0.0
    hashed = dataclasses.replace(make_decision("secret"), target="local-tiny")
    records.append(LogRecord(hashed, "secret", (), 1))
    for name, part in (("dev-a", records[:60]), ("dev-b", records[60:])):
        store = LogStore.open(tmp_path / name / "decisions.db")
        mode = "hash" if name == "dev-b" else "store"
        store.insert(decision_rows(part[:-1], name, "store", None))
        store.insert(decision_rows(part[-1:], name, mode, None))
        for r in part:
            store.add_feedback(Feedback(r.decision.id, score=scores.get(r.decision.id, 1.0)))
        export_batch(store, tmp_path / "inbox" / name, name)
        store.close()
    db = tmp_path / "fleet" / "fleet.db"
    assert collect([tmp_path / "inbox"], db)["decisions"] == 121
    logged = logged_routing_rows(db)
    assert logged["skipped"]["without_text"] == 1
    assert len(logged["rows"]) == 120 and {r["fold"] for r in logged["rows"]} == set(range(5))
    assert {r["model"] for r in logged["rows"]} == {"local-tiny"}
    assert {r["propensity"] for r in logged["rows"]} == {0.8}

    out = retrain_routing(db, base, current, tmp_path / "cand", tmp_path / "work")
    assert out["logged"]["logged_models"] == ["local-tiny"]
    assert out["logged"]["logged_with_propensity"] == 120
    candidate = QualityPredictor.load(tmp_path / "cand")
    # The logged model, and the models the devices were offered but never scored: the
    # candidate knows them (pessimistically), so no device scores them by its priors.
    assert candidate.models == ("big", "small", "cloud-large", "local-tiny", "smollm2-135m")
    assert candidate.card["featurizer"] == QualityPredictor.load(current).card["featurizer"]
    assert candidate.card["data"]["observed"]["local-tiny"] == 120
    assert candidate.card["data"]["observed"]["cloud-large"] == 0
    # Every logged outcome also has the recipe's prediction from a model trained without it.
    outcomes = [o for _, o in read_records(out["outcomes_file"])]
    assert len(outcomes) == 120
    chat = [r["candidate_quality"]["local-tiny"] for r in outcomes if r["score"] == 1.0]
    code = [r["candidate_quality"]["local-tiny"] for r in outcomes if r["score"] == 0.0]
    assert np.mean(chat) > 0.6 > 0.4 > np.mean(code)
    # The learned profile: the new model's predicted quality follows its outcomes.
    q, _ = candidate.known_batch(
        ["tell me a joke about lamp12", "def sort_cat3(xs): return sorted(xs)"]
    )
    tiny = candidate.models.index("local-tiny")
    assert q[0, tiny] > 0.6 > 0.4 > q[1, tiny]

    report = gate_routing(
        tmp_path / "cand", current, [holdout], out["outcomes_file"], tmp_path / "gate.json"
    )
    assert report["brier"]["entries"] == 30 * 2  # two common models, 30 held-out prompts
    assert report["brier"]["new_models"]["models"] == ["cloud-large", "local-tiny", "smollm2-135m"]
    assert report["brier"]["new_models"]["entries"] == 120
    # The logged decisions never offered "local-tiny" as a candidate: no routing value
    # can be estimated, so the gate does not promote and says why.
    assert report["value"]["decisions"] == 0 and "propensity" in report["value"]["why"]
    assert report["promote"] is False
    assert json.loads((tmp_path / "gate.json").read_text())["promote"] is False
    release = publish(
        {"routing": tmp_path / "cand"}, tmp_path / "releases", release="r2", gate_report=report
    )
    state = install(tmp_path / "device", release)
    assert state["active"]["routing"] == candidate.version
    # The same through the fleet script (exit 3 = gated out, still a candidate).
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "fleet.py"
    args = [sys.executable, str(script), "retrain-routing", "--db", str(db), "--base", str(base)]
    args += ["--current", str(current), "--holdout", str(holdout)]
    args += ["--alias", "local-tiny=small", "--out", str(tmp_path / "cli-cand")]
    run = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert run.returncode == 3, run.stderr
    printed = json.loads(run.stdout)
    assert printed["logged"]["logged_models"] == ["small"]  # aliased into a known column
    # (only the offered, never-scored models are new)
    assert printed["gate"]["brier"]["new_models"]["models"] == ["cloud-large", "smollm2-135m"]
    assert (tmp_path / "cli-cand.work" / "gate.json").is_file()
    bad = subprocess.run([*args, "--alias", "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and "TARGET=MODEL" in bad.stderr
    # Logged outcomes alone (no base file) train a predictor of the logged models.
    alone = retrain_routing(db, None, current, tmp_path / "alone", tmp_path / "alone.work")
    assert QualityPredictor.load(tmp_path / "alone").models == (
        "cloud-large",
        "local-tiny",
        "smollm2-135m",
    )
    assert alone["logged"]["base_rows"] == 0


def _logged_outcomes(path: Path, current: Path, candidate: Path, seed: int) -> Path:
    """Decisions as the current predictor's exploring policy logged them, each with the
    candidate's prediction (what ``retrain_routing`` writes, out of fold).

    Candidates big and small with the current predictor's figures; the policy takes
    its best with probability 0.7, the other with 0.3; the app scores the answer
    from the file (code: only big answers well; chat: both do).
    """
    from routing_samples import routing_rows

    from edge_moma.routing.quality import QualityPredictor

    rng = np.random.default_rng(seed)
    rows = routing_rows(300, seed=seed)
    predictor = QualityPredictor.load(current)
    quality, _ = predictor.known_batch([r["prompt"] for r in rows])
    theirs, _ = QualityPredictor.load(candidate).known_batch([r["prompt"] for r in rows])
    col = {m: j for j, m in enumerate(predictor.models)}
    lam = 30.0
    lines = []
    for n, (row, q) in enumerate(zip(rows, quality, strict=True)):
        cands = [
            {
                "model": m,
                "quality": float(q[col[m]]),
                "utility": float(q[col[m]]) - lam * row["costs"][m],
                "cost_usd": row["costs"][m],
                "eligible": True,
            }
            for m in ("big", "small")
        ]
        best = max(range(2), key=lambda j: cands[j]["utility"])
        pick = best if rng.random() < 0.7 else 1 - best
        model = cands[pick]["model"]
        lines.append(
            {
                "id": f"h{n}",
                "prompt": row["prompt"],
                "model": model,
                "score": row["scores"][model],
                "propensity": 0.7 if pick == best else 0.3,
                "candidates": cands,
                "fold": n % 5,
                "candidate_quality": {m: float(theirs[n, col[m]]) for m in ("big", "small")},
            }
        )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _train_predictors(tmp_path: Path, learned: dict[str, str]) -> None:
    """A quality predictor in ``tmp_path / name`` for each name, trained on 120 routing
    rows as ``learned`` says: "file" learns them; "nothing", their scores shuffled across
    prompts (it sends everything to the cheap model); "inverted", them upside down (code
    to small, chat to big)."""
    from routing_samples import routing_rows, write_routing_file

    from edge_moma.training.quality import train_quality
    from edge_moma.training.routing_data import load_routing_set

    rows = routing_rows(120, seed=0)
    rng = np.random.default_rng(1)
    data = {
        "file": rows,
        "nothing": [dict(r, scores=rows[int(j)]["scores"]) for r, j in
                    zip(rows, rng.permutation(len(rows)), strict=True)],
        "inverted": [dict(r, scores={m: 1.0 - s for m, s in r["scores"].items()}) for r in rows],
    }  # fmt: skip
    for name, kind in learned.items():
        train_quality(load_routing_set(write_routing_file(tmp_path / f"{name}.jsonl", data[kind])),
                      tmp_path / name)  # fmt: skip


def test_routing_gate_promotes_a_better_candidate_and_refuses_a_worse_one(
    tmp_path: Path,
) -> None:
    from edge_moma.training.fleet import gate_routing

    # The current predictor learned nothing: it sends everything to the cheap model. The
    # good candidate learned the file; the bad one learned it upside down.
    _train_predictors(tmp_path, {"current": "nothing", "good": "file", "bad": "inverted"})
    logged = {
        name: _logged_outcomes(tmp_path / f"{name}.log", tmp_path / "current", tmp_path / name, 3)
        for name in ("good", "bad")
    }
    good = gate_routing(
        tmp_path / "good", tmp_path / "current", [], logged["good"], tmp_path / "g.json"
    )
    bad = gate_routing(
        tmp_path / "bad", tmp_path / "current", [], logged["bad"], tmp_path / "b.json"
    )
    assert good["value"]["decisions"] == bad["value"]["decisions"] == 300
    assert good["promote"] is True and good["value"]["delta_interval"][0] >= 0
    assert good["value"]["candidate"]["value"] > good["value"]["current"]["value"]
    assert bad["promote"] is False and bad["value"]["delta"] < 0
    assert bad["value"]["delta_interval"][1] < 0  # confidently worse
    for report in (good, bad):  # the secondary figures are there too
        assert report["brier"]["candidate"] is not None and report["value"]["disagree"] > 0
        assert {"quality_dr", "quality_ips", "quality_snips"} <= set(report["value"]["current"])
    # Each judged decision's two choices are beside the report, not in it.
    assert "choices" not in good["value"]
    choices = [c for _, c in read_records(tmp_path / "g.choices.jsonl")]
    assert good["value"]["choices_file"] == str(tmp_path / "g.choices.jsonl")
    assert len(choices) == 300 and len({c["id"] for c in choices}) == 300
    assert sum(c["candidate"] != c["current"] for c in choices) == good["value"]["disagree"]
    # The candidate's side of a disagreement is observed where its choice answered.
    answered = sum(c["current"] != c["candidate"] == c["model"] for c in choices)
    assert 0 < good["value"]["support"] == answered < good["value"]["disagree"]
    cost_term = sum(c["candidate_cost_term"] for c in choices) / len(choices)
    assert abs(cost_term - good["value"]["candidate"]["cost_term"]) < 1e-6
    # A required margin (negative tolerance) the good candidate does not reach.
    strict = gate_routing(
        tmp_path / "good", tmp_path / "current", [], logged["good"], tmp_path / "s.json",
        tolerance=-1.0,
    )  # fmt: skip
    assert strict["promote"] is False


def test_routing_gate_compares_with_the_installed_router_not_the_one_that_logged(
    tmp_path: Path,
) -> None:
    """After a promotion the logged rows were chosen by an older router: the gate
    weighs the candidate against the installed one on every row."""
    from edge_moma.training.fleet import gate_routing

    _train_predictors(tmp_path, {"old": "nothing", "installed": "file"})
    old, installed = tmp_path / "old", tmp_path / "installed"
    # The old router logged every row; the installed one learned the file since.
    # A candidate that is the old router again ties the router that logged the rows,
    # but is worse than the installed one: refused.
    back = _logged_outcomes(tmp_path / "back.log", old, old, 3)
    report = gate_routing(old, installed, [], back, tmp_path / "back.json")
    assert report["value"]["disagree"] > 0 and report["value"]["delta"] < 0
    assert report["promote"] is False
    # The installed router as its own candidate: same choices on every row, delta 0
    # (against the old router it would have looked better). Its interval passes, but
    # with no decision where the two differ there is nothing to promote on.
    same = _logged_outcomes(tmp_path / "same.log", old, installed, 3)
    report = gate_routing(installed, installed, [], same, tmp_path / "same.json")
    assert report["value"]["disagree"] == 0 and report["value"]["delta"] == 0.0
    assert report["value"]["delta_interval"][0] == 0.0
    assert report["promote"] is False and "disagree on 0 of" in report["why"]
    report = gate_routing(
        installed, installed, [], same, tmp_path / "same0.json", min_disagreements=0
    )
    assert report["promote"] is True


def test_routing_gate_wants_enough_disagreements_to_trust_its_interval(tmp_path: Path) -> None:
    """A better candidate whose edge rests on fewer decisions where the two routers choose
    differently than ``MIN_DISAGREEMENTS`` is refused, and the report says why."""
    from edge_moma.training.fleet import MIN_DISAGREEMENTS, gate_routing

    _train_predictors(tmp_path, {"current": "nothing", "good": "file"})
    logged = _logged_outcomes(tmp_path / "all.log", tmp_path / "current", tmp_path / "good", 3)
    full = gate_routing(tmp_path / "good", tmp_path / "current", [], logged, tmp_path / "f.json")
    assert full["promote"] is True and full["value"]["disagree"] >= MIN_DISAGREEMENTS
    # The same candidate judged on a slice of the decisions: still better, fewer disagreements.
    lines = logged.read_bytes().split(b"\n")
    few = tmp_path / "few.log"
    few.write_bytes(b"\n".join(lines[:60]) + b"\n")
    small = gate_routing(tmp_path / "good", tmp_path / "current", [], few, tmp_path / "s.json")
    assert 0 < small["value"]["disagree"] < MIN_DISAGREEMENTS
    assert small["promote"] is False and small["min_disagreements"] == MIN_DISAGREEMENTS
    assert f"fewer than {MIN_DISAGREEMENTS}" in small["why"]
    assert gate_routing(
        tmp_path / "good", tmp_path / "current", [], few, tmp_path / "s0.json",
        min_disagreements=small["value"]["disagree"],
    )["promote"] is (small["value"]["delta_interval"][0] >= 0)  # fmt: skip


def _tamper_feedback(inbox: Path, lines: bytes) -> None:
    import gzip
    import hashlib

    manifest_path = next(inbox.glob(f"*{MANIFEST_SUFFIX}"))
    manifest = json.loads(manifest_path.read_text())
    data = gzip.compress(lines)
    (inbox / manifest["files"]["feedback"]["file"]).write_bytes(data)
    manifest["files"]["feedback"]["sha256"] = hashlib.sha256(data).hexdigest()
    manifest_path.write_text(json.dumps(manifest))


def _tamper_manifest(inbox: Path, edit) -> None:
    manifest_path = next(inbox.glob(f"*{MANIFEST_SUFFIX}"))
    manifest = json.loads(manifest_path.read_text())
    edit(manifest)
    manifest_path.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        (
            lambda inbox: _tamper_manifest(
                inbox, lambda m: m["files"]["decisions"].update(file="../../outside.jsonl.gz")
            ),
            "files.decisions.file is '../../outside.jsonl.gz', not a file name",
        ),
        (
            lambda inbox: _tamper_manifest(inbox, lambda m: m.update(device_id=5)),
            "lacks a string 'device_id'",
        ),
        (
            lambda inbox: _tamper_manifest(inbox, lambda m: m.update(schema_version=[5])),
            "batch schema version [5] is unknown",
        ),
        (
            lambda inbox: _tamper_manifest(inbox, lambda m: m["files"].update(extra={"file": "x"})),
            "must name exactly decisions and feedback",
        ),
        (
            lambda inbox: _tamper_feedback(inbox, b"[1, 2]\n"),
            ".feedback.jsonl.gz:1: not a feedback",
        ),
        (
            lambda inbox: _tamper_feedback(
                inbox, b'{"device_id": "d", "decision_id": "x", "seq": 1}\n{"seq": 1e999}\n'
            ),
            ".feedback.jsonl.gz:2: not a feedback line",
        ),
        (
            lambda inbox: _tamper_feedback(
                inbox, b'{"device_id": "d", "decision_id": "x", "seq": %d}\n' % 2**70
            ),
            ".feedback.jsonl.gz:1: not a feedback line",
        ),
        (lambda inbox: _tamper_feedback(inbox, b'{"device_id": "d",\n'), ":1: not valid JSON"),
    ],
)
def test_collect_rejects_a_tampered_manifest_or_feedback_file(
    tmp_path: Path, tamper, words: str
) -> None:
    inbox = device_batches(tmp_path, "dev-t", [make_record(i) for i in range(3)])
    tamper(inbox)
    report = collect([inbox], tmp_path / "fleet" / "fleet.db")
    assert report["batches"] == [] and report["decisions"] == 0
    assert len(report["rejected"]) == 1 and words in report["rejected"][0]["error"]
    assert not (tmp_path / "outside.jsonl.gz").exists()


def test_the_gate_judges_the_installed_router_on_the_decisions_it_logged() -> None:
    from edge_moma.training.fleet import logged_by

    rows = [
        {"id": "a", "router_version": "intent:i1+routing:v1"},
        {"id": "b", "router_version": "intent:i1+routing:v10"},
        {"id": "c", "router_version": "intent:i2+routing:v1"},
        {"id": "d"},  # an outcomes file written before rows named their router
        {"id": "e", "router_version": "intent:i1+routing:v1+hint:v10"},  # v1, led by v10
        {"id": "f", "router_version": "intent:i1+routing:v10+hint:v1"},
    ]
    assert [r["id"] for r in logged_by(rows, "v1")] == ["a", "c", "e"]
    assert [r["id"] for r in logged_by(rows, "v10")] == ["b", "f"]
    assert logged_by(rows, "v2") == []


_VERSION = st.text(st.characters(blacklist_characters="+"), min_size=1, max_size=20)


@settings(max_examples=80)
@given(_VERSION, _VERSION, st.one_of(st.none(), _VERSION), st.one_of(st.none(), st.text()))
def test_logged_by_reads_the_routing_part_of_any_router_version(
    intent: str, routing: str, hint: str | None, junk: str | None
) -> None:
    """Logged rows come from device files: any ``router_version`` is read without error,
    a well-formed one matches its routing version, hint or not, and one that names no
    routing bundle matches none, not even an empty version."""
    from edge_moma.training.fleet import logged_by

    version = f"intent:{intent}+routing:{routing}" + (f"+hint:{hint}" if hint else "")
    rows = [{"id": "a", "router_version": version}, {"id": "b", "router_version": junk}]
    assert "a" in [r["id"] for r in logged_by(rows, routing)]
    assert [r["id"] for r in logged_by(rows, routing + "x")] in ([], ["b"])
    if "routing:" not in (junk or ""):
        assert [r["id"] for r in logged_by(rows, "")] == []


def test_logged_rows_follow_the_feedback_and_a_prompt_keeps_its_fold(tmp_path: Path) -> None:
    """Random decision ids decide neither the rows' order nor their cross-fitting folds, so
    one seed's fleet loop trains the same candidates on every run."""
    import dataclasses

    from log_samples import make_decision

    from edge_moma.log.sinks import LogRecord
    from edge_moma.training.fleet import crossfit_fold, logged_routing_rows

    prompts = [f"question number {i} about lamps" for i in range(40)]
    folds = []
    for run in range(2):  # the same traffic twice: fresh random ids each time
        records = [
            LogRecord(dataclasses.replace(make_decision(p), propensity=0.5), p, (), 1)
            for p in prompts + prompts[:10]  # ten prompts are asked twice
        ]
        store = LogStore.open(tmp_path / f"dev-{run}" / "decisions.db")
        store.insert(decision_rows(records, "dev", "store", None))
        for r in reversed(records):  # feedback arrives last decision first
            store.add_feedback(Feedback(r.decision.id, score=1.0))
        export_batch(store, tmp_path / f"inbox-{run}", "dev")
        store.close()
        db = tmp_path / f"fleet-{run}" / "fleet.db"
        collect([tmp_path / f"inbox-{run}"], db)
        rows = logged_routing_rows(db)["rows"]
        assert [r["id"] for r in rows] == [r.decision.id for r in reversed(records)]
        folds.append([(r["prompt"], r["fold"]) for r in rows])
    assert folds[0] == folds[1]
    by_prompt: dict[str, set[int]] = {}
    for p, f in folds[0]:
        by_prompt.setdefault(p, set()).add(f)
    assert all(len(f) == 1 for f in by_prompt.values())  # a repeated prompt: one fold
    assert {f for p, f in folds[0]} == set(range(5))
    assert all(crossfit_fold(p) == f for p, f in folds[0])
