"""The rl smoke report (built once per session by the ``smoke_workflow`` fixture): its
answer sheet, its numbers against the body and summary.json, its data tables."""

import re

import pytest

from conftest import needs_latex, pdf_text as _pdf_text
from saidl.common.io import read_json
from saidl.report.jinja import ci_filter, diff_filter

pytestmark = needs_latex


def pdf_text(path, first=None, last=None) -> str:
    return _pdf_text(path, first, last, mode="raw", dehyphen=True)

def plain(tex) -> str:
    """A number string of the report's filters as pdftotext prints it (no spaces, maths minus)."""
    return re.sub(r"\s+", "", str(tex).replace("$-$", "\u2212").replace("$", ""))


def ret_ci(stat, n: bool = True) -> str:
    return plain(ci_filter(stat, 0, 1, n=n))


def ret_diff(cmp) -> str:
    return plain(diff_filter(cmp, 0, 1))


@pytest.fixture(scope="module")
def rl(smoke_workflow):
    out = smoke_workflow / "results/smoke/rl"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "rl.pdf")
    first = pdf_text(out / "rl.pdf", 1, 2)
    start, end = first.index("Answersheet"), first.index("Answersmarked")
    sheet = first[start:end]
    body = text[text.index("Answersmarked"):]
    return summary, text, sheet, body


def test_rl_report_shows_every_variant_and_the_attacks(rl):
    summary, text, _, _ = rl
    for name, v in summary["per_variant"].items():
        assert name in text and f"{v['final']['mean']:.0f}" in text
    assert "??" not in text and "Adversarialrobustness" in text and "Bonus:SALErepresentations" in text
    assert "References" in text and text.index("References") < text.index("Code")


def test_answer_sheet_is_on_page_one_with_every_item_in_order(rl):
    summary, _, sheet, _ = rl
    items = ["TD3onHopper-v4", "Polyakaveraging,twincritics,PER,n-stepreturns", "Notargetpolicysmoothing",
             "IndependentGaussiannoisynetsintheactor", "Performancegainedbynoisynets",
             "Howtotestadversarialrobustness", "WouldCNNorattentionencoderschangeit?",
             "Bonus(a):representationchoicejustified", "Bonus(b):effectivenessshown"]
    at = [sheet.find(i) for i in items]
    assert all(a >= 0 for a in at), [i for i, a in zip(items, at) if a < 0]
    assert at == sorted(at)
    if summary["config"]["total_steps"] < 1_000_000:  # the demo/smoke budget cannot answer 2a, 2b, B(b)
        assert sheet.count("needsthefullscale") >= 3
    assert "argued,notmeasured" in sheet


def test_answer_sheet_numbers_equal_the_body_and_the_summary(rl):
    summary, _, sheet, body = rl
    per, claims = summary["per_variant"], summary["claims"]
    # final returns: the sheet prints mean [interval], n; the returns table the same without n
    for v in ("td3", "noisy-gaussian"):
        assert ret_ci(per[v]["final"]) in sheet, v
        assert ret_ci(per[v]["final"], n=False) in body, v
    # the comparisons behind 2(a) and B(b): the same difference string in the sheet and the claim
    for key in ("noisy_gain", "sale_gain"):
        s = ret_diff(claims[key]["final"])
        assert s in sheet and s in body, (key, s)
    # the verdicts printed in the claim frames are those of summary.json
    for key in ("noisy_gain", "sale_gain", "critic_attack"):
        assert claims[key]["verdict"].replace(" ", "") in body


def test_data_tables_match_the_summary(rl):
    summary, _, _, body = rl
    per, cfg = summary["per_variant"], summary["config"]
    for v in summary["variants"]:  # returns table: variant, final, mean over evals, best
        row = v + "".join(ret_ci(per[v][k], n=False) for k in ("final", "auc", "best"))
        assert row in body, row
    for c in summary["claims"]["critic_attack"]["cells"]:  # attack table: one row per (variant, radius)
        row = c["variant"] + f"{c['eps']}" + "".join(f"{c[k]['mean']:.0f}".replace("-", "\u2212")
                                                       for k in ("clean", "random", "critic"))
        assert row + "".join(ret_diff(c[k]) for k in ("drop_random", "drop_critic", "critic_vs_random")) in body, row
    # hyperparameter table: generated from the run configs
    assert f"environmentstepsperrun{cfg['total_steps']}" in body
    assert f"$nof$n-stepreturns{cfg['n_step']}".replace("$", "") in body
    assert f"seedspervariant{','.join(str(s) for s in summary['seeds'])}sharedbyallvariants" in body
