"""S4 / S4D mathematics: HiPPO forms, discretisations, kernels that must agree, conv = recurrence."""

from __future__ import annotations

import math

import pytest
import torch

from saidl.ssm import kernels as K
from saidl.ssm.models import S4Layer, SSMClassifier

F64, C128 = torch.float64, torch.complex128


def _close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-8) -> None:
    """|a - b| <= rtol * max|b| (a relative error on the kernel's scale)."""
    assert a.shape == b.shape
    err, scale = (a - b).abs().max().item(), b.abs().max().item()
    assert err <= rtol * scale, f"max error {err:.3g} vs scale {scale:.3g}"


def _random_dplr(H: int = 3, n: int = 6, seed: int = 0):
    """A random stable S4 system: Lambda (Re < 0), P, B, C (H, n) complex128, log_dt (H,)."""
    g = torch.Generator().manual_seed(seed)
    cr = lambda: torch.complex(torch.randn(H, n, generator=g, dtype=F64), torch.randn(H, n, generator=g, dtype=F64))
    Lambda = torch.complex(-torch.rand(H, n, generator=g, dtype=F64) - 0.1,
                           10 * torch.randn(H, n, generator=g, dtype=F64))
    log_dt = torch.empty(H, dtype=F64).uniform_(math.log(1e-2), math.log(2e-1), generator=g)
    return Lambda, 0.5 * cr(), cr(), cr(), log_dt


# --------------------------------------------------------------------------- HiPPO forms

def test_nplr_legs_is_minus_half_identity_plus_skew_symmetric():
    A, P, B = K.nplr_legs(12)
    assert A[3, 1] == -math.sqrt(7) * math.sqrt(3) and A[2, 2] == -3 and A[1, 3] == 0
    assert torch.allclose(B, torch.sqrt(2 * torch.arange(12, dtype=F64) + 1))
    S = A + torch.outer(P, P)
    assert torch.allclose(torch.diagonal(S), torch.full((12,), -0.5, dtype=F64))
    S0 = S - torch.diag(torch.diagonal(S))
    assert torch.allclose(S0, -S0.T, atol=1e-12)


def test_dplr_legs_eigenvectors_reconstruct_nplr_matrix_with_conjugate_pairs():
    N = 16
    A, P, B = K.nplr_legs(N)
    Lambda, Pt, Bt, V = K.dplr_legs(N)
    assert Lambda.shape == Pt.shape == Bt.shape == (N // 2,) and V.shape == (N, N // 2)
    assert torch.allclose(Lambda.real, torch.full((N // 2,), -0.5, dtype=F64))
    assert (Lambda.imag < 0).all()                                     # one per conjugate pair
    Vf = torch.cat([V, V.conj()], dim=1)                               # full unitary
    assert torch.allclose(Vf.conj().T @ Vf, torch.eye(N, dtype=C128), atol=1e-12)
    recon = Vf @ torch.diag(K.conj_pair(Lambda)) @ Vf.conj().T
    assert torch.allclose(recon, (A + torch.outer(P, P)).to(C128), atol=1e-12)
    assert torch.allclose(Pt, V.conj().T @ P.to(C128)) and torch.allclose(Bt, V.conj().T @ B.to(C128))
    # ... and the DPLR matrix in the eigenbasis is HiPPO-LegS itself
    assert torch.allclose(Vf @ K.dplr_dense(Lambda, Pt) @ Vf.conj().T, A.to(C128), atol=1e-10)


@pytest.mark.parametrize("method", ["bilinear", "zoh"])
def test_dplr_legs_kernel_equals_hippo_legs_kernel(method):
    """The conjugate-pair convention end to end: C_hippo (real) maps to C = C_hippo V."""
    N, L = 16, 40
    A, B = K.hippo_legs(N)
    Lambda, P, Bt, V = K.dplr_legs(N)
    log_dt = torch.log(torch.tensor([1e-2, 5e-2, 1e-1], dtype=F64))
    C_h = torch.randn(3, N, dtype=F64, generator=torch.Generator().manual_seed(1))
    ref = K.krylov_kernel(*K.discretize(A, B, log_dt.exp(), method), C_h, L)
    Lam, Pt, C = Lambda.expand(3, -1), P.expand(3, -1), C_h.to(C128) @ V
    if method == "bilinear":
        out = K.cauchy_kernel(Lam, Pt, Bt, K.c_tilde(Lam, Pt, Bt, C, log_dt, L), log_dt, L)
    else:
        out = K.dplr_zoh_kernel(Lam, Pt, Bt, C, log_dt, L)
    _close(out, ref)


def test_s4d_inits_match_their_formulas():
    N = 8
    n = torch.arange(N // 2, dtype=F64)
    assert torch.allclose(K.s4d_init(N, "lin"), torch.complex(torch.full_like(n, -0.5), math.pi * n))
    assert torch.allclose(K.s4d_init(N, "inv").imag, N / math.pi * (N / (2 * n + 1) - 1))
    assert torch.allclose(K.s4d_init(N, "legs"), K.dplr_legs(N)[0])


# --------------------------------------------------------------------------- discretisation

@pytest.mark.parametrize("dense", [False, True])
def test_discretisations_match_scalar_closed_forms(dense):
    a, b = torch.tensor([-0.7, -2.0], dtype=F64), torch.tensor([1.3, -0.4], dtype=F64)
    dt = torch.tensor([0.1, 0.3], dtype=F64)                           # (H,) channels
    closed = {"bilinear": ((1 + dt * a / 2) / (1 - dt * a / 2), dt * b / (1 - dt * a / 2)),
              "zoh": (torch.exp(dt * a), (torch.exp(dt * a) - 1) / a * b),
              "euler": (1 + dt * a, dt * b)}
    for method, (Abar_ref, Bbar_ref) in closed.items():
        A = a[:, None, None] if dense else a[:, None]                  # (H, 1, 1) or (H, 1)
        Abar, Bbar = K.discretize(A, b[:, None], dt, method)
        assert torch.allclose(Abar.reshape(2), Abar_ref, rtol=1e-12), method
        assert torch.allclose(Bbar.reshape(2), Bbar_ref, rtol=1e-12), method


def test_expm_matches_torch_matrix_exp():
    Lambda, P, B, _, log_dt = _random_dplr()
    A_r, _, _ = K.dplr_real(Lambda, P, B)
    X = torch.exp(log_dt)[:, None, None] * A_r
    assert torch.allclose(K.expm(X), torch.linalg.matrix_exp(X), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- kernels agree

@pytest.mark.parametrize("L", [1, 2, 5, 33, 64])
def test_krylov_doubling_equals_naive_powers(L):
    Lambda, P, B, C, log_dt = _random_dplr()
    A_r, B_r, C_r = K.dplr_real(Lambda, P, B, C)
    Abar, Bbar = K.discretize(A_r, B_r, log_dt.exp(), "bilinear")
    _close(K.krylov_kernel_doubling(Abar, Bbar, C_r, L), K.krylov_kernel(Abar, Bbar, C_r, L))


def test_real_coordinates_equal_full_complex_dplr_system():
    Lambda, P, B, C, log_dt = _random_dplr()
    A_r, B_r, C_r = K.dplr_real(Lambda, P, B, C)
    real = K.krylov_kernel(*K.discretize(A_r, B_r, log_dt.exp(), "bilinear"), C_r, 30)
    Abar, Bbar = K.discretize(K.dplr_dense(Lambda, P), K.conj_pair(B), log_dt.exp(), "bilinear")
    full = K.krylov_kernel(Abar, Bbar, K.conj_pair(C), 30)
    _close(real, full, 1e-10)
    assert torch.allclose(K.c_from_real(C_r), C)


@pytest.mark.parametrize("L", [31, 64])
def test_cauchy_kernel_equals_naive_powers_of_bilinear_dplr(L):
    Lambda, P, B, C, log_dt = _random_dplr()
    Abar, Bbar = K.discretize(K.dplr_dense(Lambda, P), K.conj_pair(B), log_dt.exp(), "bilinear")
    ref = K.krylov_kernel(Abar, Bbar, K.conj_pair(C), L)
    out = K.cauchy_kernel(Lambda, P, B, K.c_tilde(Lambda, P, B, C, log_dt, L), log_dt, L)
    _close(out, ref)


def test_dplr_zoh_kernel_equals_naive_powers_of_matrix_exp():
    Lambda, P, B, C, log_dt = _random_dplr()
    A = K.dplr_dense(Lambda, P)                                        # (H, N, N) full complex
    dtA = log_dt.exp()[:, None, None] * A
    Abar = torch.linalg.matrix_exp(dtA)
    Bbar = torch.linalg.solve(A, (Abar - torch.eye(A.shape[-1], dtype=C128)) @ K.conj_pair(B)[..., None])[..., 0]
    ref = K.krylov_kernel(Abar, Bbar, K.conj_pair(C), 45)
    _close(K.dplr_zoh_kernel(Lambda, P, B, C, log_dt, 45), ref)


@pytest.mark.parametrize("method", ["zoh", "bilinear", "euler"])
def test_vandermonde_kernel_equals_naive_powers(method):
    Lambda, _, B, C, log_dt = _random_dplr()
    log_dt = log_dt - 3.0                                              # keep forward Euler stable
    Abar, Bbar = K.discretize(Lambda, B, log_dt.exp(), method)
    ref = K.krylov_kernel(Abar, Bbar, C, 37, conj_pairs=True)
    _close(K.vandermonde_kernel(Lambda, B, C, log_dt, 37, method), ref)


# --------------------------------------------------------------------------- models

COMBOS = [("s4", "legs", "bilinear"), ("s4", "legs", "zoh"), ("s4", "lin", "bilinear"),
          ("s4", "inv", "zoh"), ("s4d", "lin", "zoh"), ("s4d", "lin", "bilinear"),
          ("s4d", "inv", "zoh"), ("s4d", "legs", "bilinear")]


@pytest.mark.parametrize("kind,init,disc", COMBOS)
def test_layer_convolution_mode_equals_recurrent_mode(kind, init, disc):
    torch.manual_seed(0)
    layer = S4Layer(4, 8, kind=kind, init=init, disc=disc).double()
    u = torch.randn(2, 4, 30, dtype=F64)
    assert torch.allclose(layer(u), layer.forward_recurrent(u), atol=1e-5)


@pytest.mark.parametrize("kind,disc", [("s4", "bilinear"), ("s4", "zoh"), ("s4d", "bilinear"), ("s4d", "zoh")])
def test_classifier_convolution_mode_equals_recurrent_mode(kind, disc):
    torch.manual_seed(0)
    model = SSMClassifier(2, 5, d_model=4, n_layers=2, d_state=8, kind=kind, disc=disc).double().eval()
    x = torch.randn(3, 20, 2, dtype=F64)
    assert torch.allclose(model(x), model.forward_recurrent(x), atol=1e-5)
    assert [k.shape for k in model.kernels(20)] == [(4, 20), (4, 20)]


@pytest.mark.parametrize("kind", ["s4", "s4d"])
def test_changing_input_at_t_never_changes_earlier_outputs(kind):
    torch.manual_seed(0)
    layer = S4Layer(3, 8, kind=kind).double()
    u = torch.randn(1, 3, 32, dtype=F64)
    t = 20
    v = u.clone()
    v[..., t] += 1.0
    y, z = layer(u), layer(v)
    assert torch.allclose(y[..., :t], z[..., :t], atol=1e-12, rtol=0)  # FFT round-off only
    assert (y[..., t:] - z[..., t:]).abs().max() > 1e-3


def test_param_groups_put_ssm_parameters_at_ssm_lr_without_weight_decay():
    model = SSMClassifier(1, 10, d_model=4, n_layers=2, d_state=8, kind="s4", ssm_lr=1e-3).double()
    groups = model.param_groups(0.01, 0.05)
    ssm = [g for g in groups if g["lr"] == 1e-3]
    assert len(ssm) == 1 and ssm[0]["weight_decay"] == 0.0
    kernel = model.blocks[0].layer.kernel
    ids = lambda ps: {id(p) for p in ps}
    assert ids([kernel.log_dt, kernel.log_A_real, kernel.A_imag, kernel.P, kernel.B]) <= ids(ssm[0]["params"])
    plain = [g for g in groups if g["lr"] == 0.01]
    assert plain[0]["weight_decay"] == 0.05 and id(kernel.C) in ids(plain[0]["params"])
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    torch.optim.AdamW(groups)


def test_float32_model_trains_one_step():
    torch.manual_seed(0)
    for kind in ("s4", "s4d"):
        model = SSMClassifier(1, 3, d_model=8, n_layers=1, d_state=8, kind=kind)
        opt = torch.optim.AdamW(model.param_groups(1e-2, 0.01))
        loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 50, 1)), torch.tensor([0, 1, 2, 0]))
        loss.backward()
        opt.step()
        assert torch.isfinite(loss) and all(torch.isfinite(p).all() for p in model.parameters())
