"""End to end at the smoke scale, in a copy of the workflow: real runs, real PDFs, and the
incremental rebuilds a user relies on (template edit, one figure by name, a figure's code)."""

import re
import shutil
import subprocess

import pytest

from conftest import needs_latex, smoke_snakemake as snakemake
from saidl.common.io import read_json

pytestmark = needs_latex


def planned_jobs(cwd, *targets) -> dict[str, int]:
    """Rule -> job count of a dry run."""
    out = snakemake(cwd, *targets, "-n", "--cores", "1").stdout
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", out, re.M)
            if m.group(1) != "total"}


@pytest.fixture(scope="module")
def workflow(smoke_workflow, tmp_path_factory):
    """A private copy of the built smoke workflow, for the tests that edit templates and code."""
    root = tmp_path_factory.mktemp("wf") / "repo"
    shutil.copytree(smoke_workflow, root, symlinks=True)
    return root


def pdf_text(path) -> str:
    return re.sub(r"\s+", "", subprocess.run(["pdftotext", str(path), "-"], capture_output=True,
                                              text=True, check=True).stdout)


def test_report_builds_task_and_combined_pdfs_with_the_runs_numbers(workflow):
    out = workflow / "results/smoke"
    assert (out / "coreml/coreml.pdf").stat().st_size > 10_000
    assert (out / "report.pdf").stat().st_size > (out / "coreml/coreml.pdf").stat().st_size * 0.5
    summary = read_json(out / "coreml/summary.json")
    text = pdf_text(out / "coreml/coreml.pdf")
    ce = summary["cells"]["sym"]["0.8"]["CE"]["final"]["mean"]
    apl = summary["cells"]["sym"]["0.8"]["NCE+RCE"]["final"]["mean"]
    assert f"{100 * ce:.1f}%" in text and f"{100 * apl:.1f}%" in text
    assert f"{100 * summary['noise']['sym']['0.8']['realised_rate']['mean']:.1f}%" in text
    assert "??" not in text
    assert "Provenance" in text and summary["provenance"]["config_hash"] in text


def test_ssm_report_shows_every_model_and_the_discretisation_study(workflow):
    out = workflow / "results/smoke/ssm"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "ssm.pdf")
    for name, model in summary["per_model"].items():
        assert name in text and f"{100 * model['final']['mean']:.1f}" in text
    assert {r["method"] for r in summary["discretisation"]["rows"]} == {"euler", "bilinear", "zoh"}
    assert "??" not in text and "Bonus:S4DinNumPyonly" in text


def test_rl_report_shows_every_variant_and_the_attacks(workflow):
    out = workflow / "results/smoke/rl"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "rl.pdf")
    for name, v in summary["per_variant"].items():
        assert name in text and f"{v['final']['mean']:.0f}" in text
    assert "??" not in text and "Adversarialrobustness" in text and "Bonus:SALErepresentations" in text


def test_diffusion_report_shows_every_dit_its_fid_and_the_generated_images(workflow):
    out = workflow / "results/smoke/diffusion"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "diffusion.pdf")
    for name, run in summary["runs"].items():
        assert name in text and f"{run['fid']:.1f}" in text
        assert f"{run['scores']['inception']['cmmd']:.3f}" in text
        assert (out / "images" / f"{name}.png").stat().st_size > 100
    assert {r["backend"] for r in summary["backends"]["rows"] if r["ran"]} == {"matmul", "sdpa", "sliding"}
    assert "??" not in text and "Item4(bonus):conditioningmethods" in text
    # the images are embedded in the PDF, one per sample grid at least
    images = subprocess.run(["pdfimages", "-list", str(out / "diffusion.pdf")], capture_output=True, text=True)
    assert images.returncode != 0 or len(images.stdout.splitlines()) - 2 >= len(summary["runs"]) + 2


def test_paper_report_gives_a_verdict_on_every_claim_with_its_numbers(workflow):
    out = workflow / "results/smoke/paper"
    summary = read_json(out / "summary.json")
    text = pdf_text(out / "paper.pdf")
    assert "??" not in text and "Verdicts" in text
    assert len(summary["claims"]) >= 5
    for claim in summary["claims"]:
        assert claim["verdict"] in ("supported", "partly supported", "not supported")
    anl = summary["cells"]["main"]["sym"]["0.8"]["ANL-CE"]["final"]["mean"]
    assert f"ANL-CE{100 * anl:.1f}%" in text


def test_multimodal_report_answers_every_item_with_the_runs_numbers(workflow):
    out = workflow / "results/smoke/multimodal"
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


def test_template_edit_rerenders_only_the_tex_and_pdfs(workflow):
    tpl = workflow / "templates/coreml/report.tex"
    tpl.write_text(tpl.read_text().replace("\\section{The question}", "\\section{The question asked}"))
    assert planned_jobs(workflow, "report") == {"coreml_tex": 1, "coreml_pdf": 1, "combined_pdf": 1, "report": 1}
    snakemake(workflow, "report", "--cores", "2")
    assert "Thequestionasked" in pdf_text(workflow / "results/smoke/coreml/coreml.pdf")


def test_one_figure_is_regenerated_by_its_file_name(workflow):
    fig = workflow / "results/smoke/coreml/figures/memorisation.pdf"
    fig.unlink()
    assert planned_jobs(workflow, str(fig.relative_to(workflow))) == {"coreml_figure": 1}
    snakemake(workflow, str(fig.relative_to(workflow)), "--cores", "1")
    assert fig.exists()


def test_editing_a_figures_code_reruns_that_figure_only(workflow):
    code = workflow / "src/saidl/coreml/figures/acc_vs_noise_sym.py"
    code.write_text(code.read_text() + "\n# edited\n")
    jobs = planned_jobs(workflow, "report")
    assert jobs.get("coreml_figure") == 1 and "coreml_train" not in jobs and "coreml_collect" not in jobs


def test_latex_error_names_the_generated_line_and_its_template(workflow):
    tpl = workflow / "templates/coreml/report.tex"
    tpl.write_text(tpl.read_text().replace("\\section{Limitations}", "\\section{Limitations}\\undefinedmacro"))
    proc = snakemake(workflow, "results/smoke/coreml/coreml.pdf", "--cores", "1", check=False)
    assert proc.returncode != 0
    log = (workflow / "logs/smoke/coreml/pdf.log").read_text()
    assert "Undefined control sequence" in log and "templates/coreml/report.tex" in log
    assert not (workflow / "results/smoke/coreml/coreml.pdf").exists()
