"""``examples/multilabel_tags``: the MULAN ARFF reader, train -> predict end to end, the split round trip.

The tests write their own small ARFF and XML fixtures (sparse and dense); nothing of a real data
set is read.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "multilabel_tags"
sys.path.insert(0, str(EXAMPLE))
mulan = importlib.import_module("tags_recipe.mulan")
training = importlib.import_module("tags_recipe.training")
train_script = importlib.import_module("train")
predict_script = importlib.import_module("predict")

NUM_FEATURES, NUM_LABELS = 12, 4


def _make_data(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = (rng.random((n, NUM_FEATURES)) < 0.3).astype(int)
    labels = np.zeros((n, NUM_LABELS), dtype=int)
    labels[:, 0] = features[:, 0] | features[:, 1]
    labels[:, 1] = features[:, 2] & features[:, 3]
    labels[:, 2] = features[:, 4] & features[:, 5] & features[:, 6]  # rare
    labels[:, 3] = features[:, 7]
    labels[:3, 2] = 1  # every label has a few positives
    return features, labels


def _header(with_labels: bool = True) -> str:
    lines = ["% a test fixture", "@relation fixture", ""]
    lines += [f"@attribute word{i} {{0,1}}" for i in range(NUM_FEATURES)]
    if with_labels:
        lines += [f"@attribute TAG_{i} {{0,1}}" for i in range(NUM_LABELS)]
    return "\n".join(lines) + "\n\n@data\n"


def write_arff(path: Path, features: np.ndarray, labels: np.ndarray | None, sparse: bool) -> Path:
    values = features if labels is None else np.concatenate([features, labels], axis=1)
    rows = []
    for row in values:
        if sparse:
            rows.append("{" + ",".join(f"{j} {v}" for j, v in enumerate(row) if v) + "}")
        else:
            rows.append(",".join(str(v) for v in row))
    path.write_text(_header(labels is not None) + "\n".join(rows) + "\n")
    return path


def write_xml(path: Path) -> Path:
    labels = "".join(f'<label name="TAG_{i}"></label>\n' for i in range(NUM_LABELS))
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<labels xmlns="http://mulan.sourceforge.net/labels">\n'
        f"{labels}</labels>\n"
    )
    return path


@pytest.mark.parametrize("sparse", [True, False])
def test_reader_sparse_and_dense(tmp_path, sparse):
    features, labels = _make_data(20)
    path = write_arff(tmp_path / "d.arff", features, labels, sparse)
    data = mulan.read_arff(path)
    x, y, feature_names, label_names = mulan.split_labels(data, mulan.read_label_names(write_xml(tmp_path / "l.xml")))
    np.testing.assert_array_equal(x.numpy(), features)
    np.testing.assert_array_equal(y.numpy(), labels)
    assert feature_names == [f"word{i}" for i in range(NUM_FEATURES)]
    assert label_names == [f"TAG_{i}" for i in range(NUM_LABELS)]
    x2, y2, _, names2 = mulan.split_labels(data, num_labels=NUM_LABELS)
    assert torch.equal(x, x2) and torch.equal(y, y2) and names2 == label_names


def test_reader_labels_anywhere_and_empty_sparse_rows(tmp_path):
    path = tmp_path / "d.arff"
    path.write_text(
        "@relation r\n@attribute TAG_a {0,1}\n@attribute f0 numeric\n@attribute f1 {0,1}\n"
        "@attribute TAG_b {0,1}\n@data\n{0 1,1 2.5}\n{}\n{2 1,3 1}\n{}\n"
    )
    (tmp_path / "l.xml").write_text('<labels><label name="TAG_a"/><label name="TAG_b"/></labels>')
    x, y, names, labels = mulan.split_labels(mulan.read_arff(path), mulan.read_label_names(tmp_path / "l.xml"))
    assert names == ["f0", "f1"] and labels == ["TAG_a", "TAG_b"]
    assert x.tolist() == [[2.5, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    assert y.tolist() == [[1, 0], [0, 0], [0, 1], [0, 0]]


def test_malformed_files_name_file_and_line(tmp_path):
    features, labels = _make_data(5)
    path = write_arff(tmp_path / "bad.arff", features, labels, sparse=True)
    lines = path.read_text().splitlines()
    data_start = lines.index("@data") + 1
    lines[data_start + 2] = "{0 1,3 7}"  # 7 is not a value of {0,1}
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"bad\.arff: line {data_start + 3}: malformed ARFF"):
        mulan.read_arff(path)
    lines[data_start + 2] = "{0 1,3 1"  # unclosed sparse row
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"bad\.arff: line {data_start + 3}: malformed ARFF"):
        mulan.read_arff(path)
    numeric = tmp_path / "numeric.arff"
    numeric.write_text("@relation r\n@attribute f numeric\n@attribute TAG {0,1,2}\n@data\n1.5,0\n% c\n\n2,2\n")
    with pytest.raises(ValueError, match=r"numeric\.arff: line 8: label 'TAG' has value 2; expected 0 or 1"):
        mulan.split_labels(mulan.read_arff(numeric), num_labels=1)
    missing = tmp_path / "missing.arff"
    missing.write_text("@relation r\n@attribute f numeric\n@attribute TAG {0,1}\n@data\n1.5,0\n?,1\n")
    with pytest.raises(ValueError, match=r"missing\.arff: line 6: missing value '\?' for attribute 'f'"):
        mulan.read_arff(missing)
    xml = tmp_path / "bad.xml"
    xml.write_text('<labels>\n<label name="a">\n</labels>\n')
    with pytest.raises(ValueError, match=r"bad\.xml: line 3, column \d+: malformed XML"):
        mulan.read_label_names(xml)
    (tmp_path / "other.xml").write_text('<labels><label name="TAG_9"/></labels>')
    with pytest.raises(ValueError, match=r"the label attribute 'TAG_9' \(of 1 labels\) is not an attribute"):
        mulan.split_labels(mulan.read_arff(write_arff(tmp_path / "ok.arff", features, labels, True)),
                           mulan.read_label_names(tmp_path / "other.xml"))


def test_config_errors(tmp_path):
    (tmp_path / "c.yaml").write_text("loss: hinge\n")
    with pytest.raises(ValueError, match=r"`loss` to be one of"):
        training.load_config(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("los: bce\n")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['los'\]"):
        training.load_config(tmp_path / "c.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [("input_scaling: idf\n", r"`input_scaling` to be one of \('none', 'l2', 'tfidf'\), but got 'idf'"),
     ("ensemble: 0\n", r"`ensemble` to be an integer >= 1, but got 0"),
     ("ensemble: '3'\n", r"`ensemble` to be an integer >= 1, but got '3'"),
     ("ensemble: true\n", r"`ensemble` to be an integer >= 1, but got True")],
)
def test_new_option_errors(tmp_path, text, message):
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ValueError, match=message):
        training.load_config(tmp_path / "c.yaml")


def test_tfidf_scaling_matches_scikit_learn():
    from sklearn.feature_extraction.text import TfidfTransformer

    features, _ = _make_data(50)
    features[:, 11] = 0  # a feature no entry has
    x = torch.tensor(features, dtype=torch.float32)
    reference = TfidfTransformer(norm="l2", smooth_idf=True, sublinear_tf=False).fit(features)
    idf = training.inverse_document_frequency(x)
    np.testing.assert_allclose(idf.numpy(), reference.idf_, rtol=1e-6)
    scaling = training.InputScaling(NUM_FEATURES)
    scaling.weight.copy_(idf)
    np.testing.assert_allclose(scaling(x).numpy(), reference.transform(features).toarray(), atol=1e-6)
    model = training.build_model(NUM_FEATURES, NUM_LABELS, {**training.DEFAULTS, "input_scaling": "tfidf"})
    assert isinstance(model[0], training.InputScaling) and "0.weight" in model.state_dict()
    plain = training.build_model(NUM_FEATURES, NUM_LABELS, training.DEFAULTS)
    assert not any(isinstance(m, training.InputScaling) for m in plain)


def test_label_softmax_loss_against_cross_entropy_with_probability_targets():
    torch.manual_seed(0)
    logits = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    target = (torch.rand(6, 5) < 0.4).double()
    target[0] = 0.0  # an entry without positives adds nothing (but counts in the batch mean)
    target[1] = torch.tensor([0.3, 0.7, 0.0, 0.0, 0.0], dtype=torch.float64)  # mixed soft labels
    keep = target.sum(1) > 0
    dist = target[keep] / target[keep].sum(1, keepdim=True)
    reference = torch.nn.functional.cross_entropy(logits[keep], dist, reduction="sum") / 6
    loss = training.label_softmax_loss(logits, target)
    torch.testing.assert_close(loss, reference)
    loss.backward()
    assert torch.all(logits.grad[0] == 0) and logits.grad[1].abs().sum() > 0
    assert training.label_softmax_loss(logits, torch.zeros(6, 5, dtype=torch.float64)).item() == 0.0


def _train(*args: str) -> dict:
    return train_script.main(train_script.get_args_parser().parse_args(list(args)))


def _predict(*args: str) -> dict:
    return predict_script.main(predict_script.get_args_parser().parse_args(list(args)))


TINY = {"hidden": 32, "epochs": 4, "patience": 4, "batch_size": 16, "lr": 0.01}


@pytest.mark.parametrize(("loss", "extra"), [("db", {"threshold": "label"}), ("bce", {"mixup": True, "oversample": True})])
def test_train_then_predict_end_to_end(tmp_path, loss, extra):
    features, labels = _make_data(120)
    train = write_arff(tmp_path / "train.arff", features, labels, sparse=True)
    xml = write_xml(tmp_path / "labels.xml")
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**TINY, "loss": loss, **extra}))
    _train("--train", str(train), "--labels", str(xml),
                  "--out-dir", str(tmp_path / "run"), "--config", str(config), "--threads", "1")
    run = tmp_path / "run"
    checkpoint = torch.load(run / "best.pt", weights_only=True)
    selection = json.loads((run / "selection_split.json").read_text())
    assert checkpoint["selection"] == selection
    assert sorted(selection["train"] + selection["select"]) == list(range(120))
    assert len(selection["select"]) == 24  # 20 % of 120
    # the test features file: dense, no label attributes, 30 entries
    test_features, _ = _make_data(30, seed=1)
    test = write_arff(tmp_path / "test.arff", test_features, None, sparse=False)
    _predict(str(run / "best.pt"), "--features", str(test),
                  "--out", str(tmp_path / "pred"))
    decisions = np.loadtxt(tmp_path / "pred" / "decisions.txt", dtype=int, ndmin=2)
    scores_text = (tmp_path / "pred" / "scores.txt").read_text().splitlines()
    scores = np.loadtxt(tmp_path / "pred" / "scores.txt", ndmin=2)
    assert decisions.shape == scores.shape == (30, NUM_LABELS)
    assert all(len(v.split(".")[1]) == 4 for v in scores_text[0].split(" "))
    thresholds = training.decision_thresholds(checkpoint, NUM_LABELS).numpy()
    np.testing.assert_array_equal(decisions, (scores > thresholds).astype(int))
    # the same entries with their label attributes (sparse) give the same scores
    with_labels = write_arff(tmp_path / "test_l.arff", test_features, np.zeros((30, NUM_LABELS), int), sparse=True)
    _predict(str(run / "best.pt"), "--features", str(with_labels),
                  "--out", str(tmp_path / "pred2"))
    assert (tmp_path / "pred2" / "scores.txt").read_text() == "\n".join(scores_text) + "\n"
    # the selection split round trip: predict re-derives the run's selection metrics
    _predict(str(run / "best.pt"), "--selection-of", str(train),
                  "--out", str(tmp_path / "sel"))
    metrics = json.loads((tmp_path / "sel" / "selection_metrics.json").read_text())
    stored = checkpoint["selection_metrics"][checkpoint["config"]["threshold"]]
    assert metrics["map"] == pytest.approx(stored["map"], abs=1e-6)
    assert metrics["p_at_1"] == pytest.approx(stored["p_at_1"], abs=1e-6)
    assert metrics["example_f1"] == pytest.approx(stored["example_f1"], abs=0.02)  # 4-decimal rounding


def test_ensemble_and_tfidf_run_predicts_the_mean_of_independent_members(tmp_path):
    features, labels = _make_data(120)
    train = write_arff(tmp_path / "train.arff", features, labels, sparse=True)
    runs = {}
    for name, options in (("ens", {"ensemble": 2, "seed": 3}), ("m0", {"seed": 3}), ("m1", {"seed": 4})):
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump({**TINY, "input_scaling": "tfidf", **options}))
        summary = _train("--train", str(train), "--num-labels", str(NUM_LABELS),
                         "--out-dir", str(tmp_path / name), "--config", str(config), "--threads", "1")
        assert len(summary["epochs"]) == options.get("ensemble", 1)
        runs[name] = torch.load(tmp_path / name / "best.pt", weights_only=True)
    ensemble = runs["ens"]
    assert len(ensemble["state_dicts"]) == 2 and len(ensemble["epochs"]) == 2
    # member k is the run of seed + k on its own (same weights, the training part's idf included)
    for member, single in zip(ensemble["state_dicts"], (runs["m0"], runs["m1"])):
        assert member.keys() == single["state_dicts"][0].keys()
        for key in member:
            torch.testing.assert_close(member[key], single["state_dicts"][0][key], rtol=0, atol=0)
    train_part = torch.tensor(features[ensemble["selection"]["train"]], dtype=torch.float32)
    torch.testing.assert_close(ensemble["state_dicts"][0]["0.weight"],
                               training.inverse_document_frequency(train_part))
    # predict's scores: the mean of the members' probabilities, computed here by hand
    test_features, _ = _make_data(30, seed=1)
    test = write_arff(tmp_path / "test.arff", test_features, None, sparse=False)
    _predict(str(tmp_path / "ens" / "best.pt"), "--features", str(test), "--out", str(tmp_path / "pred"))
    scores = np.loadtxt(tmp_path / "pred" / "scores.txt", ndmin=2)
    x = torch.tensor(test_features, dtype=torch.float64)
    by_hand = []
    for state in ensemble["state_dicts"]:
        w = state["0.weight"].double()
        h = torch.nn.functional.normalize(x * w, dim=1) @ state["2.weight"].double().T + state["2.bias"].double()
        by_hand.append(torch.sigmoid(torch.relu(h) @ state["5.weight"].double().T + state["5.bias"].double()))
    np.testing.assert_allclose(scores, np.round(torch.stack(by_hand).mean(0).numpy(), 4), atol=1.01e-4)
    assert not np.allclose(by_hand[0].numpy(), by_hand[1].numpy(), atol=1e-3)  # two different members
    decisions = np.loadtxt(tmp_path / "pred" / "decisions.txt", dtype=int, ndmin=2)
    thresholds = training.decision_thresholds(ensemble, NUM_LABELS).numpy()
    np.testing.assert_array_equal(decisions, (scores > thresholds).astype(int))
    # the thresholds were tuned on the ensemble's selection probabilities: --selection-of agrees
    _predict(str(tmp_path / "ens" / "best.pt"), "--selection-of", str(train), "--out", str(tmp_path / "sel"))
    metrics = json.loads((tmp_path / "sel" / "selection_metrics.json").read_text())
    stored = ensemble["selection_metrics"][ensemble["config"]["threshold"]]
    assert metrics["map"] == pytest.approx(stored["map"], abs=1e-6)


def test_refit_keeps_the_selection_run_thresholds_and_trains_on_every_entry(tmp_path):
    features, labels = _make_data(120)
    train = write_arff(tmp_path / "train.arff", features, labels, sparse=True)
    runs = {}
    for name, refit in (("sel", False), ("refit", True)):
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump({**TINY, "input_scaling": "tfidf", "ensemble": 2, "refit": refit,
                                          "threshold": "label"}))
        _train("--train", str(train), "--num-labels", str(NUM_LABELS),
               "--out-dir", str(tmp_path / name), "--config", str(config), "--threads", "1")
        runs[name] = torch.load(tmp_path / name / "best.pt", weights_only=True)
    selected, refit = runs["sel"], runs["refit"]
    assert refit["config"]["refit"] is True and refit["epochs"] == selected["epochs"]
    torch.testing.assert_close(refit["label_thresholds"], selected["label_thresholds"])
    assert refit["global_threshold"] == selected["global_threshold"]
    assert refit["selection_metrics"] == selected["selection_metrics"]
    everything = training.inverse_document_frequency(torch.tensor(features, dtype=torch.float32))
    train_part = torch.tensor(features[selected["selection"]["train"]], dtype=torch.float32)
    for member, before in zip(refit["state_dicts"], selected["state_dicts"]):
        torch.testing.assert_close(member["0.weight"], everything)  # the idf of all 120 entries
        torch.testing.assert_close(before["0.weight"], training.inverse_document_frequency(train_part))
        assert not torch.allclose(member["5.weight"], before["5.weight"])
    test = write_arff(tmp_path / "test.arff", _make_data(30, seed=1)[0], None, sparse=False)
    _predict(str(tmp_path / "refit" / "best.pt"), "--features", str(test), "--out", str(tmp_path / "pred"))
    assert np.loadtxt(tmp_path / "pred" / "decisions.txt", dtype=int, ndmin=2).shape == (30, NUM_LABELS)
    with pytest.raises(ValueError, match=r"best\.pt: expected a run that did not train on its selection split"):
        _predict(str(tmp_path / "refit" / "best.pt"), "--selection-of", str(train), "--out", str(tmp_path / "s"))
    (tmp_path / "bad.yaml").write_text("refit: 1\n")
    with pytest.raises(ValueError, match=r"`refit` to be true or false, but got 1"):
        training.load_config(tmp_path / "bad.yaml")


def test_a_run_written_before_ensembles_still_loads(tmp_path):
    model = training.build_model(NUM_FEATURES, NUM_LABELS, training.DEFAULTS)
    old_config = {k: v for k, v in training.DEFAULTS.items() if k not in ("ensemble", "refit", "input_scaling")}
    torch.save({"state_dict": model.state_dict(), "config": old_config, "feature_names": ["f"] * NUM_FEATURES,
                "label_names": ["l"] * NUM_LABELS}, tmp_path / "old.pt")
    checkpoint, models = training.load_checkpoint(tmp_path / "old.pt")
    x = torch.rand(5, NUM_FEATURES)
    assert len(models) == 1
    torch.testing.assert_close(training.predict_probs(models, x), torch.sigmoid(model.eval()(x)))


def test_predict_rejects_other_features(tmp_path):
    features, labels = _make_data(60)
    train = write_arff(tmp_path / "train.arff", features, labels, sparse=True)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**TINY, "epochs": 1}))
    _train("--train", str(train), "--num-labels", str(NUM_LABELS),
                  "--out-dir", str(tmp_path / "run"), "--config", str(config), "--threads", "1")
    other = tmp_path / "other.arff"
    other.write_text("@relation r\n@attribute a numeric\n@data\n1\n")
    with pytest.raises(ValueError, match=r"other\.arff: expected the run's 12 feature attributes"):
        _predict(str(tmp_path / "run" / "best.pt"), "--features", str(other), "--out", str(tmp_path / "pred"))


def test_command_line_error_exits_with_the_message(tmp_path):
    result = subprocess.run(
        [sys.executable, str(EXAMPLE / "train.py"), "--train", str(tmp_path / "none.arff"), "--num-labels", "2",
         "--out-dir", str(tmp_path / "run")], capture_output=True, text=True, timeout=600,
    )
    assert result.returncode != 0
    assert "error: ARFF file not found:" in result.stderr and "none.arff" in result.stderr


def test_ablation_table_and_figure(tmp_path):
    ablate = importlib.import_module("ablate")
    features, labels = _make_data(100)
    train = write_arff(tmp_path / "train.arff", features, labels, sparse=False)
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({**TINY, "epochs": 2}))
    argv = ["--train", str(train), "--num-labels", str(NUM_LABELS), "--seeds", "0", "1",
            "--only", "bce", "distribution_balanced", "--base", str(base), "--out-dir", str(tmp_path / "runs"),
            "--results", str(tmp_path / "RESULTS.md")]
    summary = ablate.main(ablate.get_args_parser().parse_args(argv))
    assert summary["runs"] == 4
    records = sorted((tmp_path / "runs").glob("*.json"))
    assert [p.name for p in records] == ["bce-seed0.json", "bce-seed1.json",
                                         "distribution_balanced-seed0.json", "distribution_balanced-seed1.json"]
    text = (tmp_path / "RESULTS.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| bce |") or line.startswith("| distribution_balanced |")]
    assert len(rows) == 4 and all("±" in row for row in rows)
    record = json.loads(records[0].read_text())
    seed0, seed1 = (json.loads(p.read_text())["metrics"]["global"]["example_f1"] for p in records[:2])
    assert f"{np.mean([seed0, seed1]):.4f} ± {np.std([seed0, seed1], ddof=1):.4f}" in rows[0]
    assert (tmp_path / "per_label_f1.png").stat().st_size > 1000
    # a second call reuses the records (same table)
    (tmp_path / "runs" / "bce-seed0.json").write_text(json.dumps({**record, "seconds": 123456.0}))
    ablate.main(ablate.get_args_parser().parse_args(argv))
    seconds = (123456.0 + json.loads(records[1].read_text())["seconds"]) / 2
    assert f"| {seconds:.0f} |" in (tmp_path / "RESULTS.md").read_text()
    # hand-written notes below the marker survive; --report-only trains nothing, names missing runs
    results = tmp_path / "RESULTS.md"
    results.write_text(results.read_text() + "A hand-written note.\n")
    (tmp_path / "runs" / "distribution_balanced-seed1.json").unlink()
    summary = ablate.main(ablate.get_args_parser().parse_args([*argv, "--report-only"]))
    assert summary["runs"] == 3
    assert not (tmp_path / "runs" / "distribution_balanced-seed1.json").exists()
    text = (tmp_path / "RESULTS.md").read_text()
    assert "| distribution_balanced | global | 1 |" in text
    assert "not trained (left out): distribution_balanced-seed1." in text
    assert text.endswith(ablate.NOTES_MARKER + "A hand-written note.\n")


def test_each_ablation_method_has_its_config_file():
    ablate = importlib.import_module("ablate")
    for method, overrides in ablate.METHODS.items():
        config = training.load_config(EXAMPLE / "configs" / f"{method}.yaml")
        assert config == {**training.DEFAULTS, **overrides}, method
    best = training.load_config(EXAMPLE / "configs" / "best.yaml")
    assert best == {**training.DEFAULTS, **ablate.best_overrides()}
    assert ablate.BEST not in ablate.METHODS


def test_ablation_best_row_trains_configs_best(tmp_path):
    ablate = importlib.import_module("ablate")
    features, labels = _make_data(100)
    train = write_arff(tmp_path / "train.arff", features, labels, sparse=False)
    base = tmp_path / "base.yaml"
    base.write_text(yaml.safe_dump({**TINY, "epochs": 1}))
    argv = ["--train", str(train), "--num-labels", str(NUM_LABELS), "--seeds", "0", "--only", "bce", "best",
            "--base", str(base), "--out-dir", str(tmp_path / "runs"), "--results", str(tmp_path / "RESULTS.md")]
    assert ablate.main(ablate.get_args_parser().parse_args(argv))["runs"] == 2
    record = json.loads((tmp_path / "runs" / "best-seed0.json").read_text())
    best = training.load_config(EXAMPLE / "configs" / "best.yaml")
    assert record["method"] == "best" and len(record["epochs"]) == best["ensemble"]
    text = (tmp_path / "RESULTS.md").read_text()
    assert "| best | label | 1 |" in text and "| bce | global | 1 |" in text
    assert "The `best` row is `configs/best.yaml` (" in text
