"""Generated LaTeX tables of the Core ML report (each its own Snakemake job).

Usage: ``python -m saidl.coreml.tables <name> --summary summary.json --out <name>.tex``
"""

from __future__ import annotations

import sys

from saidl.coreml.names import DATASET_NAMES, MODEL_NAMES
from saidl.report.latex import Tex
from saidl.report.tables import mean_std_table, simple_table, tables_main


def accuracy_table(summary: dict, noise: str) -> str:
    """Loss x eta: last-epoch test accuracy, mean ± std over seeds, best per column in bold."""
    etas = summary["etas"][noise]
    cols = [f"{e:g}" for e in etas]
    cells = {(loss, c): summary["cells"][noise][c][loss]["final"]["values"]
             for c in cols for loss in summary["losses"] if loss in summary["cells"][noise][c]}
    header = Tex(("symmetric" if noise == "sym" else "asymmetric") + r" noise rate $\eta$")
    return mean_std_table(summary["losses"], cols, cells, row_header="loss", col_group_header=header)


def table_sym(summary: dict) -> str:
    return accuracy_table(summary, "sym")


def table_asym(summary: dict) -> str:
    return accuracy_table(summary, "asym")


def table_config(summary: dict) -> str:
    """The experiment configuration, as the runs received it."""
    cfg = summary["config"]
    ds = summary["dataset"]
    rows = [
        ("dataset", f"{DATASET_NAMES.get(cfg['dataset'], cfg['dataset'])} ({ds['n_train']} train / {ds['n_val']} validation / {ds['n_test']} test)"),
        ("model", MODEL_NAMES.get(cfg["model"], cfg["model"])),
        ("epochs, batch size", f"{cfg['epochs']}, {cfg['batch_size']}"),
        ("optimiser", f"SGD lr {cfg['lr']:g}, momentum {cfg['momentum']:g}, weight decay {cfg['weight_decay']:g}, cosine to 0"),
        ("gradient clipping", "global norm " + (f"{cfg['grad_clip']:g}" if cfg["grad_clip"] else "off")),
        ("augmentation", "random crop (pad 4) + horizontal flip" if cfg["augment"] else "none"),
        ("seeds", ", ".join(str(s) for s in summary["seeds"])),
        ("symmetric eta", ", ".join(f"{e:g}" for e in summary["etas"]["sym"]) or "none"),
        ("asymmetric eta", ", ".join(f"{e:g}" for e in summary["etas"]["asym"]) or "none"),
        ("reported accuracy", "test accuracy after the last epoch"),
    ]
    return simple_table(["setting", "value"], rows)


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


TABLES = {f.__name__: f for f in (table_sym, table_asym, table_config, table_loss_params,
                                  table_memorisation)}


def main(argv: list[str] | None = None) -> int:
    return tables_main(TABLES, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
