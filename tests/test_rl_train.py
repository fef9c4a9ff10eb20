"""The RL training loop: reproducible with a seed, and a whole smoke run's JSON."""

import pytest
import torch
import yaml

from conftest import REPO


@pytest.fixture(scope="module")
def smoke_runs():
    from saidl.rl.grid import run_configs

    return run_configs(yaml.safe_load((REPO / "tasks/rl/config.yaml").read_text())["rl"], "smoke")


def first_steps(cfg):
    from saidl.rl.train import train

    torch.set_num_threads(1)
    _, hist = train({**cfg, "total_steps": 1000, "start_steps": 300, "eval_every": 1000}, torch.device("cpu"))
    return {k: v for k, v in hist.items() if k not in ("train_time_s", "updates_per_s")}


@pytest.mark.parametrize("variant", ["td3", "noisy-gaussian"])
def test_same_seed_gives_the_same_first_1000_steps(smoke_runs, variant):
    cfg = smoke_runs[f"{variant}-s0"]
    a, b = first_steps(cfg), first_steps(cfg)
    assert a == b
    c = first_steps({**cfg, "seed": 1})
    assert c["episode_returns"] != a["episode_returns"]


def test_smoke_run_records_curves_robustness_and_the_sale_embedding(tmp_path, smoke_runs):
    from saidl.rl.train import run

    doc = run(smoke_runs["sale-s0"], tmp_path / "r.json")
    m = doc["metrics"]
    assert len(m["eval_return"]) == len(m["eval_steps"]) > 0
    assert len(m["robustness"]["critic"]) == len(m["robustness"]["eps"])
    emb = m["embedding"]
    # The same probes on the trained encoder, on the untrained control and on the raw state,
    # cross-validated over whole episodes of the trained policy.
    assert set(emb["probe"]["r2"]) == {"trained", "untrained", "state"}
    for r2 in emb["probe"]["r2"].values():
        assert set(r2) == {"return_to_go", "next_reward", "next_x_velocity"}
        assert all(len(v) == emb["probe"]["n_folds"] for v in r2.values())
    assert emb["probe"]["n_trajectories"] == emb["n_episodes"] == smoke_runs["sale-s0"]["probe_episodes"]
    assert emb["probe"]["n_folds"] >= 2
    assert emb["probe"]["r2"]["trained"] != emb["probe"]["r2"]["untrained"]
    assert set(emb["neighbour_agreement"]) == {"trained", "untrained"}
    # SALE's encoder trained on the one-step next state s_{t+1} (TD7), not the n-step one.
    assert emb["encoder_target"] == "next_obs1" and emb["encoder_updates"] == m["updates"]
    assert m["robustness"]["clean_length"] >= 1
    assert m["random_return"] > 0


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path, smoke_runs):
    from saidl.rl.train import run

    cfg = smoke_runs["td3-s0"]
    ckpt = tmp_path / "run.pt"
    assert run(cfg, tmp_path / "r.json", ckpt=ckpt, ckpt_interval_s=1e9, stop_after=400) is None
    assert ckpt.exists() and not (tmp_path / "r.json").exists()
    doc = run(cfg, tmp_path / "r.json", ckpt=ckpt)
    assert not ckpt.exists()
    assert doc["metrics"]["eval_steps"] == [300, 600] and doc["metrics"]["updates"] == cfg["total_steps"] - cfg["start_steps"]


def test_best_attack_policy_is_the_agent_of_the_best_evaluation_even_after_a_resume(tmp_path, smoke_runs):
    """``attack_policy: best`` attacks the agent as it was at its best evaluation (TD7's checkpoint
    rule), and a resume keeps that agent; ``final`` attacks the last one."""
    import copy

    from saidl.rl import train as T

    cfg = {**smoke_runs["td3-s0"], "total_steps": 900, "eval_every": 150, "attack_policy": "best",
           "attack_eps": [0.0], "attack_episodes": 1}
    import saidl.rl.attacks as A

    seen, evaluate = [], A.evaluate  # (mean return, actor weights) of every evaluation without attack

    def recording(agent, *args, **kwargs):
        res = evaluate(agent, *args, **kwargs)
        if kwargs.get("attack", "none") == "none" and kwargs.get("eps", 0.0) == 0.0:
            seen.append((float(res["mean"]), copy.deepcopy(agent.actor.state_dict())))
        return res

    A.evaluate = recording
    try:
        ckpt = tmp_path / "run.pt"
        assert T.run(cfg, tmp_path / "r.json", ckpt=ckpt, ckpt_interval_s=1e9, stop_after=450) is None
        doc = T.run(cfg, tmp_path / "r.json", ckpt=ckpt)
    finally:
        A.evaluate = evaluate
    m = doc["metrics"]
    pol = m["attack_policy"]
    i = max(range(len(m["eval_return"])), key=lambda k: m["eval_return"][k])
    assert pol["rule"] == "best" and pol["step"] == m["eval_steps"][i] and pol["eval_return"] == m["eval_return"][i]
    # the clean attack episodes were played by the actor of that evaluation (the last recorded call)
    chosen = [w for r, w in seen[:-1] if r == pol["eval_return"]][0]
    attacked = seen[-1][1]
    assert all(torch.equal(chosen[k], attacked[k]) for k in chosen)
    final = T.run({**cfg, "attack_policy": "final"}, tmp_path / "f.json")["metrics"]["attack_policy"]
    assert final["rule"] == "final" and final["step"] == cfg["total_steps"]
