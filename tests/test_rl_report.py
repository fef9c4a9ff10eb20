"""The RL report's prose follows its data: run JSONs made up here go through the real collect step
(saidl.rl.analyze) and the real template, and the rendered LaTeX is checked for the sentences
that the numbers allow and for the absence of those they contradict."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from conftest import REPO

STEPS = 1_000_000
N_EVALS = 5


@pytest.fixture(scope="module")
def rl_cfg() -> dict:
    return yaml.safe_load((REPO / "tasks/rl/config.yaml").read_text())["rl"]


def grid(rl_cfg: dict, variants: list[str], scale: str = "demo", **over) -> dict:
    from saidl.rl.grid import run_configs

    cfg = copy.deepcopy(rl_cfg)
    cfg["scales"][scale] = {**cfg["scales"][scale], "variants": variants, "seeds": [0, 1], **over}
    return run_configs(cfg, scale)


def probe(trained: list[float], untrained: list[float], state: list[float]) -> dict:
    """One seed's embedding analysis with the same fold R^2 for every target."""
    names = ("return_to_go", "next_reward", "next_x_velocity")
    sets = {"trained": trained, "untrained": untrained, "state": state}
    return {"n_states": 400, "n_episodes": 4,
            "probe": {"n_folds": len(trained), "n_trajectories": 4, "feature_sets": list(sets), "targets": list(names),
                      "r2": {f: {k: list(v) for k in names} for f, v in sets.items()}},
            "neighbour_agreement": {"trained": 0.3, "untrained": 0.6}, "encoder_target": "next_obs1",
            "encoder_updates": 1000, "encoder_refreshes": 4, "encoder_refresh": 250,
            "pca": [[0.0, 1.0], [1.0, 0.0]], "pca_return": [1.0, 2.0]}


def fake_run(cfg: dict, sigma: list[float] | None, embedding: dict | None) -> dict:
    from saidl.common.provenance import run_provenance

    rng = np.random.default_rng(cfg["seed"] + 7 * len(cfg["variant"]))
    steps = [cfg["total_steps"] * (i + 1) // N_EVALS for i in range(N_EVALS)]
    curve = (np.linspace(100, 2000, N_EVALS) + rng.normal(0, 50, N_EVALS)).tolist()
    n_eps = len(cfg["attack_eps"])
    return {
        "id": cfg["run_id"], "task": "rl", "config": cfg,
        "metrics": {"eval_steps": steps, "eval_return": curve, "eval_return_std": [10.0] * N_EVALS,
                    "noisy_sigma": sigma if cfg["noisy"] else [None] * N_EVALS, "episode_returns": [],
                    "episode_end_steps": [], "random_return": 20.0 + cfg["seed"], "obs_std": [1.0] * 11,
                    "updates": 10, "final_return": curve[-1], "best_return": max(curve),
                    "robustness": {"eps": cfg["attack_eps"], "random": np.linspace(curve[-1], 900, n_eps).tolist(),
                                   "critic": np.linspace(curve[-1], 500, n_eps).tolist(), "clean_length": 700.0},
                    "embedding": embedding if cfg["sale"] else None},
        "timing": {"wall_time_s": 10.0, "train_time_s": 9.0, "updates_per_s": 100.0},
        "provenance": run_provenance(cfg, "cpu", {"name": cfg["env_id"], "checksum": "simulator"}),
    }


def render(tmp_path, runs: dict, sigma: list[float] | None = None, embeddings: list[dict] | None = None) -> str:
    from saidl.common.io import write_json
    from saidl.report.build import render as render_tex
    from saidl.rl.analyze import collect

    rdir = tmp_path / "runs"
    rdir.mkdir(parents=True)
    for i, (rid, cfg) in enumerate(sorted(runs.items())):
        emb = embeddings[cfg["seed"] % len(embeddings)] if embeddings else None
        write_json(rdir / f"{rid}.json", fake_run(cfg, sigma, emb))
    write_json(tmp_path / "summary.json", collect(runs, rdir))
    text = render_tex("rl", tmp_path / "summary.json", tmp_path / "report.tex").read_text()
    return " ".join(text.split())  # sentences are matched across line breaks


NOISY = ["td3", "noisy-gaussian", "noisy-uniform"]


def test_sigma_sentence_says_what_the_curve_shows_not_that_the_budget_is_too_short(tmp_path, rl_cfg):
    runs = grid(rl_cfg, NOISY, total_steps=STEPS, eval_every=STEPS // N_EVALS)
    rising = render(tmp_path / "a", runs, sigma=[0.017, 0.02, 0.025, 0.03, 0.035])
    assert "too short to show it" not in rising  # printed at 1M steps before
    assert "grew for 2, shrank for 0 and stayed within 1\\,\\% of its first value for 0 of 2 laws" in rising
    assert "For no law did $\\sigma$ end more than 1\\,\\% below its peak" in rising
    falling = render(tmp_path / "b", runs, sigma=[0.017, 0.03, 0.04, 0.03, 0.02])
    assert "too short to show it" not in falling
    assert "$\\sigma$ turned down" in falling and "at step 600{,}000" in falling
    flat = render(tmp_path / "c", runs, sigma=[0.017, 0.01701, 0.01702, 0.01701, 0.01700])
    assert "stayed within 1\\,\\% of its first value for 2 of 2 laws" in flat
    assert "barely moved" in flat and "turned its parameter noise" not in flat
    assert "For no law did" not in falling


def test_probe_verdicts_follow_the_margin_rule_and_the_untrained_control(tmp_path, rl_cfg):
    runs = grid(rl_cfg, ["td3", "sale"])
    # Trained embedding within noise of the raw state and of the untrained encoder.
    same = render(tmp_path / "a", runs, embeddings=[probe([0.5, 0.2], [0.45, 0.25], [0.55, 0.15])])
    assert "The trained embedding predicts" not in same and "predicts them better" not in same
    assert "For no quantity does the trained embedding predict better than the raw state" in same
    assert "no evidence that SALE's training made the future more linearly readable" in same
    assert "\\textbf{Margin rule}" in same and "untrained $z_s$" in same
    # Trained clearly better than both: the claim is made, per quantity.
    better = render(tmp_path / "b", runs, embeddings=[probe([0.8, 0.82], [0.1, 0.12], [0.3, 0.32])])
    assert "Training made $z_s$ more predictive than the untrained encoder's for \\texttt{return\\_to\\_go}" in better
    assert "The trained embedding predicts \\texttt{return\\_to\\_go}" in better
    assert "For no quantity" not in better
    # Random features alone beat the raw state: a gain over the state alone is not learning.
    random_helps = render(tmp_path / "c", runs, embeddings=[probe([0.8, 0.82], [0.79, 0.83], [0.3, 0.32])])
    assert "the untrained encoder already beats the raw state" in random_helps
    assert "Training made" not in random_helps
    assert "every SALE run trained its encoder on $s_{t+1}$" in random_helps
    assert "rather than of $s_{t+1}$" not in random_helps  # the old n-step approximation is gone
    # Every feature set at the ceiling: said, and no verdict either way.
    ceiling = render(tmp_path / "d", runs, embeddings=[probe([0.999, 0.998], [0.998, 0.999], [0.99, 0.995])])
    assert "cannot show what the embedding adds" in ceiling and "The trained embedding predicts" not in ceiling


def test_published_comparison_shows_our_numbers_and_says_when_they_are_not_comparable(tmp_path, rl_cfg):
    runs = grid(rl_cfg, ["td3", "noisy-gaussian"], scale="full", total_steps=50_000, eval_every=10_000)
    short = render(tmp_path / "a", runs)
    assert "Our returns beside the published ones" in short and "ours, same metric" in short
    assert "the numbers are not comparable" in short and "published range" not in short
    full = render(tmp_path / "b", grid(rl_cfg, ["td3", "noisy-gaussian"], scale="full"))
    assert "not comparable" not in full and "the published range" in full
    assert "2{,}000-step time limit" not in full and "1{,}000-step time limit" in full


def test_rehearsal_is_full_with_only_budgets_shrunk(rl_cfg):
    from saidl.common.config import scale_block
    from saidl.rl.grid import run_configs

    full, reh = scale_block(rl_cfg, "rl", "full"), scale_block(rl_cfg, "rl", "rehearsal")
    budgets = {"total_steps", "start_steps", "eval_every", "eval_episodes", "seeds", "attack_episodes",
               "attack_steps", "probe_episodes", "buffer_size", "threads"}
    changed = {k for k in full if full[k] != reh[k]}
    assert changed and changed <= budgets
    assert reh["variants"] == full["variants"] and reh["attack_eps"] == full["attack_eps"]
    assert reh["start_steps"] < reh["total_steps"] and reh["total_steps"] // reh["eval_every"] >= 3
    assert reh["total_steps"] - reh["start_steps"] >= 100 and len(reh["seeds"]) >= 2  # updates; seed statistics
    assert len(run_configs(rl_cfg, "rehearsal")) == len(full["variants"]) * len(reh["seeds"])
