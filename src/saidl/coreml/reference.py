"""Published CIFAR-10 numbers (8-layer CNN, last-epoch test accuracy, %) with provenance tags.

[R]: recalled from the APL paper (Ma et al. 2020, Tables 2-3), not re-verified against the PDF.
[S]: the JAL paper's re-run of the same protocol (Wang et al., ICCV 2025), via a third-party note.
Source: shared/reference/noisy_labels.md, section 4. Shown beside our numbers at the full scale only.
"""

REFERENCE = {
    ("sym", 0.0): {"CE": (90.4, "R"), "NCE+RCE": (90.8, "R"), "NCE+MAE": (88.8, "R")},
    ("sym", 0.2): {"NCE+RCE": (89.22, "R"), "NCE+MAE": (87.1, "R")},
    ("sym", 0.4): {"CE": (58.05, "S"), "NCE+RCE": (86.02, "R"), "NCE+MAE": (84.2, "R")},
    ("sym", 0.6): {"NCE+RCE": (79.78, "R"), "NCE+MAE": (77.6, "R")},
    ("sym", 0.8): {"CE": (19.74, "S"), "NCE+RCE": (52.71, "R"), "NCE+MAE": (49.6, "R")},
    ("asym", 0.2): {"CE": (83.05, "S"), "NCE+RCE": (88.62, "S")},
    ("asym", 0.4): {"CE": (73.85, "S"), "NCE+RCE": (77.94, "S")},
}
