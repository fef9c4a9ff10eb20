"""Generated LaTeX tables of the Core ML report (each its own Snakemake job).

Usage: ``python -m saidl.coreml.tables <name> --summary summary.json --out <name>.tex``
"""

from __future__ import annotations

import sys

from saidl.report.latex import Tex, escape_tex
from saidl.report.tables import mean_std_table, simple_table, tables_main


def accuracy_table(summary: dict, noise: str) -> str:
    """Loss x eta: last-epoch test accuracy, mean ± std over seeds (the mean alone with one seed);
    bold: the best set of the column by the statistics rule (paired by seed)."""
    etas = summary["etas"][noise]
    cols = [f"{e:g}" for e in etas]
    cells = {(loss, c): summary["cells"][noise][c][loss]["final"]["values"]
             for c in cols for loss in summary["losses"] if loss in summary["cells"][noise][c]}
    header = Tex(("symmetric" if noise == "sym" else "asymmetric") + r" noise rate $\eta$")
    return mean_std_table(summary["losses"], cols, cells, row_header="loss", col_group_header=header,
                          paired=True)


def table_sym(summary: dict) -> str:
    return accuracy_table(summary, "sym")


def table_asym(summary: dict) -> str:
    return accuracy_table(summary, "asym")


def table_noise(summary: dict) -> str:
    """The realised label noise of every noise rate: the share of wrong training labels and their
    count (exact per-class counts, so the same for every seed)."""
    rows = []
    for noise in ("sym", "asym"):
        for eta in summary["etas"][noise]:
            cell = summary["noise"][noise][f"{eta:g}"]
            rows.append(["symmetric" if noise == "sym" else "asymmetric", f"{eta:g}",
                         Tex(f"{100 * cell['realised_rate']['mean']:.1f}\\,\\%"),
                         f"{cell['n_noisy']} / {cell['n_train']}"])
    return simple_table(["noise", Tex(r"$\eta$"), "realised rate", "wrong labels / training images"], rows)


def table_gradients(summary: dict) -> str:
    """Gradient norms (w.r.t. the logits) of the active and the passive term of the APL pairs
    that share their passive loss, at a few probe predictions, and how far apart the two pairs'
    gradients are (from ``findings.active_swap.gradients``)."""
    rows = []
    for g in summary.get("findings", {}).get("active_swap", {}).get("gradients", []):
        rows.append([g["passive"], Tex(escape_tex(g["probe"]).replace("p\\_y", "$p_y$")), f"{g['nce']:.4f}", f"{g['nfl']:.4f}", f"{g['passive_norm']:.4f}",
                     f"{100 * g['rel_diff']:.1f}"])
    return simple_table(["passive", "prediction", Tex(r"$\|\nabla \alpha\,$NCE$\|$"), Tex(r"$\|\nabla \alpha\,$NFL$\|$"),
                         Tex(r"$\|\nabla \beta\,$passive$\|$"), Tex(r"pair gap (\%)")], rows)


def table_loss_params(summary: dict) -> str:
    """alpha, beta, scale and gamma of each loss, as used for symmetric / asymmetric noise."""
    def fmt(p: dict) -> str:
        return ", ".join(f"{k} {v:g}" for k, v in sorted(p.items())) or "defaults"
    rows = [(loss, fmt(summary["loss_params"]["sym"].get(loss, {})),
             fmt(summary["loss_params"]["asym"].get(loss, {}))) for loss in summary["losses"]]
    return simple_table(["loss", "symmetric", "asymmetric"], rows)


def table_memorisation(summary: dict) -> str:
    """Fit of clean and of noisy training labels after the last epoch, at the highest eta of each
    noise type (mean over seeds, %): how much of the noise each loss memorised."""
    cols = [(n, max(summary["etas"][n])) for n in ("sym", "asym") if summary["etas"][n]]
    header = ["loss"]
    for noise, eta in cols:
        name = "sym." if noise == "sym" else "asym."
        header += [Tex(f"{name} $\\eta$={eta:g}: clean fit"), "noisy fit"]
    rows = []
    for loss in summary["losses"]:
        row = [loss]
        for noise, eta in cols:
            cell = summary["cells"][noise][f"{eta:g}"].get(loss)
            for key in ("clean_fit", "noisy_fit"):
                stat = cell.get(key) if cell else None
                row.append("--" if stat is None else f"{100 * stat['mean']:.1f}")
        rows.append(row)
    return simple_table(header, rows)


TABLES = {f.__name__: f for f in (table_sym, table_asym, table_noise, table_loss_params,
                                  table_memorisation, table_gradients)}


def main(argv: list[str] | None = None) -> int:
    return tables_main(TABLES, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
