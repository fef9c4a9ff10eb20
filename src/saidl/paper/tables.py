"""Generated LaTeX tables of the paper-task report (each its own Snakemake job).

Usage: ``python -m saidl.paper.tables <name> --summary summary.json --out <name>.tex``
"""

from __future__ import annotations

import sys

from saidl.report.jinja import ci_filter
from saidl.report.latex import Tex
from saidl.report.tables import mean_std_table, simple_table, tables_main


def _settings(summary: dict, group: str) -> list[tuple[str, str]]:
    cells = summary["cells"].get(group, {})
    return [(n, e) for n in ("sym", "asym") for e in sorted(cells.get(n, {}), key=float)]


def _col(noise: str, eta: str) -> Tex:
    return Tex(f"{'sym.' if noise == 'sym' else 'asym.'} {float(eta):g}")


def comparison_table(summary: dict, group: str) -> str:
    """Variant x setting: last-epoch test accuracy, mean ± std over seeds; bold: the best set of each
    column by ``saidl.common.stats.best``, paired (every variant of a group runs the same seeds)."""
    settings = _settings(summary, group)
    if not settings:
        return "% no runs in this group at this scale\n"
    cols = [_col(n, e) for n, e in settings]
    names = [v for v in summary["variant_order"] if any(v in summary["cells"][group][n][e] for n, e in settings)]
    cells = {}
    for (n, e), col in zip(settings, cols):
        for v, c in summary["cells"][group][n][e].items():
            cells[(v, col)] = c["final"]["values"]
    return mean_std_table(names, cols, cells, row_header="variant",
                          col_group_header=Tex(r"noise type and rate $\eta$"), paired=True)


def table_main(summary: dict) -> str:
    return comparison_table(summary, "main")


def table_transfer(summary: dict) -> str:
    return comparison_table(summary, "transfer")


def table_ablation(summary: dict) -> str:
    """ANL-CE and its ablations at one noise setting: what changed, test accuracy, fits."""
    ab = summary["design"]["ablation"]
    noise, eta = ab["noise"], f"{ab['eta']:g}"
    main = summary["cells"]["main"][noise][eta]
    changed = {"ANL-CE": "none (the paper's)", "NCE+MAE (ANL setting)": "MAE in place of NNCE",
               "ANL-CE, weight decay": "weight decay 1e-4, no L1",
               "ANL-CE, no penalty": "no L1, no weight decay"}
    data = [("ANL-CE", main["ANL-CE"])] if "ANL-CE" in main else []
    data += list(summary["cells"].get("ablation", {}).get(noise, {}).get(eta, {}).items())

    rows = [(name, changed.get(name, "see config"), ci_filter(c["final"], n=False), f"{100 * c['clean_fit']['mean']:.1f}",
             f"{100 * c['noisy_fit']['mean']:.1f}", str(c["final"]["n"])) for name, c in data]
    return simple_table(["variant", "what changed", Tex(r"test (\%)"), "clean fit", "noisy fit", "n"], rows)


def table_memorisation(summary: dict) -> str:
    """Fit of clean and of noisy training labels after the last epoch (mean over seeds, %)."""
    settings = _settings(summary, "main")
    header = ["variant"]
    for n, e in settings:
        header += [Tex(f"{'sym.' if n == 'sym' else 'asym.'} {float(e):g}: clean"), "noisy"]
    rows = []
    for v in summary["variant_order"]:
        if not any(v in summary["cells"]["main"][n][e] for n, e in settings):
            continue
        row = [v]
        for n, e in settings:
            c = summary["cells"]["main"][n][e].get(v)
            for key in ("clean_fit", "noisy_fit"):
                stat = c.get(key) if c else None
                row.append("--" if stat is None else f"{100 * stat['mean']:.1f}")
        rows.append(row)
    return simple_table(header, rows)


def table_variants(summary: dict) -> str:
    """Loss, weights and regularisation of every variant, as trained."""
    rows = []
    for name in summary["variant_order"]:
        v = summary["variants"][name]
        p = v["params"]

        def g(key, p=p):
            return f"{p[key]:g}" if key in p else "--"
        rows.append((name, v["loss"], g("alpha"), g("beta"), g("delta"), g("lamb"), g("gamma"), f"{v['weight_decay']:g}"))
    return simple_table(["variant", "loss", Tex(r"$\alpha$"), Tex(r"$\beta$"), Tex(r"$\delta$ (L1)"),
                         Tex(r"$\lambda$ (ER)"), Tex(r"$\gamma$"), "weight decay"], rows)


TABLES = {f.__name__: f for f in (table_main, table_transfer, table_ablation, table_memorisation,
                                  table_variants)}


def main(argv: list[str] | None = None) -> int:
    return tables_main(TABLES, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
