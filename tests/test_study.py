"""The Study glue on the micro organism: frames the findings need, token sources, caches."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unpact.emphasis import check_no_added_text
from unpact.errors import UsageError
from unpact.findings import destructive_rates, focus_disruption, recovery_rates
from unpact.study import KeyRule, Study, StudyCache, StudyConfig, collect, make_studies, notebook_studies, pool

pytestmark = pytest.mark.slow


@pytest.fixture
def micro_study(cache_dir: Path) -> Study:
    return Study(StudyConfig(organism_profile="micro", methods=("ga",), domains=("news",), steps=3,
                             cache_root=str(cache_dir)))


def test_frames_have_the_findings_layout(micro_study: Study) -> None:
    outcomes = micro_study.outcomes()
    assert set(outcomes["split"]) == {"forget", "retain", "general"}
    assert set(outcomes["domain"]) == {"news"} and set(outcomes["method"]) == {"ga"}
    contributions = micro_study.contributions()
    assert {"item_id", "unit", "is_key", "c_before", "c_after", "is_function_word"} <= set(contributions.columns)
    # top_k=2: at most two KeyTokens per question, all with positive base contribution
    per_item = contributions.groupby("item_id")["is_key"].sum()
    assert per_item.max() <= 2
    assert (contributions.loc[contributions["is_key"], "c_before"] > 0).all()
    recovery = micro_study.recovery()
    assert set(recovery["source"]) == {"base_key", "unlearned_key", "gold_keywords", "control"}
    assert len(recovery) == len(micro_study.forget_items("news")) * 4 * 4
    # the findings functions accept the frames as they are
    destructive_rates(outcomes), focus_disruption(contributions), recovery_rates(recovery)


def test_emphasis_uses_only_question_words_and_the_control_avoids_key_words(micro_study: Study) -> None:
    forget = micro_study.forget_items("news")
    base = micro_study.attribution(micro_study.base_dir, "news").by_id()
    for source in ("base_key", "unlearned_key", "gold_keywords", "control"):
        words = micro_study.emphasis_words("news", "ga", source)
        for item, ws in zip(forget, words):
            assert all(w in item.question.split() for w in ws)
    controls = micro_study.emphasis_words("news", "ga", "control")
    for item, ws in zip(forget, controls):
        assert not set(ws) & set(micro_study.key_words(base[item.id]))
    for style in micro_study.config.styles:
        for item, q in zip(forget, micro_study.emphasized_questions("news", "ga", style, "base_key")):
            check_no_added_text(item.question, q, style)


def test_attribution_tables_are_cached_on_disk(micro_study: Study, cache_dir: Path) -> None:
    first = micro_study.attribution(micro_study.base_dir, "news")
    assert [p.id for p in first] == [it.id for it in micro_study.items("news")]
    tables = sorted((cache_dir / "tables").iterdir())
    assert tables
    fresh = Study(micro_study.config)  # a new StudyCache: nothing in memory
    assert fresh.cache is not micro_study.cache
    again = fresh.attribution(micro_study.base_dir, "news")
    assert sorted((cache_dir / "tables").iterdir()) == tables  # read back, not recomputed
    assert [p.units for p in again] == [p.units for p in first]
    assert all((a.contributions == b.contributions).all() for a, b in zip(again, first))
    shared = Study(micro_study.config, cache=micro_study.cache)
    assert shared.attribution(micro_study.base_dir, "news") is first  # same cache object: same result


def test_cache_keys_are_content_and_code(tmp_path: Path) -> None:
    calls = []
    cache = StudyCache(str(tmp_path))
    for _ in range(2):
        assert cache.result("demo", {"model": "m", "setting": 1}, lambda: calls.append(1) or len(calls),
                            table=True) == 1
    assert cache.result("demo", {"model": "m", "setting": 2}, lambda: 7) == 7
    other_code = StudyCache(str(tmp_path))
    other_code.code = "0" * 64  # as after a change to unpact's source
    assert other_code.result("demo", {"model": "m", "setting": 1}, lambda: 99, table=True) == 99
    assert StudyCache(str(tmp_path)).result("demo", {"model": "m", "setting": 1}, lambda: 5, table=True) == 1
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "w.bin").write_bytes(b"1")
    key = cache.model_key(folder)
    (folder / "w.bin").write_bytes(b"2")
    assert cache.model_key(folder) == key  # hashed once per cache
    assert StudyCache(str(tmp_path)).model_key(folder) != key
    assert cache.model_key("org/model-a") != cache.model_key("org/model-b")  # hub ids: the name identifies


def test_pooled_frames_keep_items_distinct(micro_study: Study) -> None:
    frame = collect([micro_study], "outcomes")
    assert frame["item_id"].str.startswith("llama/0/").all()
    pooled = pool(frame)
    assert set(pooled["method"]) == {"all"} and pooled["item_id"].is_unique


def test_bad_configuration_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match="emphasis style"):
        StudyConfig(styles=("shout",))
    with pytest.raises(UsageError, match="token source"):
        StudyConfig(sources=("random",))
    with pytest.raises(UsageError, match="judge"):
        StudyConfig(judge="gpt")
    with pytest.raises(UsageError, match="at least one"):
        make_studies([], [0])
    with pytest.raises(UsageError, match="top_k"):
        KeyRule(top_k=0).mask([1.0, 2.0])


def test_notebook_parameters_become_study_configs(tmp_path: Path) -> None:
    params = {"profile": "micro", "archs": ["llama", "gpt2"], "seeds": [0, 1], "methods": ["ga"], "domains": ["news"],
              "top_k": 3, "alpha": 0.0, "token_sources": ["base_key"], "base_model": "", "data_dir": "",
              "stop_at": 0.2, "n_boot": 10, "unrelated": object()}
    studies = notebook_studies(params, styles=("repeat",))
    assert [(s.config.arch, s.config.seed) for s in studies] == [("llama", 0), ("llama", 1), ("gpt2", 0), ("gpt2", 1)]
    cfg = studies[0].config
    assert cfg.organism_profile == "micro" and cfg.methods == ("ga",) and cfg.sources == ("base_key",)
    assert cfg.key_rule == KeyRule(top_k=3, alpha=None) and cfg.base_model is None and cfg.stop_at == 0.2
    assert cfg.styles == ("repeat",)  # keyword arguments win over the parameters
    assert len({id(s.cache) for s in studies}) == 1  # one shared cache


def test_trajectory_probes_and_relearning_on_the_micro_organism(micro_study: Study) -> None:
    from unpact.findings.depth import depth_curves, operating_points
    from unpact.unlearn.artifact import read_record

    frame = micro_study.trajectories()
    n = len(micro_study.forget_items("news"))
    assert set(frame["condition"]) == {"plain", "key", "control", "hint", "utility"}
    assert sorted(frame["step"].unique()) == [0, 2, 3]  # probe_every 2, budget 3 steps
    assert (frame[frame["condition"] == "hint"].groupby("step").size() == n).all()
    # the probed run ends where the plain run ends: same final forget accuracy on the same items
    final = frame[(frame["step"] == 3) & (frame["condition"] == "plain")]["correct"].mean()
    plain = micro_study.evaluation(micro_study.unlearned_dir("ga", "news"), "news")
    assert final == pytest.approx(plain[plain["split"] == "forget"]["correct"].mean())
    assert read_record(micro_study.trajectory_dir("ga", "news"))["steps"] == 3
    ops = operating_points(depth_curves(frame))
    assert len(ops) == 1 and ops["last_step"].iloc[0] == 3
    relearn = micro_study.relearning()
    at_point = micro_study.operating_dir("ga", "news")
    assert list(relearn["point"]) == ["base", "end of budget"] + (["operating point"] if at_point else [])
    assert list(relearn["method"])[:2] == ["base", "ga"]
    assert relearn["n_heldout"].iloc[0] == n // 2
    if at_point is not None:  # the rerun to op_step ends where the trajectory was at op_step
        op = int(ops["op_step"].iloc[0])
        assert read_record(at_point)["steps"] == op
        then = frame[(frame["step"] == op) & (frame["condition"] == "plain")]["correct"].mean()
        rerun = micro_study.evaluation(at_point, "news")
        assert then == pytest.approx(rerun[rerun["split"] == "forget"]["correct"].mean())


def test_a_run_whose_last_step_is_attributed_leaves_that_map_as_the_models_attribution(cache_dir: Path) -> None:
    from unpact.attribution import Attributor
    from unpact.prompts import attribution_template

    study = Study(StudyConfig(organism_profile="micro", methods=("ga",), domains=("news",), steps=4,
                              cache_root=str(cache_dir)))  # checks 0, 2, 4; step 4 (a power of two) attributed

    def tables() -> int:
        return len([p for p in (cache_dir / "tables").iterdir() if p.name.startswith("attribution-")])

    folder = study.unlearned_dir("ga", "news")
    assert tables() == 2  # the base model's, and the run's last map entered as the unlearned model's
    kept = study.attribution(folder, "news")
    assert tables() == 2  # read back, not attributed again
    items = study.items("news")
    model, tok = study.load(folder)
    fresh = Attributor(model, tok, method="loo", granularity="word", progress=False).attribute(
        [it.question for it in items], [p.target for p in kept], template=attribution_template("plain"),
        ids=[it.id for it in items])
    assert [p.units for p in fresh] == [p.units for p in kept]
    for a, b in zip(fresh, kept):
        np.testing.assert_allclose(a.contributions, b.contributions, atol=1e-5)
        assert a.lp == pytest.approx(b.lp, abs=1e-5)


def test_relearning_uses_the_step_size_each_model_was_unlearned_with(cache_dir: Path) -> None:
    """rmu trains at its own lr (1e-2), not the methods' default 1e-3: its relearning attack uses the lr of
    its ``unlearning.json``; the base model uses the benchmark's."""
    from unpact.unlearn.artifact import read_record
    from unpact.unlearn.params import CommonParams

    study = Study(StudyConfig(organism_profile="micro", methods=("rmu",), domains=("news",), steps=2,
                              cache_root=str(cache_dir), relearn_steps=1))
    relearn = study.relearning().set_index("point")
    trained = read_record(study.unlearned_dir("rmu", "news"))["params"]["lr"]
    assert trained != CommonParams.lr
    assert relearn.loc["end of budget", "lr"] == trained
    assert relearn.loc["base", "lr"] == CommonParams.lr


def test_each_method_trains_once_and_analysis_variants_reuse_its_weights(micro_study: Study, cache_dir: Path) -> None:
    from safetensors.torch import load_file

    from unpact.unlearn.artifact import read_record

    def runs() -> list[Path]:
        return sorted(p for p in (cache_dir / "unlearned").iterdir() if not p.name.startswith("."))

    weights = micro_study.unlearned_dir("ga", "news")
    probed = micro_study.trajectory_dir("ga", "news")
    assert weights != probed and len(runs()) == 2  # the probed run, entered once more as the plain configuration
    a, b = load_file(weights / "model.safetensors"), load_file(probed / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert read_record(weights) == read_record(probed)
    # another KeyToken rule changes the probe's questions, not the weights: no second training run
    other = Study(micro_study.config, cache=micro_study.cache, key_rule=KeyRule(top_k=1))
    assert other.unlearned_dir("ga", "news") == weights and len(runs()) == 2
    # a stop rule changes the weights: its own run
    stopped = Study(micro_study.config, cache=micro_study.cache, stop_at=0.5)
    assert stopped.unlearned_dir("ga", "news") not in (weights, probed) and len(runs()) == 3


def test_linear_probe_and_planted_runs_on_the_micro_organism(micro_study: Study) -> None:
    from unpact.findings.planted import planted_estimate

    probe = micro_study.linear_probe()
    layers = probe["layer"].nunique()
    assert layers == 1 + 2  # embeddings + the micro organism's 2 blocks
    assert len(probe) == layers * probe[["method", "point"]].drop_duplicates().shape[0]
    assert probe["greedy"].between(0, 1).all() and (probe["n_train"] == 4).all()
    planted = micro_study.planted_trajectories("ga")
    assert set(planted["condition"]) == {"plain", "other_form", "utility"}
    assert sorted(planted["step"].unique()) == [0, 2, 3]
    plain = planted[(planted["step"] == 0) & (planted["condition"] == "plain")]
    assert list(plain["item_id"]) == [it.id for it in micro_study.forget_items("news")]
    assert planted_estimate(planted, n_boot=50)["status"] == "not testable"  # 4 forget questions < 10
