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
    block = {k: v for k, v in cfg["scales"][scale].items() if k not in ("budgets", "attack_variants")}
    cfg["scales"][scale] = {**block, "variants": variants, "seeds": [0, 1], **over}  # one budget, all attacked
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


def fake_robustness(cfg: dict, clean: float, random_end: float, critic_end: float, episodes: int = 3,
                    spread: float = 5.0) -> dict | None:
    """One run's attack study in the run JSON's format: per radius and kind the episodes' returns
    (the same reset episodes for clean, random and critic), falling linearly from ``clean`` at
    radius 0 to ``random_end`` / ``critic_end`` at the largest radius; None where ``attack`` is off."""
    if not cfg.get("attack", True):
        return None
    eps = cfg["attack_eps"]
    rng = np.random.default_rng(cfg["seed"] + 11)
    base = clean + rng.normal(0, spread, episodes)  # per-episode clean returns
    top = max(eps) or 1.0

    def eps_rows(end: float) -> list[list[float]]:
        return [(base + (end - clean) * e / top + rng.normal(0, spread, episodes) * (e > 0)).tolist() for e in eps]

    rows = {"random": eps_rows(random_end), "critic": eps_rows(critic_end)}
    return {"eps": eps, "random_law": "linf_corner", **{k: [float(np.mean(r)) for r in v] for k, v in rows.items()},
            **{f"{k}_episodes": v for k, v in rows.items()},
            **{f"{k}_lengths": [[700] * episodes for _ in eps] for k in rows},
            "clean_episodes": base.tolist(), "clean_lengths": [700] * episodes, "clean_length": 700.0}


def fake_run(cfg: dict, sigma: list[float] | None, embedding: dict | None) -> dict:
    from saidl.common.provenance import run_provenance

    rng = np.random.default_rng(cfg["seed"] + 7 * len(cfg["variant"]))
    n_evals = max(1, cfg["total_steps"] // cfg["eval_every"])
    steps = [cfg["eval_every"] * (i + 1) for i in range(n_evals)]
    curve = (np.linspace(100, 2000, n_evals) + rng.normal(0, 50, n_evals)).tolist()
    layers = None
    if cfg["noisy"] and sigma:
        layers = [[0.017 + (x - 0.017) * (1 + 0.5 * j) for j in range(3)]
                  for x in (list(sigma) + [sigma[-1]] * n_evals)[:n_evals]]
    return {
        "id": cfg["run_id"], "task": "rl", "config": cfg,
        "metrics": {"eval_steps": steps, "eval_return": curve, "eval_return_std": [10.0] * n_evals,
                    "noisy_sigma": (list(sigma) + [sigma[-1]] * n_evals)[:n_evals] if cfg["noisy"] and sigma else [None] * n_evals,
                    "noisy_sigma_layers": layers, "noisy_sigma_layers_init": [0.017] * 3 if layers else None,
                    "episode_returns": [],
                    "episode_end_steps": [], "random_return": 20.0 + cfg["seed"], "obs_std": [1.0] * 11,
                    "updates": 10, "final_return": curve[-1], "best_return": max(curve),
                    "robustness": fake_robustness(cfg, curve[-1], 900.0, 500.0),
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


def test_sigma_per_layer_is_described_by_the_statistics_rule(tmp_path, rl_cfg):
    runs = grid(rl_cfg, NOISY, total_steps=STEPS, eval_every=STEPS // N_EVALS)
    rising = render(tmp_path / "a", runs, sigma=[0.017, 0.02, 0.025, 0.03, 0.035])
    assert "\\label{tab:sigma}" in rising and "\\paragraph{Learned noise scale per layer.}" in rising
    assert "$\\sigma$ grew in 6 and shrank in 0 of 6 (law, layer) cells" in rising
    assert "it explores more, not less" in rising and "turning its exploration down" not in rising
    assert "compares its value at step 1{,}000{,}000 with the one at initialisation (step 0)" in rising
    falling = render(tmp_path / "b", runs, sigma=[0.017, 0.03, 0.04, 0.03, 0.01])
    assert "grew in 0 and shrank in 6 of 6" in falling and "turning its exploration down" in falling

    def seed_noise(run: dict) -> None:  # the last sigma moves in opposite directions per seed
        layers = run["metrics"]["noisy_sigma_layers"]
        if layers:
            sign = 1 if run["config"]["seed"] == 0 else -1
            layers[-1] = [x + sign * 0.005 for x in layers[-1]]
    noisy = render(tmp_path / "c", runs, sigma=[0.017] * 5, edit=seed_noise)
    assert "no change is shown in 6" in noisy and "No layer's $\\sigma$ is shown to have moved" in noisy
    assert "explores more" not in noisy


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


def critic_below_random(deltas: dict[str, list[float]]):
    """An ``edit`` that puts each critic episode at the largest radius ``delta`` below the random
    episode of the same reset seed (``deltas[variant]``: one per seed, spread over its episodes)."""
    def edit(run: dict) -> None:
        r, seed = run["metrics"]["robustness"], run["config"]["seed"]
        d = deltas[run["config"]["variant"]][seed]
        r["critic_episodes"][-1] = [x - d + (k - 1) for k, x in enumerate(r["random_episodes"][-1])]
        r["critic"][-1] = float(np.mean(r["critic_episodes"][-1]))
    return edit


def test_critic_attack_counts_only_decided_differences_per_episode(tmp_path, rl_cfg):
    runs = grid(rl_cfg, ["td3", "noisy-gaussian", "noisy-uniform"], attack_eps=[0.0, 0.3])
    # noisy-gaussian: the critic attack is 0.05 lower in mean, with noise; the others: 300 lower
    text = render(tmp_path / "a", runs, edit=critic_below_random(
        {"noisy-gaussian": [40.05, -39.95], "td3": [300.0, 301.0], "noisy-uniform": [299.0, 300.0]}))
    assert "the unit of every interval in this section is an episode}, $n = 3 \\times 2 = 6$" in text
    assert "critic attack lowers the return more than random corners in 2 (\\texttt{td3} at $\\epsilon = 0.3$, \\texttt{noisy-uniform} at $\\epsilon = 0.3$)" in text
    assert "and no difference is shown in 1 (Table" in text
    assert "{partly supported}" in text and "\\label{tab:attack}" in text
    assert "a random one that is at least as large" in text
    assert "counting mean differences would overstate the attack" in text
    assert "random corner of the ball" not in text and "random \\emph{corner} of the ball" in text
    # random corners hurt more everywhere: the sentence says so, and no other
    rand = render(tmp_path / "b", runs, edit=critic_below_random(
        {v: [-300.0, -301.0] for v in ("td3", "noisy-gaussian", "noisy-uniform")}))
    assert "{contradicted}" in rand and "Random corners hurt more than the critic attack" in rand
    assert "the critic's gradient finds" not in rand


def test_returns_rising_under_attack_are_explained_only_by_the_data(tmp_path, rl_cfg):
    runs = grid(rl_cfg, ["td3", "noisy-gaussian"], attack_eps=[0.0, 0.3])

    def rising(length: float):
        def edit(run: dict) -> None:
            r, seed = run["metrics"]["robustness"], run["config"]["seed"]
            d = 30.0 if seed == 0 else -10.0  # mean +10 over the episodes, undecided
            r["random_episodes"][-1] = [x + d for x in r["clean_episodes"]]
            r["clean_length"] = length
        return edit
    weak = render(tmp_path / "a", runs, edit=rising(90.0))
    assert "\\paragraph{Returns that rise under attack.}" in weak
    assert "No rise is decided by the statistics rule" in weak
    assert "a perturbation delays the fall as easily as it hastens it" in weak
    strong = render(tmp_path / "b", runs, edit=rising(1000.0))
    assert "delays the fall" not in strong and "these runs do not explain the rises" in strong


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


def test_probes_that_all_sit_at_the_ceiling_give_no_verdict_instead_of_a_negative_one(tmp_path, rl_cfg):
    # The demo's case: every feature set reads every quantity with R^2 >= the ceiling, the
    # trained encoder ahead in the third decimal. The report must not say "for no quantity is the
    # trained z_s better" beside a table whose verdicts say "better": it says no verdict is left.
    runs = grid(rl_cfg, ["td3", "sale"])
    text = render(tmp_path, runs, embeddings=[probe([0.999, 0.998], [0.990, 0.991], [0.996, 0.997])])
    assert "No quantity is left below that ceiling" in text
    assert "For no quantity" not in text and "Training made $z_s$ more predictive" not in text
