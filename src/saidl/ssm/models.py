"""S4 and S4D models: the SSM kernel, the layer (convolution and recurrent mode), the block and
the sequence classifier of the official minimal example (state-spaces/s4 ``example.py``).

Shapes: B batch, L length, H = d_model channels, N = d_state, n = N/2 stored modes.
The layer works on (B, H, L) (the FFT runs along the last axis); blocks and the classifier take
(B, L, H) / (B, L, d_input) like the data.

Complex parameters are stored as real pairs (``torch.view_as_real``, trailing dim 2), so that
``model.double()`` and the optimiser see real tensors. SSM parameters (log_dt, A, P, B) carry
``p._optim = {"lr": ssm_lr, "weight_decay": 0.0}`` (the official per-parameter convention);
``SSMClassifier.param_groups`` turns that into AdamW groups.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from saidl.ssm.kernels import (c_tilde, cauchy_kernel, discretize, dplr_legs, dplr_real,
                               dplr_zoh_kernel, s4d_init, vandermonde_kernel)

KINDS = ("s4", "s4d")
INITS = ("legs", "lin", "inv")
DISCS = ("bilinear", "zoh")


def _pair(z: torch.Tensor) -> nn.Parameter:
    """A complex tensor (...) as a real parameter (..., 2) in the default float dtype."""
    return nn.Parameter(torch.view_as_real(z.to(torch.complex128)).to(torch.get_default_dtype()).clone())


def _complex(p: nn.Parameter) -> torch.Tensor:
    return torch.view_as_complex(p)


class SSMKernel(nn.Module):
    """Per-channel SSM parameters and their convolution kernel K (H, L).

    * ``s4``  (DPLR): A = diag(Lambda) - P P^* over conjugate pairs (see ``kernels``), with B, C.
      ``bilinear`` -> Cauchy kernel, ``zoh`` -> dense matrix exponential in real coordinates.
    * ``s4d`` (diagonal): A = Lambda; ``zoh`` / ``bilinear`` -> Vandermonde kernel.

    Lambda = -exp(log_A_real) + i A_imag keeps Re(Lambda) < 0. B is 1 (folded into C, as in the
    minimal ``s4d.py``) for S4D-Lin/Inv and a learned parameter for S4D-LegS and for S4.

    C is learned as C itself (not C-tilde as in the official code): the bilinear S4 kernel
    computes C-tilde = C (I - Abar^L) every call (``kernels.c_tilde``, a few dense matmuls), so
    the kernel is right for every L and the recurrent mode uses the same C.
    """

    def __init__(self, d_model: int, d_state: int = 64, kind: str = "s4", init: str | None = None,
                 disc: str | None = None, dt_min: float = 1e-3, dt_max: float = 1e-1,
                 ssm_lr: float = 1e-3, B_clip: float = 2.0):
        super().__init__()
        init = init or ("legs" if kind == "s4" else "lin")
        disc = disc or ("bilinear" if kind == "s4" else "zoh")
        if kind not in KINDS or init not in INITS or disc not in DISCS:
            raise ValueError(f"unsupported SSM kind={kind!r} init={init!r} disc={disc!r}; "
                             f"expected kind in {KINDS}, init in {INITS}, disc in {DISCS}")
        if d_state % 2:
            raise ValueError(f"d_state must be even (conjugate pairs), got {d_state}")
        self.H, self.N, self.kind, self.init, self.disc = d_model, d_state, kind, init, disc
        H, n = d_model, d_state // 2

        # dt ~ log-uniform in [dt_min, dt_max]
        log_dt = torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        Lambda = s4d_init(d_state, init).expand(H, n)                    # (H, n) complex128
        if init == "legs":
            _, P, B, _ = dplr_legs(d_state)
            B = torch.complex(B.real, B.imag.clamp(-B_clip, B_clip))     # B_clip = 2 (official)
        else:
            P = torch.randn(n, dtype=torch.complex128)                   # official: random P
            B = torch.ones(n, dtype=torch.complex128)
        C = torch.randn(H, n, dtype=torch.complex64)                     # Re, Im ~ N(0, 1/2)

        self.log_dt = nn.Parameter(log_dt.to(torch.get_default_dtype()))
        self.log_A_real = nn.Parameter(torch.log(-Lambda.real).to(torch.get_default_dtype()))
        self.A_imag = nn.Parameter(Lambda.imag.to(torch.get_default_dtype()).clone())
        self.P = _pair(P.expand(H, n)) if kind == "s4" else None
        self.B = _pair(B.expand(H, n)) if (kind == "s4" or init == "legs") else None
        self.C = _pair(C)                                                # ordinary parameter
        for p in (self.log_dt, self.log_A_real, self.A_imag, self.P, self.B):
            if p is not None:
                p._optim = {"lr": ssm_lr, "weight_decay": 0.0}

    # -- continuous parameters ------------------------------------------------------------
    def _Lambda(self) -> torch.Tensor:
        """Lambda = -exp(log_A_real) + i A_imag   (H, n)."""
        return torch.complex(-torch.exp(self.log_A_real), self.A_imag)

    def _B(self, Lambda: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(Lambda) if self.B is None else _complex(self.B)

    # -- convolution mode -----------------------------------------------------------------
    def forward(self, L: int) -> torch.Tensor:
        """The kernel K (H, L), real."""
        Lambda = self._Lambda()
        B, C = self._B(Lambda), _complex(self.C)
        if self.kind == "s4d":
            return vandermonde_kernel(Lambda, B, C, self.log_dt, L, self.disc)
        P = _complex(self.P)
        if self.disc == "bilinear":
            Ct = c_tilde(Lambda, P, B, C, self.log_dt, L)                # C (I - Abar^L)
            return cauchy_kernel(Lambda, P, B, Ct, self.log_dt, L)
        return dplr_zoh_kernel(Lambda, P, B, C, self.log_dt, L)

    # -- recurrent mode -------------------------------------------------------------------
    def discrete_system(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(Abar, Bbar, C) of x_k = Abar x_{k-1} + Bbar u_k, y_k = Re(C x_k).

        S4D: diagonal, Abar, Bbar, C (H, n) complex, C carrying the factor 2 of 2 Re (conjugate
        pairs). S4: dense real coordinates (``kernels.dplr_real``), Abar (H, N, N), Bbar, C (H, N).
        """
        Lambda = self._Lambda()
        B, C = self._B(Lambda), _complex(self.C)
        dt = torch.exp(self.log_dt)
        if self.kind == "s4d":
            Abar, Bbar = discretize(Lambda, B, dt, self.disc, diagonal=True)
            return Abar, Bbar, 2 * C
        A_r, B_r, C_r = dplr_real(Lambda, _complex(self.P), B, C)
        Abar, Bbar = discretize(A_r, B_r, dt, self.disc)
        return Abar, Bbar, C_r


class S4Layer(nn.Module):
    """y = K * u + D u: the SSM as a causal convolution (B, H, L) -> (B, H, L)."""

    def __init__(self, d_model: int, d_state: int = 64, **ssm_kwargs):
        super().__init__()
        self.kernel = SSMKernel(d_model, d_state, **ssm_kwargs)
        self.D = nn.Parameter(torch.randn(d_model))
        self.frozen: tuple[int, torch.Tensor] | None = None  # (L, rfft of K): SSMClassifier.frozen_kernels

    def kernel_fft(self, L: int) -> torch.Tensor:
        """rfft of the kernel zero-padded to 2L (H, L+1), complex."""
        if self.frozen is not None and self.frozen[0] == L:
            return self.frozen[1]
        return torch.fft.rfft(self.kernel(L), n=2 * L)                   # K (H, L)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        L = u.shape[-1]
        # y_l = sum_{j<=l} K_j u_{l-j}: zero-pad to 2L so the FFT's circular convolution is linear
        y = torch.fft.irfft(torch.fft.rfft(u, n=2 * L) * self.kernel_fft(L), n=2 * L)[..., :L]
        return y + self.D[:, None] * u

    def forward_recurrent(self, u: torch.Tensor) -> torch.Tensor:
        """The same y step by step: x_k = Abar x_{k-1} + Bbar u_k, y_k = Re(C x_k) + D u_k."""
        Abar, Bbar, C = self.kernel.discrete_system()
        diagonal = Abar.dim() == Bbar.dim()
        x = torch.zeros(u.shape[0], *Bbar.shape, dtype=torch.promote_types(Abar.dtype, Bbar.dtype),
                        device=u.device)                                 # (B, H, N or n)
        ys = []
        for k in range(u.shape[-1]):
            uk = u[..., k]                                               # (B, H)
            Ax = Abar * x if diagonal else (Abar @ x.unsqueeze(-1)).squeeze(-1)
            x = Ax + Bbar * uk.unsqueeze(-1)
            ys.append((C * x).sum(-1).real + self.D * uk)
        return torch.stack(ys, dim=-1)


class S4Block(nn.Module):
    """S4Layer -> GELU -> Dropout1d -> Linear(H, 2H) + GLU -> Dropout1d -> residual -> LayerNorm.

    Input and output (B, L, H). Dropout1d zeroes whole channels, i.e. one mask per (sample,
    channel) tied over the length; the second dropout is the one ``example.py`` applies to the
    layer output before the residual. Post-norm, as in ``example.py``.
    """

    def __init__(self, d_model: int, d_state: int = 64, dropout: float = 0.1, **ssm_kwargs):
        super().__init__()
        self.layer = S4Layer(d_model, d_state, **ssm_kwargs)
        self.drop_in = nn.Dropout1d(dropout)
        self.out = nn.Linear(d_model, 2 * d_model)
        self.drop_out = nn.Dropout1d(dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, recurrent: bool = False) -> torch.Tensor:
        u = x.transpose(1, 2)                                            # (B, H, L)
        y = self.layer.forward_recurrent(u) if recurrent else self.layer(u)
        y = self.drop_in(F.gelu(y))                                      # (B, H, L)
        z = F.glu(self.out(y.transpose(1, 2)), dim=-1)                   # (B, L, 2H) -> (B, L, H)
        z = self.drop_out(z.transpose(1, 2)).transpose(1, 2)
        return self.norm(x + z)                                          # (B, L, H)


class SSMClassifier(nn.Module):
    """Encoder Linear(d_input, H) -> n_layers S4 blocks -> mean over L -> Linear(H, n_classes)."""

    def __init__(self, d_input: int, n_classes: int, d_model: int = 64, n_layers: int = 4,
                 d_state: int = 64, dropout: float = 0.1, kind: str = "s4", init: str | None = None,
                 disc: str | None = None, ssm_lr: float = 1e-3, dt_min: float = 1e-3,
                 dt_max: float = 1e-1):
        super().__init__()
        self.encoder = nn.Linear(d_input, d_model)
        self.blocks = nn.ModuleList(
            S4Block(d_model, d_state, dropout, kind=kind, init=init, disc=disc, ssm_lr=ssm_lr,
                    dt_min=dt_min, dt_max=dt_max) for _ in range(n_layers))
        self.decoder = nn.Linear(d_model, n_classes)

    def forward(self, x: torch.Tensor, recurrent: bool = False) -> torch.Tensor:
        """x (B, L, d_input) -> logits (B, n_classes)."""
        z = self.encoder(x)                                              # (B, L, H)
        for block in self.blocks:
            z = block(z, recurrent=recurrent)
        return self.decoder(z.mean(dim=1))

    def forward_recurrent(self, x: torch.Tensor) -> torch.Tensor:
        """The same logits through the recurrences (call in eval mode: dropout masks differ)."""
        return self.forward(x, recurrent=True)

    def kernels(self, L: int) -> list[torch.Tensor]:
        """Each layer's kernel K (H, L)."""
        return [block.layer.kernel(L) for block in self.blocks]

    @contextlib.contextmanager
    def frozen_kernels(self, L: int):
        """Within the block, each layer's kernel (and its FFT) for length L is computed once
        instead of on every forward call: for evaluating many batches with the parameters fixed.
        The same numbers as computing it per call; nothing flows back to the parameters."""
        layers = [block.layer for block in self.blocks]
        try:
            with torch.no_grad():
                for layer in layers:
                    layer.frozen = (L, torch.fft.rfft(layer.kernel(L), n=2 * L))
            yield self
        finally:
            for layer in layers:
                layer.frozen = None

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """AdamW groups: ordinary parameters at (lr, weight_decay); parameters carrying
        ``_optim`` (the SSM's log_dt, A, P, B) in one group per distinct ``_optim``."""
        groups = [{"params": [p for p in self.parameters() if not hasattr(p, "_optim")],
                   "lr": lr, "weight_decay": weight_decay}]
        special: dict[tuple, list] = {}
        for p in self.parameters():
            if hasattr(p, "_optim"):
                special.setdefault(tuple(sorted(p._optim.items())), []).append(p)
        groups += [{"params": ps, **dict(hp)} for hp, ps in special.items()]
        return groups
