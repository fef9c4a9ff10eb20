"""The mathematics of S4 and S4D as pure torch functions (reference: shared/reference/s4.md, §4).

Notation: N is the state size (``d_state``), n = N/2 the number of stored modes, H the number of
channels (``d_model``), L the sequence length, dt = exp(log_dt) the step size per channel.
Everything works in float32 or float64; complex tensors are complex64/complex128 accordingly.

A continuous SSM x'(t) = A x(t) + B u(t), y(t) = C x(t) is discretised to
x_k = Abar x_{k-1} + Bbar u_k, y_k = C x_k, whose output is the causal convolution y = K * u
with the kernel K_l = C Abar^l Bbar, l = 0..L-1 (shape (H, L)).

Conjugate pairs. A real state matrix has eigenvalues in conjugate pairs; in its eigenbasis the
state is x_f = [x; conj(x)] and only the n modes x are stored (the ones whose eigenvalue has
negative imaginary part for DPLR-LegS). With B_f = [B; conj(B)] and C_f = [C; conj(C)]:

* diagonal (S4D): y = C_f x_f = 2 Re(C x), so K_l = 2 Re sum_n C_n Bbar_n Abar_n^l;
* DPLR (S4): A_f = diag(Lambda, conj(Lambda)) - P_f P_f^*, P_f = [P; conj(P)]. The rank-1 term
  couples each mode with its conjugate, so S4 is *not* "2 Re of the n-dimensional system
  Lambda - P P^*". The DPLR functions here all use the full form: the Cauchy sums run over both
  members of each pair (as the official ``cauchy_naive(..., conj=True)`` does), ``dplr_dense``
  returns the N x N matrix A_f, and ``dplr_real`` the same system in the real coordinates
  s = [Re x; Im x] (N real states), which is cheaper for dense work (ZOH, C-tilde, recurrence).
"""

from __future__ import annotations

import math

import torch

Tensor = torch.Tensor
METHODS = ("bilinear", "zoh", "euler")


# --------------------------------------------------------------------------------------------
# HiPPO-LegS and its NPLR / DPLR forms
# --------------------------------------------------------------------------------------------

def hippo_legs(N: int) -> tuple[Tensor, Tensor]:
    """HiPPO-LegS: A[n,k] = -sqrt(2n+1) sqrt(2k+1) (n > k), -(n+1) (n = k), 0 (n < k);
    B[n] = sqrt(2n+1). Returns A (N, N) and B (N,), float64."""
    r = torch.sqrt(2 * torch.arange(N, dtype=torch.float64) + 1)       # sqrt(2n+1)   (N,)
    A = -torch.tril(r[:, None] * r[None, :], diagonal=-1)               # n > k
    A = A - torch.diag(torch.arange(1, N + 1, dtype=torch.float64))     # n = k: -(n+1)
    return A, r.clone()


def nplr_legs(N: int) -> tuple[Tensor, Tensor, Tensor]:
    """LegS as normal plus low rank: P[n] = sqrt(n + 1/2) makes A + P P^T = -I/2 + S with S
    skew-symmetric. Returns A (N, N), P (N,), B (N,), float64."""
    A, B = hippo_legs(N)
    P = torch.sqrt(torch.arange(N, dtype=torch.float64) + 0.5)
    return A, P, B


def dplr_legs(N: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """LegS as diagonal plus low rank: A = V (diag(Lambda_f) - Ptilde Ptilde^*) V^*.

    Diagonalise the normal matrix A + P P^T = -I/2 + S in float64: -i S is Hermitian, so
    eigh(-i S) = (mu, V) gives S V = i mu V and Lambda = -1/2 + i mu. Eigenvalues come in
    conjugate pairs (S is real); keep the n = N/2 with negative imaginary part, whose
    eigenvectors V (N, n) pair with conj(V) for the other half. Then P <- V^* P, B <- V^* B.

    Returns Lambda, P, B (n,) complex128 and V (N, n) complex128 (kept eigenvectors; the full
    unitary is [V, conj(V)] with eigenvalues [Lambda, conj(Lambda)]).
    """
    assert N % 2 == 0, "the state size must be even (conjugate pairs)"
    A, P, B = nplr_legs(N)
    AP = A + P[:, None] * P[None, :]                                     # A + P P^T
    lambda_re = torch.diagonal(AP).mean()                                # = -1/2
    S = AP - lambda_re * torch.eye(N, dtype=torch.float64)               # skew-symmetric
    mu, V = torch.linalg.eigh(-1j * S.to(torch.complex128))              # ascending mu
    keep = mu < 0                                                        # one per conjugate pair
    assert int(keep.sum()) == N // 2, "LegS should have no zero eigenvalue"
    Lambda = torch.complex(lambda_re.expand(N // 2), mu[keep])           # (n,)
    V = V[:, keep]                                                       # (N, n)
    Vh = V.conj().T
    return Lambda, Vh @ P.to(torch.complex128), Vh @ B.to(torch.complex128), V


def s4d_init(N: int, kind: str) -> Tensor:
    """Diagonal initialisations A_n, n = 0..N/2-1 (complex128, shape (N/2,)):

    * ``lin``:  A_n = -1/2 + i pi n                         (S4D-Lin)
    * ``inv``:  A_n = -1/2 + i (N/pi) (N/(2n+1) - 1)          (S4D-Inv)
    * ``legs``: A_n = Lambda_n of ``dplr_legs(N)``            (S4D-LegS)

    The matching B is 1 for ``lin``/``inv`` and ``dplr_legs(N)[2]`` for ``legs``.
    """
    n = torch.arange(N // 2, dtype=torch.float64)
    if kind == "lin":
        imag = math.pi * n
    elif kind == "inv":
        imag = (N / math.pi) * (N / (2 * n + 1) - 1)
    elif kind == "legs":
        return dplr_legs(N)[0]
    else:
        raise ValueError(f"unknown S4D init {kind!r}; expected 'lin', 'inv' or 'legs'")
    return torch.complex(torch.full_like(n, -0.5), imag)


# --------------------------------------------------------------------------------------------
# Discretisation
# --------------------------------------------------------------------------------------------

def discretize(A: Tensor, B: Tensor, dt: Tensor | float, method: str = "bilinear",
               diagonal: bool | None = None) -> tuple[Tensor, Tensor]:
    """(Abar, Bbar) of x' = A x + B u with step dt.

    A is diagonal, shape (..., N), when it has as many dims as B (or ``diagonal=True``), and
    dense, shape (..., N, N), otherwise; B is (..., N); dt is a scalar or (H,) for a leading
    channel dim H (it broadcasts against A's batch dims).

    * bilinear: Abar = (I - dt/2 A)^-1 (I + dt/2 A),  Bbar = (I - dt/2 A)^-1 dt B
    * zoh:      Abar = exp(dt A),                     Bbar = A^-1 (Abar - I) B
    * euler:    Abar = I + dt A,                      Bbar = dt B        (forward Euler)
    """
    if method not in METHODS:
        raise ValueError(f"unknown discretisation {method!r}; expected one of {METHODS}")
    if diagonal is None:
        diagonal = A.dim() == B.dim()
    dt = torch.as_tensor(dt, dtype=A.real.dtype, device=A.device)
    dt_B = dt[..., None]                                                 # (H, 1) against (H, N)
    if diagonal:
        dtA = dt_B * A
        if method == "bilinear":
            return (1 + dtA / 2) / (1 - dtA / 2), dt_B * B / (1 - dtA / 2)
        if method == "zoh":
            Abar = torch.exp(dtA)
            return Abar, (Abar - 1) / A * B
        return 1 + dtA, dt_B * B
    I = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    dtA = dt[..., None, None] * A                                        # (H, N, N)
    if method == "bilinear":
        BL = I - dtA / 2
        Abar = torch.linalg.solve(BL, I + dtA / 2)
        Bbar = torch.linalg.solve(BL, (dt_B * B).unsqueeze(-1)).squeeze(-1)
        return Abar, Bbar
    if method == "zoh":
        Abar = torch.linalg.matrix_exp(dtA)
        Bbar = torch.linalg.solve(A, (Abar - I) @ B.unsqueeze(-1).to(Abar.dtype)).squeeze(-1)
        return Abar, Bbar
    return I + dtA, dt_B * B


# --------------------------------------------------------------------------------------------
# Kernels from powers of Abar (dense or diagonal): the reference paths
# --------------------------------------------------------------------------------------------

def _finish(K: Tensor, conj_pairs: bool) -> Tensor:
    """2 Re K for a conjugate-pair half state, else the (real) kernel itself."""
    if conj_pairs:
        return 2 * K.real
    return K.real if K.is_complex() else K


def krylov_kernel(Abar: Tensor, Bbar: Tensor, C: Tensor, L: int, conj_pairs: bool = False) -> Tensor:
    """K_l = C Abar^l Bbar, l = 0..L-1, by L sequential products (the naive reference).

    Abar (H, N, N) dense or (H, N) diagonal, Bbar and C (H, N). Returns (H, L) real: the kernel
    of a real (or conjugate-symmetric full) system, or 2 Re of it when ``conj_pairs``.
    """
    diagonal = Abar.dim() == Bbar.dim()
    x, out = Bbar, []                                                    # x = Abar^l Bbar (H, N)
    for _ in range(L):
        out.append((C * x).sum(-1))
        x = Abar * x if diagonal else (Abar @ x.unsqueeze(-1)).squeeze(-1)
    return _finish(torch.stack(out, -1), conj_pairs)


def krylov_kernel_doubling(Abar: Tensor, Bbar: Tensor, C: Tensor, L: int,
                           conj_pairs: bool = False) -> Tensor:
    """The same K as ``krylov_kernel`` (dense Abar) with O(log L) batched matmuls.

    Write l = j T + t with T = 2^ceil(log2 sqrt L), J = ceil(L / T): K_l = (C Abar^{jT}) (Abar^t Bbar).
    Both factors come by doubling, X[m:2m] = X[0:m] (Abar^m)^T, with Abar^m from repeated
    squaring: columns X_t = Abar^t Bbar (H, T, N), rows R_j = C Abar^{jT} (H, J, N),
    K = R X^T (H, J, T) -> (H, L).
    """
    T = 2 ** math.ceil(math.log2(math.sqrt(L))) if L > 1 else 1
    J = math.ceil(L / T)
    dtype = torch.promote_types(torch.promote_types(Abar.dtype, Bbar.dtype), C.dtype)
    X, M = Bbar.unsqueeze(-2).to(dtype), Abar.to(dtype)                  # M = Abar^m, m = rows of X
    while X.shape[-2] < T:
        X = torch.cat([X, X @ M.mT], dim=-2)                             # Abar^{t+m} B = Abar^m Abar^t B
        M = M @ M                                                        # ends at Abar^T
    R = C.unsqueeze(-2).to(dtype)                                        # (H, 1, N), M = Abar^{mT}
    while R.shape[-2] < J:
        m = R.shape[-2]
        R = torch.cat([R, R[..., : J - m, :] @ M], dim=-2)               # C Abar^{(j+m)T}
        if R.shape[-2] < J:
            M = M @ M
    K = (R @ X.mT).flatten(-2)[..., :L]                                  # (H, J, T) -> (H, L)
    return _finish(K, conj_pairs)


def expm(X: Tensor) -> Tensor:
    """exp(X) for a batch (..., N, N) by scaling and squaring a Taylor polynomial.

    exp(X) = exp(X / 2^s)^(2^s) with s per matrix such that ||X / 2^s||_1 <= 1; the Taylor
    polynomial of degree m (12 in float32, 16 in float64; remainder <= 1/(m+1)!) is evaluated by
    Paterson-Stockmeyer in powers of Y^4. Only matmuls, so autograd's backward costs about two
    forwards, much less than ``torch.linalg.matrix_exp``'s (an exponential of a 2N x 2N block).
    """
    m = 16 if X.real.dtype == torch.float64 else 12
    with torch.no_grad():
        norm = X.abs().sum(-2).amax(-1)                                  # ||X||_1  (...,)
        s = torch.ceil(torch.log2(norm.clamp_min(1e-30))).clamp_min(0)  # (...,)
    Y = X / (2 ** s)[..., None, None].to(X.dtype)
    I = torch.eye(X.shape[-1], dtype=X.dtype, device=X.device).expand_as(X)
    powers = [I, Y, Y @ Y]
    powers.append(powers[2] @ Y)                                         # I, Y, Y^2, Y^3
    Y4 = powers[2] @ powers[2]
    coef = [1 / math.factorial(k) for k in range(m + 1)]
    block = lambda j: sum(coef[4 * j + i] * powers[i] for i in range(4) if 4 * j + i <= m)
    E = block(m // 4)
    for j in range(m // 4 - 1, -1, -1):
        E = block(j) + Y4 @ E                                            # sum_j Y^{4j} block_j
    for i in range(int(s.max()) if s.numel() else 0):
        E = torch.where((s > i)[..., None, None], E @ E, E)              # undo the scaling
    return E


# --------------------------------------------------------------------------------------------
# S4D: diagonal state, Vandermonde kernel
# --------------------------------------------------------------------------------------------

def vandermonde_kernel(Lambda: Tensor, B: Tensor, C: Tensor, log_dt: Tensor, L: int,
                       method: str = "zoh") -> Tensor:
    """Diagonal SSM kernel K_l = 2 Re sum_n C_n Bbar_n Abar_n^l (conjugate pairs, see module doc).

    Lambda, C (H, n) complex, B (H, n) or (n,), log_dt (H,) -> K (H, L) real. Abar_n^l is the
    Vandermonde matrix exp(l log Abar_n); for ZOH log Abar = dt Lambda exactly. It is factored
    with l = j T + t (T ~ sqrt L): Abar^l = Abar^{jT} Abar^t, so only (H, n, J) and (H, n, T)
    exponentials are taken and K = 2 Re (W^T V_T) with W = C Bbar Abar^{jT}, one small matmul.
    """
    dt = torch.exp(log_dt)                                               # (H,)
    Abar, Bbar = discretize(Lambda, B, dt, method, diagonal=True)        # (H, n)
    log_Abar = dt[:, None] * Lambda if method == "zoh" else torch.log(Abar)
    T = math.ceil(math.sqrt(L))
    J = math.ceil(L / T)
    t = torch.arange(T, dtype=dt.dtype, device=dt.device)
    jT = T * torch.arange(J, dtype=dt.dtype, device=dt.device)
    V_T = torch.exp(log_Abar.unsqueeze(-1) * t)                          # Abar^t     (H, n, T)
    W = (C * Bbar).unsqueeze(-1) * torch.exp(log_Abar.unsqueeze(-1) * jT)  # C Bbar Abar^{jT} (H, n, J)
    K = (W.mT @ V_T).flatten(-2)[..., :L]                                # (H, J, T) -> (H, L)
    return 2 * K.real


# --------------------------------------------------------------------------------------------
# S4: diagonal plus low rank
# --------------------------------------------------------------------------------------------

def conj_pair(x: Tensor) -> Tensor:
    """The full-basis vector [x; conj(x)] (..., N) of a stored half (..., n)."""
    return torch.cat([x, x.conj()], dim=-1)


def dplr_dense(Lambda: Tensor, P: Tensor) -> Tensor:
    """A_f = diag(Lambda_f) - P_f P_f^*, Lambda_f = [Lambda; conj Lambda], P_f = [P; conj P].

    The full N x N complex state matrix of S4 in the eigenbasis (..., N, N); pair it with
    ``conj_pair(B)`` and ``conj_pair(C)``, whose kernel is real (``conj_pairs=False``).
    """
    Pf = conj_pair(P)
    return torch.diag_embed(conj_pair(Lambda)) - Pf.unsqueeze(-1) * Pf.conj().unsqueeze(-2)


def dplr_real(Lambda: Tensor, P: Tensor, B: Tensor, C: Tensor | None = None
              ) -> tuple[Tensor, Tensor, Tensor | None]:
    """S4's DPLR system in real coordinates s = [Re x; Im x] (N = 2n real states).

    With x_f = [x; conj x]: x' = Lambda x - 2 P Re(P^* x) + B u and y = 2 Re(C x), so

        A_r = [[diag Re L, -diag Im L], [diag Im L, diag Re L]] - 2 q q^T,  q = [Re P; Im P]
        B_r = [Re B; Im B],   C_r = 2 [Re C, -Im C]

    Lambda, P (H, n) complex; B, C (H, n) or (n,). Returns A_r (H, N, N), B_r, C_r (H, N) real.
    """
    Lambda, P = torch.broadcast_tensors(Lambda, P)
    B = B.to(Lambda.dtype).expand_as(Lambda)
    lr, li = torch.diag_embed(Lambda.real), torch.diag_embed(Lambda.imag)   # (H, n, n)
    A = torch.cat([torch.cat([lr, -li], -1), torch.cat([li, lr], -1)], -2)  # (H, N, N)
    q = torch.cat([P.real, P.imag], -1)                                      # (H, N)
    A = A - 2 * q.unsqueeze(-1) * q.unsqueeze(-2)
    B_r = torch.cat([B.real, B.imag], -1)
    C_r = None if C is None else 2 * torch.cat([C.real, -C.imag], -1)
    return A, B_r, C_r


def c_from_real(C_r: Tensor) -> Tensor:
    """Inverse of the C map of ``dplr_real``: C = (C_r[:n] - i C_r[n:]) / 2, (H, N) -> (H, n)."""
    n = C_r.shape[-1] // 2
    return torch.complex(C_r[..., :n], -C_r[..., n:]) / 2


def c_tilde(Lambda: Tensor, P: Tensor, B: Tensor, C: Tensor, log_dt: Tensor, L: int) -> Tensor:
    """C-tilde = C (I - Abar^L) with S4's bilinear Abar (dense, real coordinates), (H, n) complex.

    At the L-th roots of unity z^L = 1, so the truncated generating function of K is
    sum_{l<L} C Abar^l Bbar z^l = C (I - Abar^L z^L)(I - Abar z)^-1 Bbar = C-tilde (I - Abar z)^-1 Bbar.
    The official code learns C-tilde directly (no Abar^L in training); ``models.SSMKernel``
    learns C and calls this each step, so the recurrent mode can use C for any length.
    """
    A_r, B_r, C_r = dplr_real(Lambda, P, B, C)
    Abar, _ = discretize(A_r, B_r, torch.exp(log_dt), "bilinear")        # (H, N, N)
    Ct_r = C_r - (C_r.unsqueeze(-2) @ torch.linalg.matrix_power(Abar, L)).squeeze(-2)
    return c_from_real(Ct_r)


def cauchy_kernel(Lambda: Tensor, P: Tensor, B: Tensor, C: Tensor, log_dt: Tensor, L: int) -> Tensor:
    """S4's bilinear DPLR kernel through the generating function, Cauchy sums and Woodbury.

    C here is C-tilde (``c_tilde``). Lambda, P, C (H, n) complex, B (H, n) or (n,), log_dt (H,)
    -> K (H, L) real. At the FFT nodes w_k = exp(-2 pi i k / L), k = 0..L/2:

        Khat(w) = C~ (I - Abar w)^-1 Bbar = 2/(1+w) C~ (g(w) - dt A)^-1 dt B,  g = 2 (1-w)/(1+w)
        r_ab(w) = sum_n a_n b_n dt / (g - dt Lambda_n)    over both members of each pair
        Khat    = 2/(1+w) [ r_CB - r_CP r_QB / (1 + r_QP) ]    (Woodbury, Q = conj P)
        K       = irfft(Khat, L)

    The 2/(1+w) factor is folded into the sums, s_ab = 2/(1+w) r_ab = sum_n 2 a_n b_n dt / d_n
    with d_n = 2(1-w) - (1+w) dt Lambda_n, so that the node w = -1 (g = inf) stays finite:
    Khat = s_CB - (1+w)/2 s_CP s_QB / (1 + (1+w)/2 s_QP). The Cauchy matrix 1/d (H, N, L/2+1)
    is materialised (the naive Cauchy kernel).
    """
    dt = torch.exp(log_dt)[:, None, None]                                # (H, 1, 1)
    ctype = Lambda.dtype
    k = torch.arange(L // 2 + 1, dtype=torch.float64, device=Lambda.device)
    w = torch.polar(torch.ones_like(k), -2 * math.pi * k / L).to(ctype)  # (L/2+1,) FFT nodes
    B = B.to(ctype).expand_as(Lambda)
    Q = P.conj()
    v = torch.stack([C * B, C * P, Q * B, Q * P], dim=-2)                # (H, 4, n): ab = CB, CP, QB, QP
    v = conj_pair(v)                                                     # (H, 4, N) both pair members
    d = 2 * (1 - w) - (1 + w) * dt * conj_pair(Lambda).unsqueeze(-1)     # (H, N, L/2+1)
    s = (2 * dt) * (v @ (1 / d))                                         # (H, 4, L/2+1) Cauchy sums
    s_CB, s_CP, s_QB, s_QP = s.unbind(-2)
    h = (1 + w) / 2
    Khat = s_CB - h * s_CP * s_QB / (1 + h * s_QP)                       # Woodbury rank-1 correction
    return torch.fft.irfft(Khat, n=L)                                    # (H, L)


def dplr_zoh_kernel(Lambda: Tensor, P: Tensor, B: Tensor, C: Tensor, log_dt: Tensor, L: int) -> Tensor:
    """S4's DPLR kernel with ZOH: Abar = exp(dt A), Bbar = A^-1 (Abar - I) B, K_l = C Abar^l Bbar.

    Dense in real coordinates (``dplr_real``; the factor 2 Re is inside C_r), exp by ``expm``
    (whose backward is cheaper than torch.linalg.matrix_exp's), powers by doubling.
    Lambda, P, C (H, n) complex, B (H, n) or (n,), log_dt (H,) -> K (H, L) real.
    """
    A_r, B_r, C_r = dplr_real(Lambda, P, B, C)                          # (H, N, N), (H, N), (H, N)
    dtA = torch.exp(log_dt)[:, None, None] * A_r
    Abar = expm(dtA)                                                     # = discretize(.., "zoh")[0]
    I = torch.eye(A_r.shape[-1], dtype=A_r.dtype, device=A_r.device)
    Bbar = torch.linalg.solve(A_r, ((Abar - I) @ B_r.unsqueeze(-1))).squeeze(-1)
    return krylov_kernel_doubling(Abar, Bbar, C_r, L)
