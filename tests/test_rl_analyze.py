"""The RL run JSON's attack and sigma fields, and the analysis of runs whose variants have
different budgets (per-variant total_steps / eval_every) and where some runs skip the attack study
(``attack: false``): comparisons between variants at matched steps, the attack study paired per
episode, the protocol printed from the summary, and every figure drawn from such a summary."""

from __future__ import annotations

import copy

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from conftest import REPO  # noqa: E402
from test_rl_report import fake_run, grid, probe, render  # noqa: E402


@pytest.fixture(scope="module")
def rl_cfg() -> dict:
    return yaml.safe_load((REPO / "tasks/rl/config.yaml").read_text())["rl"]


# ------------------------------------------------------------------ the run JSON's new fields


def test_random_attack_is_a_corner_of_the_same_ball():
    from saidl.rl.attacks import random_perturbation

    rng = np.random.default_rng(0)
    obs = rng.normal(size=(200, 11))
    scale = rng.uniform(0.1, 3.0, size=11)
    delta = random_perturbation(obs, 0.2, rng, scale) - obs
    assert np.allclose(np.abs(delta), 0.2 * scale)  # full L-inf norm on every coordinate
    assert (delta > 0).mean() == pytest.approx(0.5, abs=0.05)  # random signs
    uni = random_perturbation(obs, 0.2, rng, scale, law="uniform") - obs
    assert np.all(np.abs(uni) <= 0.2 * scale + 1e-12) and np.abs(uni).min() < 0.1 * (0.2 * scale).min()
    with pytest.raises(ValueError):
        random_perturbation(obs, 0.2, rng, scale, law="gaussian")


@pytest.fixture(scope="module")
def smoke_cfg(rl_cfg) -> dict:
    from saidl.rl.grid import run_configs

    cfg = run_configs(rl_cfg, "smoke")["td3-s0"]
    return {**cfg, "attack_eps": [0.0, 0.1, 0.3], "attack_episodes": 2, "attack_steps": 1, "max_episode_steps": 40}


def test_robustness_records_paired_episodes_and_honours_attack_false(smoke_cfg):
    from saidl.rl.train import make_agent, noisy_sigma_layers, robustness

    torch.set_num_threads(1)
    agent = make_agent(smoke_cfg, 11, 3, torch.device("cpu"))
    assert noisy_sigma_layers(agent) is None
    rob = robustness(agent, smoke_cfg, [1.0] * 11)
    assert rob["eps"] == [0.0, 0.1, 0.3] and rob["random_law"] == "linf_corner"
    for kind in ("random", "critic"):
        assert len(rob[kind]) == len(rob[f"{kind}_episodes"]) == len(rob[f"{kind}_lengths"]) == 3
        assert all(len(e) == 2 for e in rob[f"{kind}_episodes"])
        # radius 0 is the clean evaluation itself: the same episodes for both kinds
        assert rob[f"{kind}_episodes"][0] == rob["clean_episodes"]
        assert rob[kind] == pytest.approx([float(np.mean(e)) for e in rob[f"{kind}_episodes"]])
    assert len(rob["clean_episodes"]) == len(rob["clean_lengths"]) == 2
    assert rob["clean_length"] == pytest.approx(np.mean(rob["clean_lengths"]))
    assert robustness(agent, {**smoke_cfg, "attack": False}, [1.0] * 11) is None
    assert robustness(agent, {**smoke_cfg, "attack": True}, [1.0] * 11)["clean_episodes"] == rob["clean_episodes"]


def test_noisy_sigma_is_recorded_per_layer(smoke_cfg):
    from saidl.rl.train import make_agent, noisy_sigma, noisy_sigma_layers

    agent = make_agent({**smoke_cfg, "noisy": "laplace"}, 11, 3, torch.device("cpu"))
    layers = noisy_sigma_layers(agent)
    assert len(layers) == len(agent.actor.noisy_layers()) == 3
    assert layers == pytest.approx([0.017] * 3)
    assert noisy_sigma(agent) == pytest.approx(0.017)


# ------------------------------------------------------------------ analysis of mixed budgets


def demo_like(rl_cfg: dict) -> dict:
    """td3 long and attacked; the other variants short and not attacked (the demo's protocol)."""
    runs = grid(rl_cfg, ["td3", "noisy-gaussian", "noisy-uniform", "sale"], attack_eps=[0.0, 0.1, 0.3])
    for cfg in runs.values():
        long = cfg["variant"] == "td3"
        cfg.update(total_steps=60_000 if long else 15_000, eval_every=5_000 if long else 2_500,
                   start_steps=5_000 if long else 2_500, attack=long)
    return runs


def collect_runs(tmp_path, runs: dict, edit=None) -> dict:
    from saidl.common.io import write_json
    from saidl.rl.analyze import collect

    rdir = tmp_path / "runs"
    rdir.mkdir(parents=True)
    for rid, cfg in runs.items():
        run = fake_run(cfg, [0.017, 0.02, 0.03], probe([0.5, 0.6], [0.4, 0.45], [0.3, 0.35]))
        if edit:
            edit(run)
        write_json(rdir / f"{rid}.json", run)
    return collect(runs, rdir)


def test_variants_of_different_lengths_are_compared_at_matched_steps(tmp_path, rl_cfg):
    s = collect_runs(tmp_path, demo_like(rl_cfg))
    per, claims = s["per_variant"], s["claims"]
    assert len(per["td3"]["steps"]) == 12 and len(per["sale"]["steps"]) == 6
    assert s["protocol"]["max_steps"] == 60_000 and s["protocol"]["min_steps"] == 15_000
    assert not s["protocol"]["same_steps"] and s["protocol"]["attacked"] == ["td3"]
    assert "total_steps" not in s["config"] and "attack" not in s["config"] and "total_steps" in s["varying"]
    # sale vs td3: the common evaluation steps up to the shorter run's total
    sg = claims["sale_gain"]
    assert sg["steps"] == [5_000, 10_000, 15_000] and sg["step"] == 15_000
    td3_at = [c[per["td3"]["steps"].index(15_000)] for c in per["td3"]["seed_curves"]]
    assert sg["matched"]["final"]["td3"]["values"] == pytest.approx(td3_at)
    assert sg["final"]["diff"] == pytest.approx(np.mean(per["sale"]["final"]["values"]) - np.mean(td3_at))
    td3_auc = [np.mean([c[per["td3"]["steps"].index(x)] for x in sg["steps"]]) for c in per["td3"]["seed_curves"]]
    assert sg["matched"]["auc"]["td3"]["values"] == pytest.approx(td3_auc)
    assert claims["noisy_gain"]["step"] == 15_000 and claims["noise_laws"]["step"] == 15_000
    assert claims["learned"]["step"] == 15_000 and s["matched"]["step"] == 15_000
    # the attack study only where the run asked for it
    assert per["sale"]["robustness"] is None and per["noisy-gaussian"]["robustness"] is None
    rob = per["td3"]["robustness"]
    assert rob["unit"] == "episode" and rob["n"] == 6 and rob["per_seed"] == 3 and rob["n_seeds"] == 2
    assert [c["variant"] for c in claims["critic_attack"]["cells"]] == ["td3", "td3"]
    assert claims["critic_attack"]["not_attacked"] == ["noisy-gaussian", "noisy-uniform", "sale"]
    # sigma per layer: from initialisation, per noisy law only
    sl = per["noisy-gaussian"]["sigma_layers"]
    assert sl["from_init"] and sl["steps"][0] == 0 and sl["n_layers"] == 3 and len(sl["layers"][0]["mean"]) == 7
    assert per["td3"]["sigma_layers"] is None and per["sale"]["sigma_layers"] is None
    assert {c["verdict"] for c in claims["sigma"]["cells"]} == {"better"}  # every layer grew (same on both seeds)


def test_attack_drop_is_paired_per_episode(tmp_path, rl_cfg):
    s = collect_runs(tmp_path, demo_like(rl_cfg))
    rob = s["per_variant"]["td3"]["robustness"]
    runs = [fake_run(c, None, None) for c in demo_like(rl_cfg).values() if c["variant"] == "td3"]
    runs.sort(key=lambda r: r["config"]["seed"])
    clean = [x for r in runs for x in r["metrics"]["robustness"]["clean_episodes"]]
    critic = [x for r in runs for x in r["metrics"]["robustness"]["critic_episodes"][2]]
    rnd = [x for r in runs for x in r["metrics"]["robustness"]["random_episodes"][2]]
    assert rob["drop"]["critic"][2]["diff"] == pytest.approx(np.mean(np.subtract(clean, critic)))
    assert rob["drop"]["critic"][2]["n_pairs"] == 6 and rob["drop"]["critic"][0] is None
    assert rob["critic_vs_random"][2]["diff"] == pytest.approx(np.mean(np.subtract(rnd, critic)))
    assert rob["critic_vs_random"][2]["verdict"] == "better"  # fake: critic ends 400 below random


def no_attack(runs: dict) -> dict:
    for cfg in runs.values():
        cfg["attack"] = False
    return runs


def test_no_attack_anywhere_gives_no_attack_claim_and_the_report_says_so(tmp_path, rl_cfg):
    runs = no_attack(grid(rl_cfg, ["td3", "noisy-gaussian"]))
    text = render(tmp_path, runs)
    assert "No run of this scale has the attack study" in text and "\\label{tab:attack}" not in text
    assert "no run of this scale has the attack study" in text  # the answer sheet says so
    s = collect_runs(tmp_path / "b", runs)
    assert "critic_attack" not in s["claims"] and s["protocol"]["attacked"] == []


def test_report_states_the_protocol_from_the_summary(tmp_path, rl_cfg):
    text = render(tmp_path, demo_like(rl_cfg), sigma=[0.017, 0.02, 0.03],
                  embeddings=[probe([0.5, 0.6], [0.4, 0.45], [0.3, 0.35])])
    assert "\\label{tab:protocol}" in text
    assert "so the budget goes to the variant it attacks (\\texttt{td3}: 60{,}000 steps)" in text
    assert ("\\texttt{noisy-gaussian}, \\texttt{noisy-uniform}, \\texttt{sale} train for 15{,}000 steps"
            in text)
    assert "15{,}000 to 60{,}000 environment steps per run (per-variant budgets" in text
    assert "SALE trains for 15{,}000 steps and TD3 for 60{,}000, so they are compared at the matched budget" in text
    assert "Return at step 15{,}000, \\texttt{sale} $-$ \\texttt{td3}" in text
    assert "at the matched budget (step 15{,}000)" in text  # noisy gain
    assert "at step 15{,}000 (the budget every law reaches)" in text  # noise laws
    assert "& at 15{,}000 &" in text  # the returns table's matched column
    assert "The policy the attack study uses, \\texttt{td3}, ends at" in text
    assert "\\texttt{td3} & 0.1 &" in text and "\\texttt{sale} & 0.1 &" not in text  # attack rows
    assert "sale_vs_td3" in text and "\\label{tab:sigma}" in text


def test_every_figure_draws_a_mixed_budget_summary(tmp_path, rl_cfg):
    import importlib

    from saidl.report.figstyle import apply_style
    from saidl.rl.figures import FIGURES

    s = collect_runs(tmp_path, demo_like(rl_cfg))
    apply_style()
    for name in FIGURES:
        fig = importlib.import_module(f"saidl.rl.figures.{name}").plot(copy.deepcopy(s))
        fig.savefig(tmp_path / f"{name}.png", dpi=40)
        plt.close(fig)
    none = collect_runs(tmp_path / "b", no_attack(grid(rl_cfg, ["td3", "noisy-gaussian"])))
    for name in ("robustness", "sale_vs_td3"):
        plt.close(importlib.import_module(f"saidl.rl.figures.{name}").plot(none))
