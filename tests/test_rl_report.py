"""The RL report's prose follows its data: run JSONs made up here go through the real collect step
(saidl.rl.analyze) and the real template, and the rendered LaTeX is checked for the sentences
that the numbers allow and for the absence of those they contradict. Every verdict comes from
saidl.common.stats (paired by seed), never from a comparison of means."""

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


def render(tmp_path, runs: dict, sigma: list[float] | None = None, embeddings: list[dict] | None = None,
           edit=None) -> str:
    """The rendered LaTeX of fake runs; ``edit(run)`` may change each run JSON before collection."""
    from saidl.common.io import write_json
    from saidl.report.build import render as render_tex
    from saidl.rl.analyze import collect

    rdir = tmp_path / "runs"
    rdir.mkdir(parents=True)
    for i, (rid, cfg) in enumerate(sorted(runs.items())):
        emb = embeddings[cfg["seed"] % len(embeddings)] if embeddings else None
        run = fake_run(cfg, sigma, emb)
        if edit:
            edit(run)
        write_json(rdir / f"{rid}.json", run)
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
    assert "Margin rule" not in same and "untrained $z_s$" in same
    assert "\\verdict{no difference shown}" in same  # the stats verdicts in the probe table
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
    assert "are not interpreted" in ceiling


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


def set_final(values: dict[tuple[str, int], float]):
    """An ``edit`` that sets the final (and last evaluation) return of (variant, seed) runs."""
    def edit(run: dict) -> None:
        key = (run["config"]["variant"], run["config"]["seed"])
        if key in values:
            m = run["metrics"]
            m["eval_return"][-1] = m["final_return"] = values[key]
            m["best_return"] = max(m["eval_return"])
    return edit


def test_sale_within_seed_noise_is_not_best_and_the_sheet_says_no_gain(tmp_path, rl_cfg):
    # The case: SALE 169 +- 49 vs TD3 154 +- 40 was called best.
    runs = grid(rl_cfg, ["td3", "sale"])
    text = render(tmp_path, runs, embeddings=[probe([0.5, 0.2], [0.45, 0.25], [0.55, 0.15])],
                  edit=set_final({("sale", 0): 134.0, ("sale", 1): 204.0, ("td3", 0): 126.0, ("td3", 1): 182.0}))
    assert "is best (every other variant is shown worse)" not in text and "so no variant is best" in text
    assert "No gain shown over TD3" in text  # answer sheet, from the stats verdict
    assert "\\begin{claim}{(b) SALE gains return over TD3 at the same budget}{not shown}" in text
    assert "Both intervals contain zero" in text and "$n=2$" in text
    assert "$\\pm$" not in text.split("\\section{Our returns")[0]  # intervals, not +- std


def test_critic_attack_counts_only_decided_differences(tmp_path, rl_cfg):
    # One variant's critic attack is 0.05 lower in mean, with seed noise: not counted as stronger.
    def edit(run: dict) -> None:
        r, seed = run["metrics"]["robustness"], run["config"]["seed"]
        if run["config"]["variant"] == "noisy-gaussian":
            r["critic"][-1] = r["random"][-1] - (5.05 if seed == 0 else -4.95)
        else:  # the critic attack lowers the return by 300 +- 10 for the others
            r["critic"][-1] = r["random"][-1] - (290.0 if seed == 0 else 310.0)
    text = render(tmp_path, grid(rl_cfg, ["td3", "noisy-gaussian", "noisy-uniform"]), edit=edit)
    assert "below that under random noise for 3 of 3 variants" in text
    assert "the critic attack hurts more for 2 (\\texttt{td3}, \\texttt{noisy-uniform})" in text
    assert "no difference is shown for 1 of 3 variants" in text
    assert "{partly supported}" in text and "\\label{tab:attack}" in text
    assert "counting mean differences would overstate the attack" in text


def test_returns_rising_under_attack_are_explained_only_by_the_data(tmp_path, rl_cfg):
    runs = grid(rl_cfg, ["td3", "noisy-gaussian"])

    def rising(length: float):
        def edit(run: dict) -> None:
            r, seed = run["metrics"]["robustness"], run["config"]["seed"]
            r["random"][-1] = r["random"][0] + (30.0 if seed == 0 else -10.0)  # mean +10, undecided
            r["clean_length"] = length
        return edit
    weak = render(tmp_path / "a", runs, edit=rising(90.0))
    assert "\\paragraph{Returns that rise under attack.}" in weak
    assert "No rise is decided by the statistics rule" in weak
    assert "a perturbation delays the fall as easily as it hastens it" in weak
    assert "unexplained" not in weak
    strong = render(tmp_path / "b", runs, edit=rising(1000.0))
    assert "delays the fall" not in strong and "remain unexplained" in strong


def test_noise_laws_are_ranked_only_where_the_statistics_rule_says(tmp_path, rl_cfg):
    laws = ["noisy-gaussian", "noisy-uniform", "noisy-laplace"]
    noise = {(0, 0): -50, (0, 1): 50, (1, 0): 50, (1, 1): -50, (2, 0): 0, (2, 1): 0}  # no pair moves together
    close = {(v, s): 1000.0 + 10 * i + noise[i, s] for i, v in enumerate(laws) for s in (0, 1)}
    tied = render(tmp_path / "a", grid(rl_cfg, laws), edit=set_final(close))
    assert "these runs cannot separate the noise laws" in tied and "$>$" not in tied
    assert "The laws cannot be separated: no pair differs." in tied
    apart = {(v, s): 1000.0 + 500 * i + s for i, v in enumerate(laws) for s in (0, 1)}
    ranked = render(tmp_path / "b", grid(rl_cfg, laws), edit=set_final(apart))
    assert "\\texttt{noisy-laplace} $>$ \\texttt{noisy-gaussian}" in ranked
    assert "The laws separate: 3 of 3 pairs differ." in ranked


def test_one_seed_prints_no_interval_and_no_verdict(tmp_path, rl_cfg):
    runs = grid(rl_cfg, ["td3", "noisy-gaussian", "sale"], seeds=[0])
    text = render(tmp_path, runs, embeddings=[probe([0.5, 0.2], [0.45, 0.25], [0.55, 0.15])])
    body = text.split("\\appendix")[0]  # the code listings are code (None is Python's)
    assert "$\\pm$" not in body and "(s)" not in body and "None" not in body
    assert "$n=1$" in text and "too few seeds" in text
    assert "Hyperparameters of the runs" in text and "\\begin{longtable}" in text
    assert text.index("tab:answer-sheet") < text.index("\\begin{abstract}")
    assert "\\saidlreferences" in text and text.index("\\saidlreferences") < text.index("\\appendix")
    assert text.index("\\appendix") < text.index("\\lstinputlisting") if "\\lstinputlisting" in text else True
