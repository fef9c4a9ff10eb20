"""Published CIFAR-10 numbers (8-layer CNN, last-epoch test accuracy, %) with provenance tags,
shown beside ours at the full scale.

The CE and APL rows are the Core ML task's (``saidl.coreml.reference``: [R] recalled from the APL
paper, [S] the JAL paper's re-run). The ANL rows are [S]: the JAL paper's re-run of the same
protocol (Wang et al., ICCV 2025, arXiv 2507.17692), via a third-party note; the ANL paper's own
tables are not in our reference (shared/reference/noisy_labels.md, section 4b).
"""

from saidl.coreml.reference import REFERENCE as APL_REFERENCE

ANL_REFERENCE = {
    ("sym", 0.4): {"ANL-CE": (87.16, "S"), "ANL-FL": (86.94, "S")},
    ("sym", 0.8): {"ANL-CE": (62.28, "S"), "ANL-FL": (61.89, "S")},
    ("asym", 0.2): {"ANL-CE": (89.09, "S"), "ANL-FL": (89.29, "S")},
    ("asym", 0.4): {"ANL-CE": (77.99, "S"), "ANL-FL": (77.89, "S")},
}

REFERENCE = {key: {**APL_REFERENCE.get(key, {}), **ANL_REFERENCE.get(key, {})}
             for key in sorted(set(APL_REFERENCE) | set(ANL_REFERENCE), key=lambda k: (k[0] != "sym", k[1]))}
