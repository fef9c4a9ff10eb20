"""End to end at the smoke scale, in a copy of the workflow: real runs, real PDFs, and the
incremental rebuilds a user relies on (template edit, one figure by name, a figure's code)."""

import re
import shutil

import pytest

from conftest import needs_latex, pdf_text, smoke_snakemake as snakemake
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
