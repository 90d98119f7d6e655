"""The torch functions a network's products go through, and their multiply-accumulates.

A product with a stored weight (a parameter, or a transposed view of one) is a *unit*: an
nn.Linear / nn.Conv1d / nn.Conv2d layer, or a forward's own F.linear, matmul, addmm or
einsum on a parameter. A product of two activations (attention's QK^T and AV, a matmul or
einsum of two tensors) is a *pair*. Both run on the hardware models; the functions below
are what `runtime.Run` intercepts, and `macs` counts what each multiplies (independently
of torch.utils.flop_counter, which the tests hold it to).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

T = torch.Tensor
LINEAR = {F.linear}
CONV = {F.conv1d: 1, F.conv2d: 2}
MATMUL = {torch.matmul, T.matmul, T.__matmul__, torch.mm, T.mm, torch.bmm, T.bmm}
RMATMUL = {T.__rmatmul__}
ADDMM = {torch.addmm, T.addmm}
EINSUM = {torch.einsum}
SDPA = {F.scaled_dot_product_attention}
MHA = {F.multi_head_attention_forward}
BATCHNORM = {F.batch_norm}
EMBEDDING = {F.embedding}
# transposed views of a weight a forward may multiply by (x @ W.T)
TRANSPOSE = {T.t, torch.t, T.T.__get__, T.mT.__get__, T.transpose, torch.transpose}
# products axtrain does not run on the hardware models: refused by name, or run in float
# and counted so (hardware.unsupported)
UNSUPPORTED = {F.conv3d: "conv3d", F.conv_transpose1d: "conv_transpose1d",
               F.conv_transpose2d: "conv_transpose2d", F.conv_transpose3d: "conv_transpose3d",
               F.bilinear: "bilinear", torch.lstm: "lstm (nn.LSTM)", torch.gru: "gru (nn.GRU)",
               torch.rnn_tanh: "rnn_tanh (nn.RNN)", torch.rnn_relu: "rnn_relu (nn.RNN)",
               torch.lstm_cell: "lstm_cell (nn.LSTMCell)", torch.gru_cell: "gru_cell (nn.GRUCell)",
               torch.rnn_tanh_cell: "rnn_tanh_cell (nn.RNNCell)",
               torch.rnn_relu_cell: "rnn_relu_cell (nn.RNNCell)", torch.baddbmm: "baddbmm",
               T.baddbmm: "baddbmm", torch.addbmm: "addbmm", torch.addmv: "addmv",
               torch.mv: "mv", T.mv: "mv", torch.dot: "dot", T.dot: "dot",
               torch.tensordot: "tensordot", torch.inner: "inner", torch.outer: "outer",
               torch.kron: "kron", torch.chain_matmul: "chain_matmul",
               torch.linalg.multi_dot: "multi_dot", torch.vdot: "vdot"}
# functions a chain network's sensitivity (its explicit backward) knows
RELU = {F.relu, torch.relu, T.relu, torch.relu_, T.relu_}
MAXPOOL = {F.max_pool2d}
FLATTEN = {T.flatten, torch.flatten, T.view, T.reshape, torch.reshape}


def matmul_macs(a_shape, b_shape) -> int:
    """Multiply-accumulates of torch.matmul(a, b) (broadcast batch dimensions)."""
    a, b = list(a_shape), list(b_shape)
    if len(a) == 1:
        a = [1] + a
    if len(b) == 1:
        b = b + [1]
    batch = torch.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2]))
    return math.prod(batch) * a[-2] * a[-1] * b[-1]


def conv_macs(out_shape, w_shape) -> int:
    """Multiply-accumulates of a convolution: each output element sums C/groups x kernel
    (the weight's (O, C/groups, k...) shape)."""
    return math.prod(out_shape) * math.prod(w_shape[1:])


def linear_macs(x_shape, w_shape) -> int:
    return math.prod(x_shape[:-1]) * w_shape[0] * w_shape[1]


def einsum_macs(equation: str, a_shape, b_shape) -> int:
    """Multiply-accumulates of torch.einsum(equation, a, b): every output element sums the
    products over the letters the output does not keep."""
    ins, _, out = equation.replace(" ", "").partition("->")
    left, right = ins.split(",")
    sizes = {}
    for letters, shape in ((left, a_shape), (right, b_shape)):
        plain = letters.replace("...", "")
        tail = shape[len(shape) - len(plain):] if plain else ()
        sizes.update(zip(plain, tail))
        if "..." in letters:
            sizes["..."] = math.prod(shape[:len(shape) - len(plain)])
    if not out and "->" not in equation:  # implicit output: the letters seen once, sorted
        seen = left.replace("...", "") + right.replace("...", "")
        out = "".join(sorted(c for c in set(seen) if seen.count(c) == 1))
    kept = math.prod(sizes[c] for c in out.replace("...", "")) * sizes.get("...", 1)
    summed = math.prod(sizes[c] for c in set(sizes) - set(out) - {"..."})
    return kept * summed


RNN = {torch.lstm, torch.gru, torch.rnn_tanh, torch.rnn_relu}
CELLS = {torch.lstm_cell, torch.gru_cell, torch.rnn_tanh_cell, torch.rnn_relu_cell}


def rnn_macs(func, args) -> int | None:
    """Multiply-accumulates of a recurrent layer's call (every step multiplies its input
    and hidden state by each weight matrix), or None for another function."""
    if func in CELLS:
        x = args[0]
        return (x.shape[0] if x.dim() > 1 else 1) * sum(w.numel() for w in args[2:4])
    if func not in RNN:
        return None
    x = args[0]
    packed = isinstance(args[1], torch.Tensor) and args[1].dim() == 1  # data, batch_sizes
    params = args[3] if packed else args[2]
    rows = x.shape[0] if packed else x.numel() // x.shape[-1]
    return rows * sum(w.numel() for w in params if w.dim() == 2)
