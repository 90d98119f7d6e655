"""Network sensitivity S(w) of AxTrain-act (paper section 3.1, Eq. 5) and its per-weight map.

    S(w) = sum_k sum_{l,i,j} |w_ij^l| * |dO_k / dw_ij^l|                      (Eq. 5)

O_k are the network outputs after the output nonlinearity (sigmoid in the paper). The sum
runs over the *weights* of every compute layer (nn.Linear / nn.Conv2d); biases are not
part of Eq. 5 and are left out (S still depends on them, and autograd differentiates S
with respect to them too).

Mini-batches. Eq. 5 is written for one input pattern n. `per_sample=True` (the faithful
reading, default) takes the absolute values per sample and averages over the batch,
mean_n sum_k sum |W| * |dO_k(n)/dW|. `per_sample=False` differentiates the batch-mean
output first, sum_k sum |W| * |d mean_n O_k(n) / dW| (cancellation across samples allowed).

How it is computed without B x K x P per-sample gradients. Let z_l = W_l a_l + b_l be the
pre-activation output of compute layer l and delta_k(n) = dO_k(n)/dz_l(n) its per-sample
"delta" for output k. For a fully connected layer the per-sample gradient is the outer
product dO_k(n)/dW_l = delta_k(n) a(n)^T, so, with D(n, i) = sum_k |delta_k(n, i)|,

    sum_n sum_k |W| * |delta_k(n) a(n)^T| = |W| * (D^T |A|)        (one GEMM per layer),

because |A| does not depend on k. The deltas of all K outputs for all layers come from one
explicit K-batched backward pass through the network's ops (see `_layer_terms`). For
`per_sample=False` the signed batch gradients Delta_k^T A / N of all k are formed with one
GEMM (K*out rows) and then made absolute (this variant holds K weight-sized tensors).

Convolutions share each weight across output positions p: the per-sample gradient is
sum_p delta_k(n, o, p) a(n, c, p + offset), and the same absolute-value product,
|W| * conv2d_weight(|A|, D) = |W| * sum_p |delta| |a|, is an UPPER BOUND of the per-sample
sensitivity (absolute values inside the sum over positions: no cancellation across
positions), i.e. the sensitivity of the network with the weight untied per position.
That bound is what `per_sample=True` and `sensitivity_map` use for conv layers. With
`per_sample=False` conv layers are exact (signed deltas, sum over positions and samples
before the absolute value).

Sampled outputs (`outputs`, a generator). The deltas of all K outputs cost one K-batched
backward pass, K times a plain backward. With a generator, each sample n draws one output
k(n) uniformly and K |delta_k(n)(n)| stands for sum_k |delta_k(n)|: an unbiased estimate of
the per-sample S (the same expectation over the draw) at the cost of one plain backward
pass, the "one extra forward/backward round" the paper states for its training. A reading
of ours, not the paper's (`method.outputs=sampled`); per_sample only.

Gradients: S (deltas included) is built from differentiable ops, so autograd's dS/dw is the
paper's Eq. 6, sign(w)|g| + H V with V = |w| * sign(g) (g = dO_k/dw, H the Hessian of O_k,
summed over k and averaged over samples), which the paper gets with Pearlmutter's
R-operator. Only the plain float network is covered (no hardware plan).

Two strategies, the same numbers. A chain network (`Network.program`: each layer reads
only the one before it, and every layer is a Linear, a Conv2d, a ReLU, a 2x2 max pooling
or a flatten, as the paper's MLPs and LeNet-5 are) records on its tape the ops of its own
forward with what their explicit K-batched backward needs. Any other network records per
unit its input a, output z and effective weight (folded with its BatchNorm, the
statistics held constant), and the deltas of output k at every unit come from one
autograd backward pass (K passes for all outputs, one for the sampled reading), through
whatever the forward does between the units (residual branches, attention, pooling,
BatchNorm, in-place activations). A Linear on tokens (inputs with more leading dimensions
than the batch) shares its weight across them as a convolution does across positions:
the same untied upper bound. Units of an einsum with a weight are left out of S. With
BatchNorm in training mode the deltas of one backward pass carry its batch statistics'
coupling of the samples (terms of order 1/N); with its running statistics (evaluation,
`sensitivity_map`) they are exactly per sample.
"""

from __future__ import annotations

from functools import partial

import torch
from torch.nn.grad import conv1d_weight, conv2d_weight

from .tape import Tape, _conv, _forward, _Layer

CHUNK = 256  # samples per pass for a measured S of any network (bounds the deltas' memory)


# -------------------------------------------------------------------------------- S(w)
def network_sensitivity(model, inputs: torch.Tensor, per_sample: bool = True,
                        forward: tuple[torch.Tensor, Tape] | None = None,
                        outputs: torch.Generator | None = None) -> torch.Tensor:
    """S(w) of Eq. 5 on the batch `inputs`, a 0-d tensor differentiable (to second order)
    with respect to the model's parameters.

    `forward`: (logits, tape) of a `model.logits(inputs, tape=Tape(model))` call the
    caller has made already (a training step needs the logits for its loss too): the
    forward pass is then not run twice.

    Sums |w| |dO_k/dw| over the weights (not the biases: Eq. 5 sums w_ij) of every unit and
    every output k. per_sample=True: mean over samples of the per-sample value (conv units
    and units on tokens: the untied-position upper bound, see the module docstring);
    per_sample=False: derivatives of the batch-mean outputs, then absolute values.

    `outputs`: a generator to draw one output per sample from (the module docstring's
    sampled reading, an unbiased estimate of the per-sample S); None: all K outputs."""
    if outputs is not None and not per_sample:
        raise ValueError("sampled outputs estimate the per-sample S only (per_sample=True)")
    if forward is None and not model.chain and len(inputs) > CHUNK:
        # measured (not trained): in chunks of samples, which bound the memory of the
        # deltas (the mean over samples is the chunks' weighted mean)
        return sum(network_sensitivity(model, c, per_sample, None, outputs) * len(c)
                   for c in inputs.split(CHUNK)) / len(inputs)
    total = inputs.new_zeros((), dtype=torch.get_default_dtype()) \
        if not inputs.is_floating_point() else inputs.new_zeros(())
    for layer, a, delta, tail in _layer_terms(model, inputs, forward, outputs,
                                              summed=per_sample):
        if per_sample:
            m = _abs_weight_grad(layer, a, delta, tail)
        else:
            m = _signed_weight_grad(layer, a, _apply(tail, delta)).abs().sum(0)
        total = total + (layer.weight.abs() * m).sum()
    return total / inputs.shape[0]


@torch.no_grad()
def sensitivity_map(model, inputs: torch.Tensor, layer: int = -1) -> torch.Tensor:
    """Per-weight sensitivity |w| * mean_n sum_k |dO_k(n)/dw| of unit `layer` (default the
    last), shaped like the weight as the layer multiplies by it; no autograd graph. For a
    conv unit it is the untied-position upper bound used by `network_sensitivity`. Summed
    over all units it equals network_sensitivity(model, inputs, per_sample=True)."""
    if not model.chain and len(inputs) > CHUNK:  # see network_sensitivity
        return sum(sensitivity_map(model, c, layer) * len(c)
                   for c in inputs.split(CHUNK)) / len(inputs)
    return sensitivity_maps(model, inputs)[layer]


@torch.no_grad()
def sensitivity_maps(model, inputs: torch.Tensor) -> list[torch.Tensor]:
    """`sensitivity_map` of every unit, from one pass."""
    if not model.chain and len(inputs) > CHUNK:
        parts = [sensitivity_maps(model, c) for c in inputs.split(CHUNK)]
        return [sum(p[i] * len(c) for p, c in zip(parts, inputs.split(CHUNK))) / len(inputs)
                for i in range(len(model.units))]
    terms = {t[0].index: t for t in _layer_terms(model, inputs, summed=True)}
    return [mod.weight.abs() * _abs_weight_grad(mod, a, delta, tail) / inputs.shape[0]
            for mod, a, delta, tail in (terms[i] for i in range(len(model.units)))]


def _tokens(a, d):
    """A Linear's input and deltas with its leading dimensions (tokens) as rows."""
    return a.reshape(-1, a.shape[-1]), d.reshape(-1, d.shape[-1])


def _abs_weight_grad(layer, a, delta, tail):
    """sum_n sum_k |delta_k(n)| (x) |a(n)| in the weight's shape (conv and tokens: summed
    over positions)."""
    d = _apply(tail, delta.abs().sum(0, keepdim=True))[0]  # D(n, ...) = sum_k |delta_k(n, ...)|
    if layer.kind == "fc":
        a2, d2 = _tokens(a, d)
        return d2.T @ a2.abs()
    return _weight_grad(layer)(a.abs(), layer.weight.shape, d, *_conv(layer))


def _weight_grad(layer):
    return conv1d_weight if layer.weight.dim() == 3 else conv2d_weight


def _signed_weight_grad(layer, a, delta):
    """sum_n delta_k(n) (x) a(n) for every k: shape (K, *weight.shape), one GEMM / conv."""
    k, shape = delta.shape[0], layer.weight.shape
    if layer.kind == "fc":
        a2 = a.reshape(-1, a.shape[-1])
        d = delta.reshape(k, -1, shape[0]).movedim(0, 1).reshape(-1, k * shape[0])
        return (d.T @ a2).view(k, *shape)
    d = delta.movedim(0, 1).reshape(delta.shape[1], k * shape[0], *delta.shape[3:])
    stride, padding, dilation, groups = _conv(layer)
    grad = _weight_grad(layer)
    if groups == 1:  # K output-channel groups stacked: one weight-gradient call
        return grad(a, (k * shape[0], *shape[1:]), d, stride, padding, dilation).view(k, *shape)
    return torch.stack([grad(a, shape, dk, stride, padding, dilation, groups) for dk in delta])


def _apply(tail, d):
    for fn in tail:
        d = fn(d)
    return d


def _layer_terms(model, x: torch.Tensor, forward=None, outputs=None, summed: bool = False):
    """Per unit, in index order: (layer, input a_l, delta, tail), where the deltas dO_k/dz_l
    (K, N, *z_l.shape[1:]) are `_apply(tail, delta)`.

    A chain's deltas of all K outputs come from one explicit K-batched backprop through its
    ops (each op's `backward` maps the K gradients at once: one GEMM / transposed conv per
    layer), built from differentiable ops so that S can be differentiated again. (Measured
    faster than one autograd.grad(..., is_grads_batched=True, create_graph=True) over the
    z_l, and it needs no autograd for `sensitivity_map`.) `tail` holds the ReLU masks,
    max-unpoolings and reshapes met since the layer above: they commute with |.| and with
    the sum over k, so D = sum_k |delta_k| can be formed before them (one unpooling instead
    of K)."""
    if not model.chain:
        return _graph_terms(model, x, forward, outputs, summed)
    z, tape = _forward(model, x, forward)
    delta, tail, terms = _output_jacobian(model, z, outputs), [], {}
    left = len({op.layer for op, _ in tape.ops if op.layer is not None})
    for op, saved in reversed(tape.ops):  # backward, K-batched
        if op.layer is None:
            tail.append(partial(op.backward, saved=saved))
            continue
        terms[op.layer] = (*saved, delta, tuple(tail))  # (layer, a, delta, tail)
        left -= 1
        if not left:  # nothing below the first compute layer needs a delta
            break
        delta, tail = op.backward(_apply(tail, delta), saved), []
    return [terms[i] for i in sorted(terms)]


def _output_jacobian(model, z: torch.Tensor,
                     outputs: torch.Generator | None = None) -> torch.Tensor:
    """dO_k/dz_L(n) for all k: (K, N, K); with a generator `outputs`, K dO_k(n)/dz_L(n) for
    one output k(n) drawn uniformly per sample: (1, N, K)."""
    if model.output_activation == "sigmoid":
        s = torch.sigmoid(z)
        jac = torch.diag_embed(s * (1 - s))
    else:
        p = torch.softmax(z, -1)  # dO_k/dz_i = p_k (delta_ki - p_i)
        jac = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    if outputs is None:
        return jac.movedim(1, 0)
    n, k = z.shape
    pick = torch.randint(k, (n,), generator=outputs, device=outputs.device).to(z.device)
    return (k * jac[torch.arange(n, device=z.device), pick])[None]


def _graph_terms(model, x: torch.Tensor, forward=None, outputs=None, summed: bool = False):
    """`_layer_terms` of any network: the deltas dO_k/dz_l of all its units, one backward
    pass per output over its tape (see the module docstring). `summed`: each unit's delta
    as sum_k |dO_k/dz_l| (1, N, ...), all the per-sample S needs, without the K deltas
    side by side. A unit run more than once (a shared layer) has a term per run."""
    create = torch.is_grad_enabled()
    with torch.enable_grad():
        z, tape = _forward(model, x, forward)
        jac = _output_jacobian(model, z, outputs)  # (K', N, K)
        ys = [y for _, _, y, _ in tape.units]
        # one backward pass per output k (on ResNet-20 with BatchNorm, measured faster than
        # one K-batched autograd.grad(..., is_grads_batched=True): 8.1 s against 12.4 s
        # for a batch of 64 with the graph kept for the second derivative)
        deltas = None
        for j in jac:
            d = torch.autograd.grad(z, ys, j, retain_graph=True, create_graph=create,
                                    allow_unused=True)
            d = [torch.zeros_like(y) if g is None else g for g, y in zip(d, ys)]
            if summed:
                d = [g.abs()[None] for g in d]
                deltas = d if deltas is None else [a + b for a, b in zip(deltas, d)]
            else:
                deltas = [[g] for g in d] if deltas is None else [
                    a + [g] for a, g in zip(deltas, d)]
        if not summed:
            deltas = [torch.stack(d) for d in deltas]
    return [(_Layer(model.units[i], w, i), a, d, ())
            for (i, a, _, w), d in sorted(zip(tape.units, deltas), key=lambda t: t[0][0])]
