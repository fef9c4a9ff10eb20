"""The paper task: ANL's losses (as the official code defines them), its grid, its claims logic
and one tiny run end to end."""

import math

import pytest
import torch
import torch.nn.functional as F
import yaml

from conftest import REPO
from saidl.common.errors import ConfigError
from saidl.coreml.losses import ActiveNegativeLoss, build_loss, l1_penalty
from saidl.coreml.names import ANL_A

K = 10


def logits_batch(n=64, seed=0, k=K):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g, dtype=torch.float64) * 3, torch.randint(0, k, (n,), generator=g)


def per_sample(name, logits, y, **params):
    loss = build_loss(name, logits.shape[1], params)
    return torch.stack([loss(logits[i:i + 1], y[i:i + 1]) for i in range(len(y))])


# -- NNCE ----------------------------------------------------------------------------------

def test_nnce_lies_in_the_unit_interval():
    logits, y = logits_batch(256)
    v = per_sample("NNCE", logits, y)
    assert ((v >= 0) & (v <= 1)).all()
    far = torch.tensor([[-50.0] + [0.0] * (K - 1)])  # p_y below the 1e-7 clamp
    assert build_loss("NNCE", K)(far, torch.tensor([0])).item() == pytest.approx(1.0)


def test_nnce_is_zero_at_a_one_hot_correct_prediction():
    # Official definition (clamp at 1e-7, A = -log 1e-7): at p = one-hot(y) the labelled term is
    # A + log 1 = A and every other term A + log 1e-7 = 0, so NNCE = 1 - A / A = 0 exactly, as the
    # issue says. (ANL-CE-ER's copy clamps at 1 - 1e-7 above; still 0 there.)
    one_hot = torch.tensor([[200.0] + [0.0] * (K - 1)])
    assert build_loss("NNCE", K)(one_hot, torch.tensor([0])).item() == 0.0
    er_copy = build_loss("ANL-CE-ER", K, {"alpha": 0.0, "beta": 1.0, "lamb": 0.0})
    assert er_copy(one_hot, torch.tensor([0])).item() == pytest.approx(0.0, abs=1e-6)


def test_nnce_matches_a_hand_computation():
    # K = 3, p = (0.5, 0.3, 0.2), label 0: q_k = A + log p_k, NNCE = 1 - q_0 / (q_0 + q_1 + q_2).
    a = -math.log(1e-7)
    q = [a + math.log(0.5), a + math.log(0.3), a + math.log(0.2)]
    expected = 1 - q[0] / sum(q)
    assert expected == pytest.approx(0.656060, abs=1e-6)  # = 1 - 15.4249 / 44.8477
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2]], dtype=torch.float64))
    assert build_loss("NNCE", 3)(logits, torch.tensor([0])).item() == pytest.approx(expected, rel=1e-9)
    assert ANL_A == pytest.approx(a)


def test_nnce_matches_the_official_code_on_a_batch():
    logits, y = logits_batch(32)
    p = F.softmax(logits, 1).clamp(min=1e-7, max=1)
    q = -torch.tensor(1e-7, dtype=p.dtype).log() + p.log()
    official = (1 - (F.one_hot(y, K) * q).sum(1) / q.sum(1)).mean()
    assert build_loss("NNCE", K)(logits, y).item() == pytest.approx(official.item())


def test_nnfl_lies_in_the_unit_interval_and_with_gamma_zero_is_nnce():
    logits, y = logits_batch(128)
    v = per_sample("NNFL", logits, y, gamma=0.5)
    assert ((v >= -1e-6) & (v <= 1 + 1e-6)).all()
    nnfl0 = build_loss("NNFL", K, {"gamma": 0.0})(logits, y)
    assert nnfl0.item() == pytest.approx(build_loss("NNCE", K)(logits, y).item(), rel=1e-9)


# -- the L1 penalty and ANL ----------------------------------------------------------------

def test_l1_penalty_is_the_sum_of_absolute_parameters_times_delta():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, K)).double()
    manual = sum(float(p.detach().abs().sum()) for p in model.parameters())  # biases and BN too
    assert float(l1_penalty(model).detach()) == pytest.approx(manual, rel=1e-12)
    logits, y = model(torch.randn(8, 5, dtype=torch.float64)), torch.randint(0, K, (8,))
    with_l1 = build_loss("ANL-CE", K, {"alpha": 5.0, "beta": 5.0, "delta": 5e-5})
    without = build_loss("ANL-CE", K, {"alpha": 5.0, "beta": 5.0, "delta": 0.0})
    diff = with_l1(logits, y, model) - without(logits, y, model)
    assert float(diff.detach()) == pytest.approx(5e-5 * manual, rel=1e-9)
    with pytest.raises(ValueError, match="model"):
        with_l1(logits, y)


def test_anl_ce_with_beta_and_delta_zero_is_alpha_times_nce():
    logits, y = logits_batch()
    anl = build_loss("ANL-CE", K, {"alpha": 3.0, "beta": 0.0, "delta": 0.0})
    assert anl(logits, y).item() == pytest.approx(3.0 * build_loss("NCE", K)(logits, y).item())


def test_anl_is_alpha_active_plus_beta_negative_and_er_adds_the_entropy_term():
    logits, y = logits_batch()
    got = build_loss("ANL-FL", K, {"alpha": 2.0, "beta": 0.5, "gamma": 0.5})(logits, y)
    want = 2.0 * build_loss("NFL", K, {"gamma": 0.5})(logits, y) + 0.5 * build_loss("NNFL", K, {"gamma": 0.5})(logits, y)
    assert got.item() == pytest.approx(want.item())
    er = build_loss("ANL-CE-ER", K, {"alpha": 1.0, "beta": 1.0, "lamb": 2.0})(logits, y)
    plain = build_loss("ANL-CE", K, {"alpha": 1.0, "beta": 1.0})(logits, y)
    prob = F.softmax(logits, 1).clamp(1e-7, 1 - 1e-7)
    pc = (prob.sum(0) / prob.sum()).clamp(1e-7, 1 - 1e-7)
    entropy_gap = math.log(K) + float((pc * pc.log()).sum())
    assert er.item() == pytest.approx(plain.item() + 2.0 * entropy_gap, rel=1e-6)


def test_a_pair_with_delta_becomes_an_anl_style_loss_for_the_ablation():
    loss = build_loss("NCE+MAE", K, {"alpha": 5.0, "beta": 5.0, "delta": 5e-5})
    assert isinstance(loss, ActiveNegativeLoss) and loss.needs_model
    assert not getattr(build_loss("NCE+MAE", K, {"alpha": 1.0, "beta": 1.0}), "needs_model", False)


def test_nnce_gradient_grows_with_confidence_while_maes_vanishes():
    def norm(name, p):
        z = torch.tensor([[math.log(p)] + [math.log((1 - p) / (K - 1))] * (K - 1)],
                         dtype=torch.float64, requires_grad=True)
        build_loss(name, K)(z, torch.tensor([0])).backward()
        return float(z.grad.norm())
    assert norm("NNCE", 0.99) > norm("NNCE", 0.5) and norm("MAE", 0.99) < 0.1 * norm("MAE", 0.5)


# -- grid and claims -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cfgs():
    paper = yaml.safe_load((REPO / "tasks/paper/config.yaml").read_text())["paper"]
    coreml = yaml.safe_load((REPO / "tasks/coreml/config.yaml").read_text())["coreml"]
    return paper, coreml


def test_shipped_paper_config_is_valid_and_a_bad_weight_is_one_clear_line(cfgs):
    from saidl.common.config import validate

    schema = REPO / "tasks/paper/schema.yaml"
    validate({"paper": cfgs[0]}, schema, "tasks/paper/config.yaml")
    bad = {**cfgs[0], "variants": {**cfgs[0]["variants"], "ANL-CE": {
        "loss": "ANL-CE", "params": {"alpha": 5.0, "beta": 5.0, "delta": -1.0}, "weight_decay": 0.0}}}
    with pytest.raises(ConfigError, match=r"paper.variants.ANL-CE.params.delta"):
        validate({"paper": bad}, schema, "tasks/paper/config.yaml")


def test_full_grid_uses_the_papers_cifar10_configuration(cfgs):
    from saidl.paper.grid import run_configs

    runs = run_configs(*cfgs, "full")
    anl = runs["main-sym-0.8-ANL-CE-s0"]
    assert anl["dataset"] == "cifar10" and anl["model"] == "cnn8" and anl["epochs"] == 120
    assert anl["loss_params"] == {"alpha": 5.0, "beta": 5.0, "delta": 5e-5} and anl["weight_decay"] == 0.0
    assert (anl["lr"], anl["momentum"], anl["batch_size"], anl["grad_clip"]) == (0.01, 0.9, 128, 5.0)
    assert runs["main-sym-0.8-NCE+RCE-s2"]["weight_decay"] == 1e-4
    assert {r["seed"] for r in runs.values() if r["group"] == "main"} == {0, 1, 2}
    assert runs["sensitivity-sym-0.8-ANL-CE-a1-b10-s0"]["n_val"] == 5000
    assert runs["transfer-sym-0.8-ANL-CE-s0"]["dataset"] == "fashion_mnist"


def test_demo_sensitivity_reuses_the_main_run_at_the_papers_alpha_beta(cfgs):
    from saidl.paper.grid import design, run_configs

    runs = run_configs(*cfgs, "demo")
    points = design(*cfgs, "demo")["sensitivity"]["points"]
    paper = next(p for p in points if (p["alpha"], p["beta"]) == (5.0, 5.0))
    seeds = cfgs[0]["scales"]["demo"]["sensitivity"]["seeds"]
    assert paper["runs"] == [f"main-sym-0.8-ANL-CE-s{s}" for s in seeds]
    assert all(rid in runs for p in points for rid in p["runs"])
    assert len([r for r in runs.values() if r["group"] == "sensitivity"]) == (len(points) - 1) * len(seeds)


def test_an_unknown_variant_is_a_clear_config_error(cfgs):
    from saidl.paper.grid import run_configs

    paper, coreml = cfgs
    bad = {**paper, "scales": {"smoke": {**paper["scales"]["smoke"], "ablation": {
        "noise": "sym", "eta": 0.8, "variants": ["ANL-XE"]}}}}
    with pytest.raises(ConfigError, match="ANL-XE"):
        run_configs(bad, coreml, "smoke")


def _cell(final, seeds=None, clean=None, noisy=None, val=None):
    """A summary cell as saidl.paper.analyze builds it, from per-seed values."""
    from saidl.common.stats import interval

    seeds = list(range(len(final))) if seeds is None else seeds
    clean = final if clean is None else clean
    noisy = [0.1] * len(final) if noisy is None else noisy
    return {"final": interval(final), "best": interval(final), "clean_fit": interval(clean),
            "clean_fit_half": interval(clean), "noisy_fit": interval(noisy), "noisy_true": interval(final),
            "val_true": interval(val) if val is not None else None, "wall_time_s": interval([1.0] * len(final)),
            "seeds": seeds}


def synthetic_summary(main, ablation=None, points=None, asym=None):
    """A paper summary with the keys check_claims reads: main cells at sym 0.8 (and asym 0.4),
    the ablation, the sensitivity points and the gradient profile of the real loss code."""
    from saidl.paper.analyze import gradient_profile

    variants = {"NCE+MAE": {"loss": "NCE+MAE", "params": {"alpha": 1.0, "beta": 1.0}, "weight_decay": 1e-4},
                "NCE+RCE": {"loss": "NCE+RCE", "params": {"alpha": 1.0, "beta": 1.0}, "weight_decay": 1e-4},
                "ANL-CE": {"loss": "ANL-CE", "params": {"alpha": 5.0, "beta": 5.0, "delta": 5e-5}, "weight_decay": 0.0}}
    cells = {"main": {"sym": {"0.8": main}}}
    if asym:
        cells["main"]["asym"] = {"0.4": asym}
    if ablation:
        cells["ablation"] = {"sym": {"0.8": ablation}}
    points = points or []
    return {"cells": cells, "variants": variants, "gradients": gradient_profile(),
            "design": {"ablation": {"noise": "sym", "eta": 0.8}},
            "groups": {"main": {"dataset": "fashion_mnist"}, "transfer": None},
            "sensitivity": {"noise": "sym", "eta": 0.8, "variant": "ANL-CE", "points": points,
                            "selected": max(points, key=lambda p: p["val_true"]["mean"]) if points else None,
                            "paper": {"alpha": 5.0, "beta": 5.0}}}


def test_claims_are_id_verdict_and_numbers_with_verdicts_from_the_statistics_rule():
    from saidl.common.stats import CLAIM_VERDICTS
    from saidl.paper.analyze import check_claims

    # ANL-CE above both APL pairs by about 5 points in every seed (paired): supported.
    main = {"ANL-CE": _cell([0.60, 0.65, 0.70]), "NCE+MAE": _cell([0.55, 0.60, 0.66]),
            "NCE+RCE": _cell([0.50, 0.52, 0.54])}
    claims = {c["id"]: c for c in check_claims(synthetic_summary(main))}
    for c in claims.values():
        assert c["verdict"] in CLAIM_VERDICTS and "statement" not in c and "evidence" not in c
    assert claims["mechanism"]["verdict"] == "supported"
    c = claims["anl_beats_apl"]
    assert c["verdict"] == "supported"
    (row,) = c["rows"]
    assert row["apl"] == "NCE+MAE" and row["cmp"]["test"] == "paired t" and row["cmp"]["n_pairs"] == 3
    assert row["cmp"]["diff"] == pytest.approx((0.05 + 0.05 + 0.04) / 3)


def test_a_within_noise_difference_is_not_shown_and_one_seed_is_too_few():
    from saidl.paper.analyze import check_claims

    # higher on average, but the per-seed differences change sign: no difference shown
    # (the old margin rule called this "partly supported").
    main = {"ANL-CE": _cell([0.62, 0.55, 0.645]), "NCE+MAE": _cell([0.58, 0.60, 0.61])}
    c = {c["id"]: c for c in check_claims(synthetic_summary(main))}["anl_beats_apl"]
    assert c["rows"][0]["cmp"]["diff"] > 0 and c["verdict"] == "not shown"
    one = {"ANL-CE": _cell([0.70]), "NCE+MAE": _cell([0.50])}
    c = {c["id"]: c for c in check_claims(synthetic_summary(one))}["anl_beats_apl"]
    assert c["verdict"] == "too few seeds" and c["rows"][0]["cmp"]["lo"] is None


def test_fits_clean_counts_more_memorisation_against_the_claim():
    from saidl.paper.analyze import check_claims

    main = {"ANL-CE": _cell([0.6, 0.6, 0.6], clean=[0.80, 0.82, 0.84], noisy=[0.30, 0.32, 0.34]),
            "NCE+MAE": _cell([0.6, 0.6, 0.6], clean=[0.70, 0.71, 0.72], noisy=[0.10, 0.11, 0.12])}
    c = {c["id"]: c for c in check_claims(synthetic_summary(main))}["fits_clean"]
    assert c["rows"][0]["clean_cmp"]["verdict"] == "better"
    assert c["rows"][0]["noisy_cmp"]["verdict"] == "worse" and c["verdict"] == "mixed"


def test_scale_control_splits_anl_minus_apl_into_passive_loss_and_loss_scale():
    from saidl.paper.analyze import check_claims, scale_control

    main = {"ANL-CE": _cell([0.60, 0.64, 0.70]), "NCE+MAE": _cell([0.50, 0.55, 0.58])}
    ablation = {"NCE+MAE (ANL setting)": _cell([0.59, 0.62, 0.69]),
                "ANL-CE, weight decay": _cell([0.50, 0.52, 0.55]), "ANL-CE, no penalty": _cell([0.62, 0.665, 0.725])}
    summary = synthetic_summary(main, ablation)
    ctl = scale_control(summary)
    assert ctl["factor"] == 5.0 and ctl["has_control"]
    assert ctl["anl_vs_apl"]["diff"] == pytest.approx(ctl["anl_vs_control"]["diff"] + ctl["control_vs_apl"]["diff"])
    assert ctl["control_vs_apl"]["verdict"] == "better"
    claims = {c["id"]: c for c in check_claims(summary)}
    assert claims["passive_swap"]["cmp"] == ctl["anl_vs_control"]
    assert claims["l1_penalty"]["verdict"] == "mixed"   # beats weight decay, loses to no penalty


def test_sweep_ranks_the_papers_beta_and_one_seed_per_point_gives_no_verdict():
    from saidl.paper.analyze import check_claims, sweep

    def point(alpha, beta, acc):
        return {"alpha": alpha, "beta": beta, "runs": [], **_cell([acc], seeds=[0], val=[acc])}

    main = {"ANL-CE": _cell([0.40, 0.46]), "NCE+MAE": _cell([0.44, 0.45])}
    points = [point(5.0, 1.0, 0.45), point(5.0, 5.0, 0.40), point(5.0, 10.0, 0.44), point(1.0, 5.0, 0.41)]
    summary = synthetic_summary(main, points=points)
    sw = sweep(summary, "beta")
    assert [p["beta"] for p in sw["points"]] == [1.0, 5.0, 10.0]
    assert sw["paper_rank"] == 3 and sw["paper_worst"] and not sw["monotone"]
    assert sw["n_seeds"] == 1 and sw["best"]["verdict"] == "too few seeds"
    assert sw["main_seed_gap"] == pytest.approx(0.06) and sw["largest_step"] == pytest.approx(0.05)
    assert all(r["cmp"]["verdict"] == "too few seeds" for r in sw["vs_paper"])
    c = {c["id"]: c for c in check_claims(summary)}["sensitivity"]
    assert c["verdict"] == "too few seeds" and c["n_points"] == 4 and c["n_above"] == 1


def test_claims_no_longer_depend_on_the_core_ml_margin_rule():
    import saidl.paper.analyze as paper

    assert not hasattr(paper, "verdict") and not hasattr(paper, "MARGIN_RULE")
    assert paper.stats.compare.__module__ == "saidl.common.stats"


# -- one run end to end --------------------------------------------------------------------

def test_one_anl_run_end_to_end_trains_with_the_l1_penalty(tmp_path, cfgs, one_torch_thread):
    from saidl.coreml.train import run
    from saidl.paper.grid import run_configs

    cfg = {**run_configs(*cfgs, "smoke")["main-sym-0.8-ANL-CE-s0"], "n_train": 300, "n_val": 100,
           "n_test": 200, "epochs": 2}
    doc = run(cfg, tmp_path / "r.json")
    assert doc["task"] == "paper" and doc["config"]["loss_params"]["delta"] == 5e-5
    m = doc["metrics"]
    assert len(m["train_clean_acc"]) == len(m["train_noisy_fit"]) == 2
    assert all(math.isfinite(v) for v in m["train_loss"])
    # the recorded loss includes delta * ||theta||_1 (~ 0.2 for the MLP), on top of 5 NCE + 5 NNCE
    assert m["train_loss"][0] > 5 * (1 / K) + 5 * 0.8


def test_rehearsal_grid_is_full_on_the_fake_with_every_group(cfgs):
    """The rehearsal trains with the Core ML rehearsal block (the fake CIFAR-10, no md5 check) and
    keeps every group of the full report: main (with clean labels and both noise types), the
    ablation, the sensitivity on a validation split and the transfer, all with shrunk budgets."""
    from saidl.paper.grid import design, run_configs

    runs = run_configs(*cfgs, "rehearsal")
    full = run_configs(*cfgs, "full")
    groups = {r["group"] for r in runs.values()}
    assert groups == {"main", "ablation", "sensitivity", "transfer"}
    main = [r for r in runs.values() if r["group"] != "transfer"]
    assert all(r["dataset"] == "cifar10" and r["model"] == "cnn8" and r["augment"] for r in main)
    assert all(r["data_dir"] == "data/rehearsal/cifar10" and r["verify_checksums"] is False for r in main)
    assert all(r["verify_checksums"] is True for r in full.values() if r["dataset"] == "cifar10")
    settings = {(r["noise"], r["eta"]) for r in runs.values() if r["group"] == "main"}
    assert {("sym", 0.0), ("sym", 0.8), ("asym", 0.4)} <= settings
    sens = [r for r in runs.values() if r["group"] == "sensitivity"]
    assert sens and all(r["n_val"] > 0 for r in sens)
    assert len(design(*cfgs, "rehearsal")["sensitivity"]["points"]) >= 2
    transfer = [r for r in runs.values() if r["group"] == "transfer"]
    assert all(r["dataset"] == "fashion_mnist" and r["epochs"] < 50 for r in transfer)
    # the same training recipe as full, budgets aside
    a, b = runs["main-sym-0.8-ANL-CE-s0"], full["main-sym-0.8-ANL-CE-s0"]
    budget = {"n_train", "n_test", "n_val", "epochs", "data_dir", "verify_checksums", "scale", "run_id"}
    assert {k: v for k, v in a.items() if k not in budget} == {k: v for k, v in b.items() if k not in budget}
