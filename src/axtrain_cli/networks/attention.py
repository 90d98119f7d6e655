"""Attention with its products on the hardware models.

F.scaled_dot_product_attention and nn.MultiheadAttention (F.multi_head_attention_forward,
which nn.TransformerEncoderLayer and nn.Transformer use) are written out here with the
products as `Run` calls: the projections are units (their weights stored), QK^T and AV
are pairs. The scale 1/sqrt(d) is applied to the product QK^T (torch scales Q first; the
same number in float), the softmax and the masks run in float, as does dropout (in
training, as the caller asks). What torch's own multi_head_attention_forward supports
beyond this (bias_k, bias_v, add_zero_attn, static_k, static_v) is refused by name.
"""

from __future__ import annotations

import inspect
import math

import torch
import torch.nn.functional as F

from ..errors import NetworkError


def _additive(mask, dtype):
    """A mask as numbers to add to the scores: True (bool) means masked out, -inf."""
    if mask is None or mask.is_floating_point():
        return mask
    return torch.zeros_like(mask, dtype=dtype).masked_fill_(mask, float("-inf"))


def attend(run, q, k, v, mask=None, dropout_p=0.0, is_causal=False, scale=None,
           training=True):
    """softmax(Q K^T scale + mask) V, with Q K^T and AV as pairs of `run`."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = run.pair("attention QK^T", q, k.transpose(-2, -1), torch.matmul) * scale
    if is_causal:
        n, s = scores.shape[-2:]
        keep = torch.ones(n, s, dtype=torch.bool, device=q.device).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    if mask is not None:
        scores = scores + _additive(mask, scores.dtype)
    weights = torch.softmax(scores, dim=-1)
    if dropout_p > 0.0 and training:
        weights = F.dropout(weights, dropout_p)
    return run.pair("attention AV", weights, v, torch.matmul), weights


def sdpa(run, query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
         scale=None, enable_gqa=False):
    """F.scaled_dot_product_attention, its two products on the hardware."""
    if enable_gqa and key.shape[-3] != query.shape[-3]:
        repeat = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(repeat, dim=-3)
        value = value.repeat_interleave(repeat, dim=-3)
    return attend(run, query, key, value, attn_mask, dropout_p, is_causal, scale)[0]


_MHA = inspect.signature(F.multi_head_attention_forward)


def multi_head_attention(run, func, args, kwargs):
    """F.multi_head_attention_forward, its projections units and its products pairs."""
    p = _MHA.bind(*args, **kwargs)
    p.apply_defaults()
    a = p.arguments
    for name in ("bias_k", "bias_v", "static_k", "static_v"):
        if a[name] is not None:
            raise NetworkError(f"nn.MultiheadAttention with {name}: not supported on the "
                               "hardware models (allowed without it)")
    if a["add_zero_attn"]:
        raise NetworkError("nn.MultiheadAttention with add_zero_attn: not supported on the "
                           "hardware models (allowed without it)")
    query, key, value, heads = a["query"], a["key"], a["value"], a["num_heads"]
    batched = query.dim() == 3
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
    tgt, bsz, embed = query.shape
    src, hd = key.shape[0], embed // heads
    b = a["in_proj_bias"]
    if a["use_separate_proj_weight"]:
        bq, bk, bv = b.chunk(3) if b is not None else (None, None, None)
        q = _project(run, query, a["q_proj_weight"], bq)
        k = _project(run, key, a["k_proj_weight"], bk)
        v = _project(run, value, a["v_proj_weight"], bv)
    elif query is key and key is value:  # self-attention: one projection, as torch does
        q, k, v = _project(run, query, a["in_proj_weight"], b).chunk(3, dim=-1)
    else:
        w = a["in_proj_weight"]
        q, k, v = (_project(run, x, w, b, slice(n * embed, (n + 1) * embed))
                   for n, x in enumerate((query, key, value)))
    mask = _additive(a["attn_mask"], query.dtype)
    if mask is not None and mask.dim() == 2:
        mask = mask.unsqueeze(0)
    pad = _additive(a["key_padding_mask"], query.dtype)
    if pad is not None:
        if not batched:
            pad = pad.unsqueeze(0)
        pad = pad.view(bsz, 1, 1, src).expand(-1, heads, -1, -1).reshape(bsz * heads, 1, src)
        mask = pad if mask is None else mask + pad
    causal = a["is_causal"] and mask is None
    q = q.reshape(tgt, bsz * heads, hd).transpose(0, 1)
    k = k.reshape(src, bsz * heads, hd).transpose(0, 1)
    v = v.reshape(src, bsz * heads, hd).transpose(0, 1)
    out, weights = attend(run, q, k, v, mask, a["dropout_p"], causal,
                          training=a["training"])
    out = out.transpose(0, 1).reshape(tgt * bsz, embed)
    out = _project(run, out, a["out_proj_weight"], a["out_proj_bias"]).view(tgt, bsz, -1)
    if not batched:
        out = out.squeeze(1)
    if not a["need_weights"]:
        return out, None
    weights = weights.view(bsz, heads, tgt, src)
    if a["average_attn_weights"]:
        weights = weights.mean(dim=1)
    return out, (weights if batched else weights.squeeze(0))


def _project(run, x, w, b, rows: slice | None = None):
    """x W^T + b of a projection weight w (rows: the part of a packed weight)."""
    found = run.unit_of(w)
    if found is None:
        raise NetworkError("nn.MultiheadAttention: a projection weight that is not a "
                           "parameter of the model")
    wr, br = (w, b) if rows is None else (w[rows], None if b is None else b[rows])
    return run.unit_call(found[0], x, lambda: F.linear(x, wr, br), "fc", rows=rows, bias=b)
