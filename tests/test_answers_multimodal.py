"""The multimodal smoke report (built once per session by the ``smoke_workflow`` fixture): its
answer sheet against its body and summary.json, its data tables against the summary, and the
when-to-embed comparison by logits."""

import re
import subprocess

from conftest import needs_latex, pdf_text as _pdf_text
from saidl.common.io import read_json

pytestmark = needs_latex
ITEMS = (("1(a)", "Types"), ("1(b)", "Types"), ("1(c)", "Information"), ("1(d)", "How"), ("1(e)", "e2i"),
         ("1(f)", "Using"), ("2(a)", "GNN"), ("2(b)", "Simple"), ("2(c)", "Pretrained"), ("2(c)", "Best"),
         ("2(d)", "When"), ("3", "Bonus"))  # each row's number and the first word of its item


def pdf_text(path, first=None, last=None) -> str:
    return _pdf_text(path, first, last, dehyphen=True)

def signed(x: float, digits: int = 1) -> str:
    """A number as the report prints it (a minus is set in maths: U+2212 in the text)."""
    return f"{x:+.{digits}f}".replace("-", "\u2212")


def parts(out):
    """(answer sheet, body) of the smoke PDF: the text before and after the abstract."""
    text = pdf_text(out / "multimodal.pdf")
    sheet, _, body = text.partition("Abstract")
    assert body, "no abstract after the answer sheet"
    return sheet, body


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
    # the timing arms are compared by their logits (the trained models), not by their argmax
    assert "same_predictions" not in e
    assert e["logits"]["max_abs_diff"] <= 1e-3 * max(1.0, e["logits"]["max_abs"])
    assert max(e["feature_max_abs_diff"].values()) < 1e-4
    assert e["lr"] in e["config"]["lr_grid"] and set(e["lr_search"]) == {f"{lr:g}" for lr in e["config"]["lr_grid"]}
    best = max(e["lr_search"].values(), key=lambda r: (r["val_acc"], r["val_f1"]))
    assert best["lr"] == e["lr"]  # chosen on validation
    assert ("bit-identical" in text) == (e["logits"]["max_abs_diff"] == 0)
    assert f"{e['wall_s']:.0f}s" in text
    assert summary["eda"]["e2i_round_trip"]["ok"] == summary["eda"]["num_entities"]
    # the generated graph is in kgbench's layout
    graph = out / "graph"
    assert {p.name for p in graph.iterdir()} >= {"triples.int.csv.gz", "nodes.int.csv", "relations.int.csv",
                                                   "nodetypes.int.csv", "training.int.csv", "validation.int.csv",
                                                   "testing.int.csv", "all.int.csv"}


def test_answer_sheet_on_page_one_in_the_assignments_order(smoke_workflow):
    out = smoke_workflow / "results/smoke/multimodal"
    layout = subprocess.run(["pdftotext", "-layout", "-f", "1", "-l", "1", str(out / "multimodal.pdf"), "-"],
                            capture_output=True, text=True, check=True).stdout
    assert "Answer sheet" in layout
    rows = re.findall(r"^\s*(\d(?:\([a-f]\))?)\s+([A-Za-z0-9]+)", layout.split("Answer sheet", 1)[1], re.M)
    assert [r for r in rows if r in ITEMS] == list(ITEMS), rows  # every item, in order, all on page 1
    sheet, _ = parts(out)
    # the demo/smoke graph is synthetic: what only dmg777k or CLIP can answer is marked so
    assert "needsthefullscale:dmg777kdata" in sheet and "CLIPneedsthefullscale:CLIPweights" in sheet


def test_answer_sheet_numbers_equal_the_body_and_the_summary(smoke_workflow):
    out = smoke_workflow / "results/smoke/multimodal"
    s = read_json(out / "summary.json")
    sheet, body = parts(out)
    eda, claims = s["eda"], s["claims"]
    # numbers only: pdftotext reads the sheet's columns in an order of its own
    same = [f"{eda['num_entities']:,}", f"{eda['num_triples']:,}", f"{eda['num_relations']}",
            f"{eda['e2i_round_trip']['ok']:,}", f"{100 * s['majority_acc']:.1f}%", f"{s['subgraph']['nodes']:,}",
            f"{claims['embed_once']['seconds']['precomputed']['mean']:.3f}",
            f"{claims['embed_once']['seconds']['on_the_fly']['mean']:.2f}",
            signed(100 * claims["finetune"]["nodes"]["diff"]),
            f"{100 * s['cells'][s['best']]['test_acc']['mean']:.1f}"]
    for x in same:
        assert x in sheet, f"{x} not in the answer sheet"
        assert x in body, f"{x} not in the body"
    # the sheet's words follow the verdicts the statistics module gave
    for cid in ("simple_features", "pretrained_features", "embed_once", "finetune"):
        assert claims[cid]["verdict"].replace(" ", "") in body
    bs = s["best_set"]
    assert ("isbest" in sheet) == (bs["verdict"] == "best")
    assert ("Toofewseedstonameabestset" in sheet) == (bs["verdict"] == "too few seeds")
    assert "Thebestfeaturesethere" not in body or bs["verdict"] == "best"


def test_data_tables_match_the_summary(smoke_workflow):
    out = smoke_workflow / "results/smoke/multimodal"
    s = read_json(out / "summary.json")
    eda = s["eda"]
    text = pdf_text(out / "multimodal.pdf")
    train, val, test = (sum(eda["splits"][k]) for k in ("training", "validation", "testing"))
    # Table 1 (its tabular, and the PDF: pdftotext reads a two-column table column by column)
    table = (out / "tex/tables/table_dataset.tex").read_text()
    assert f"train / validation / test&{train:,} / {val:,} / {test:,}\\\\".replace(",", "{,}") in table
    assert f"{train:,}/{val:,}/{test:,}" in text and f"classes&{eda['num_classes']}\\\\" in table
    assert f"{eda['num_triples']:,}".replace(",", "{,}") in table
    for sub in eda["subgraphs"]:
        assert f"{sub['nodes']:,}nodes,{sub['edges']:,}directededges" in text
    tex = (out / "tex/tables/table_i2e.tex").read_text()
    rows = [line for line in tex.splitlines() if "&" in line][1:]
    assert len(rows) == len(set(rows)) == len(eda["i2e_examples"])  # no row printed twice
    for r in eda["i2e_examples"]:
        assert f"{r['index']}&" in tex
    feats = (out / "tex/tables/table_features.tex").read_text()
    for name, f in s["features"].items():
        assert f"&{f['count']:,}&".replace(",", "{,}") in feats and f"&{f['dim']}&" in feats
    # the fine-tuning subset's counts
    ft = s["finetune"]["subset"]
    assert f"{ft['training']}trainingand{ft['validation']}/{ft['testing']}validation/testnodes" in text
