"""The multimodal smoke report (built once per session by the ``smoke_workflow`` fixture): its
answer sheet, its numbers against summary.json, its data tables."""

import re
import subprocess

from conftest import needs_latex
from saidl.common.io import read_json

pytestmark = needs_latex


def pdf_text(path, first=None, last=None) -> str:
    """The PDF's text with all whitespace removed (pages first..last when given)."""
    pages = [] if first is None else ["-f", str(first), "-l", str(last or first)]
    return re.sub(r"\s+", "", subprocess.run(["pdftotext", *pages, str(path), "-"], capture_output=True,
                                              text=True, check=True).stdout)


def test_multimodal_report_answers_every_item_with_the_runs_numbers(smoke_workflow):
    out = smoke_workflow / "results/smoke/multimodal"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "multimodal.pdf")
    assert "??" not in text and "synthetic" in text
    for heading in ("Exploratoryanalysis(item1)", "TheGNN(item2)", "(d)Whentoembed", "Bonus:jointfine-tuning(item3)"):
        assert heading in text
    for name, cell in summary["cells"].items():
        assert name.replace(" ", "") in text and f"{100 * cell['test_acc']['mean']:.1f}" in text
    e = summary["embed_timing"]
    assert e["same_predictions"] and max(e["feature_max_abs_diff"].values()) < 1e-4
    assert f"{e['epoch_s']['on_the_fly']:.2f}s" in text
    assert summary["eda"]["e2i_round_trip"]["ok"] == summary["eda"]["num_entities"]
    # the generated graph is in kgbench's layout
    graph = out / "graph"
    assert {p.name for p in graph.iterdir()} >= {"triples.int.csv.gz", "nodes.int.csv", "relations.int.csv",
                                                   "nodetypes.int.csv", "training.int.csv", "validation.int.csv",
                                                   "testing.int.csv", "all.int.csv"}
