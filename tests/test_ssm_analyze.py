"""SSM verdicts: every claim, comparison and the best set come from saidl.common.stats, paired by seed."""

from saidl.common import stats
from saidl.ssm.analyze import comparisons, disc_facts, timing_facts


def model(kind, init, disc, values, backend="torch"):
    return {"kind": kind, "init": init, "disc": disc, "backend": backend, "final": stats.interval(values)}


def grid(**values):
    spec = {"s4-bilinear": ("s4", "legs", "bilinear"), "s4-zoh": ("s4", "legs", "zoh"),
            "s4d-lin-bilinear": ("s4d", "lin", "bilinear"), "s4d-lin-zoh": ("s4d", "lin", "zoh"),
            "s4d-inv-zoh": ("s4d", "inv", "zoh"), "numpy-s4d": ("s4d", "lin", "zoh")}
    per = {name: model(*spec[name.replace("_", "-")], v, backend="numpy" if name.startswith("numpy") else "torch")
           for name, v in ((k.replace("_", "-"), v) for k, v in values.items())}
    return per, list(per)


def test_a_tie_is_not_called_best_and_the_claims_follow_the_paired_rule():
    # s4-zoh has the best mean but is within noise of s4-bilinear: tied, not "best"
    per, models = grid(s4_bilinear=[0.70, 0.60, 0.65], s4_zoh=[0.71, 0.62, 0.64],
                       s4d_lin_bilinear=[0.50, 0.41, 0.46], s4d_lin_zoh=[0.55, 0.46, 0.51],
                       s4d_inv_zoh=[0.40, 0.31, 0.36], numpy_s4d=[0.45, 0.47, 0.46])
    out = comparisons(per, models)
    assert out["best"]["top"] == "s4-zoh" and out["best"]["verdict"] == "tied"
    assert set(out["best"]["set"]) == {"s4-zoh", "s4-bilinear"} and out["best"]["n"] == 3
    disc = out["claims"]["zoh_vs_bilinear"]
    assert disc["id"] == "zoh_vs_bilinear"
    assert disc["comparisons"]["s4"]["verdict"] == "no difference shown"
    assert disc["comparisons"]["s4d-lin"]["verdict"] == "better"  # +5 points on every seed
    assert disc["verdict"] == "partly supported" and disc["comparisons"]["s4"]["test"] == "paired t"
    assert out["claims"]["s4_vs_s4d"]["verdict"] == "supported"
    assert out["comparisons"]["lin_vs_inv"]["verdict"] == "better"
    assert out["comparisons"]["numpy_vs_torch"]["b"] == "s4d-lin-zoh"


def test_one_seed_gives_no_verdict_and_a_grid_without_pairs_no_claim():
    per, models = grid(s4_bilinear=[0.7], s4d_lin_zoh=[0.6], numpy_s4d=[0.5])
    out = comparisons(per, models)
    assert out["claims"] == {}  # no model is trained with both discretisations
    assert out["best"]["verdict"] == "too few seeds"
    assert out["comparisons"]["numpy_vs_torch"]["verdict"] == "too few seeds"


def test_discretisation_and_timing_facts():
    rows = []
    for dt in (0.001, 0.01, 0.1, 1.0):
        rows += [{"init": "lin", "dt": dt, "method": "euler", "rel_error": 0.1 if dt < 0.01 else None,
                  "spectral_radius": 0.99 if dt < 0.01 else 1.5},
                 {"init": "lin", "dt": dt, "method": "bilinear", "rel_error": 5 * dt, "spectral_radius": 0.99},
                 {"init": "lin", "dt": dt, "method": "zoh", "rel_error": 4 * dt, "spectral_radius": 0.9}]
    f = disc_facts({"state": 16, "horizon": 10.0, "rows": rows})["lin"]
    assert f["unstable"] == {"euler": 0.01, "bilinear": None, "zoh": None}
    assert abs(f["slope"]["zoh"] - 1) < 1e-9 and abs(f["nyquist_dt"] - 1 / 7) < 1e-12
    t = timing_facts({"rows": [{"path": "p", "length": 512, "seconds": 1.0}, {"path": "p", "length": 1024, "seconds": 2.5}]})
    assert t["p"] == {"from": 512, "to": 1024, "length_ratio": 2.0, "time_ratio": 2.5}
