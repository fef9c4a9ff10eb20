"""State-space sequence models (S4, Gu, Goel & Re, ICLR 2022; S4D, Gu et al., NeurIPS 2022).

``kernels`` holds the mathematics as pure torch functions (HiPPO, NPLR/DPLR forms, the
discretisations and the convolution kernels: naive powers, Vandermonde, Cauchy); ``models``
wraps them in modules (the kernel, the layer in convolution and recurrent mode, the classifier).
"""
