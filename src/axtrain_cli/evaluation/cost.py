"""Each multiplier of a knob set as a synthesised circuit (`axtrain synth`): its error in
use, gates, transistors, relative area and relative switching power, beside its proxy
power; and, on a trained network's own operands, its switching there.

`network_streams` (a bp or act run's network) gives what `switching_network` is measured
on. The network runs on exact hardware over `IMAGES` test inputs; from each compute layer,
streams of (activation word, weight word) pairs are taken in the order an
output-stationary array feeds one multiplier: all the products of one output (one neuron,
or one output channel at one position) in a row, input by input (a convolution's window
channel by channel, row by row); `PAIRS` pairs per layer from outputs drawn at random
(seed 0). A multiplier's figure is its toggles over every layer's stream, each layer
weighted by its multiplications, against the exact multiplier's.
"""

from __future__ import annotations

from pathlib import Path

COLUMNS = ["knobs", "multiplier", "bits", "mae_pct", "mre_pct", "gates", "transistors",
           "area", "switching", "proxy", "tool"]
IMAGES, PAIRS = 8, 20_000


def rows(cfg, streams=None) -> list[dict]:
    """One row per distinct multiplier of cfg.knobs (ValueError: one line); with `streams`
    (`network_streams`), the switching on them too."""
    from .. import knobs as kn

    bits = cfg.hardware.bits
    reference = kn.cost_reference(cfg.hardware)
    seen: dict[str, dict] = {}
    exact_toggles: dict[bool, float] = {}  # on the streams, per signedness
    for name, spec in cfg.knobs.items():
        knob = kn.build(name, spec, bits)
        for mult in knob.multipliers:  # a knob's own and its layers'
            label = mult.label
            if label in seen:
                if name not in seen[label]["knobs"].split():
                    seen[label]["knobs"] += f" {name}"
                continue
            circuit = mult.circuit(bits)
            row = {"knobs": name, "multiplier": label, "bits": bits,
                   **error_in_use(mult, bits),
                   "proxy": round(mult.power(), 4)}
            if circuit is None:
                row.update(gates="", transistors="", area="", switching="", tool="(no circuit)")
            else:
                from ..hardware import synth

                c = synth.relative_cost(circuit, bits, reference)
                row.update(gates=c["gates"], transistors=c["transistors"],
                           area=round(c["area"], 4), switching=round(c["switching"], 4),
                           tool=c["tool"])
                if streams is not None:  # against the exact multiplier on the same streams
                    from ..hardware import circuits

                    base = reference or circuits.exact(bits, circuit.signed)
                    if base not in exact_toggles:
                        exact_toggles[base] = stream_toggles(synth.synthesize(base), bits,
                                                             base.signed, streams)
                    ours = stream_toggles(synth.synthesize(circuit), bits, circuit.signed, streams)
                    row["switching_network"] = round(ours / exact_toggles[base], 4)
            seen[label] = row
    return list(seen.values())


def error_in_use(multiplier, bits: int, pairs: int = 100_000) -> dict:
    """The multiplier's error on the operands a layer gives it: uniform signed words
    (an unsigned design gets their magnitudes, |a| <= 2^(bits-1), half its input range),
    products as the layer forms them. mae_pct: mean |error| / 2^(2 bits) (EvoApprox's
    MAE%); mre_pct: mean |error| / |exact product| over pairs whose product is not 0."""
    import torch

    from ..hardware import synth

    a, b = (torch.from_numpy(w) for w in synth.uniform_words(bits, pairs, seed=1))
    exact = a * b
    err = (multiplier.products(a, b) - exact).abs().double()
    nz = exact != 0
    return {"mae_pct": round(float(err.mean()) / 2 ** (2 * bits) * 100, 4),
            "mre_pct": round(float((err[nz] / exact[nz].abs()).mean()) * 100, 4)}


def stream_toggles(netlist, bits: int, signed: bool, streams) -> float:
    """Toggles of `netlist` over the layers' operand streams, each layer weighted by its
    multiplications."""
    from ..hardware import synth

    return sum(mults * netlist.switching(*synth.operands(a, b, bits, signed))
               for a, b, mults in streams)


def network_streams(cfg, file: Path, images: int = IMAGES, pairs: int = PAIRS,
                    seed: int = 0):
    """[(activation words, weight words, multiplications)] per compute layer of the
    network in the checkpoint `file` (a run's model.pt; `cfg`: that run's settings),
    output-stationary order (module doc)."""
    import torch

    from ..data import load_split
    from ..knobs import Knob
    from ..networks import calibrate, make_plan, network_of, upgrade_state_dict
    from ..results import load_checkpoint

    split = load_split(cfg.dataset, cfg.seed)
    net = network_of(cfg)
    net.load_state_dict(upgrade_state_dict(net, load_checkpoint(file)["state_dict"]))
    net.eval()
    bits = cfg.hardware.bits
    recorder = _recorder()
    plan = make_plan(net, Knob("exact", recorder), bits, calibrate(net, split.x_train, bits),
                     weight_format=cfg.hardware.weight_format)
    with torch.no_grad():
        net.logits(split.x_test[:images], plan)
    gen = torch.Generator().manual_seed(seed)
    return [(*_stream(qx, qw, call, pairs, gen), m)
            for (qx, qw, call), m in zip(recorder.seen, net.mult_counts())]


def windows(qx, qw, call):
    """(cols (N, R, P), weights (O, W), groups): output o at position p of input n takes
    the products of cols[n, g W:(g + 1) W, p] with weights[o], g = o // (O / groups)."""
    import torch.nn.functional as F

    from ..hardware.layer import padding2d, pair

    if call.kind == "fc":  # (N, ..., I) inputs (tokens as rows), (O, I) weights
        return qx.reshape(-1, qx.shape[-1])[:, :, None], qw, 1
    stride, padding, dilation, groups = call.conv_args
    first = 1 if qw.dim() == 3 else None  # a 1-D convolution: height 1
    pad = padding2d(padding, qw, dilation)
    if qw.dim() == 3:
        qx, qw = qx[:, :, None], qw[:, :, None]
    kh, kw = qw.shape[2:]
    cols = F.unfold(qx.double(), (kh, kw), dilation=pair(dilation, first), padding=pad,
                    stride=pair(stride, first))  # (N, C kh kw, L): window channel by channel
    return cols, qw.reshape(qw.shape[0], -1), groups


def _stream(qx, qw, call, pairs: int, gen):
    """Up to `pairs` (activation, weight) word pairs of one layer, output by output."""
    import numpy as np
    import torch

    cols, w, groups = windows(qx, qw, call)
    (n, _, positions), (o, width) = cols.shape, w.shape
    count = max(1, -(-pairs // width))
    pick = [torch.randint(0, k, (count,), generator=gen) for k in (n, o, positions)]
    a, b = [], []
    for i, j, p in zip(*pick):
        g = int(j) // (o // groups)
        a.append(cols[i, g * width:(g + 1) * width, p])
        b.append(w[j])
    a, b = torch.cat(a)[:pairs], torch.cat(b)[:pairs]
    return a.round().long().numpy().astype(np.int64), b.round().long().numpy().astype(np.int64)


def _recorder():
    """The exact multiplier that also records each layer call's activation and weight
    words (and the call: the layer's kind and module)."""
    from ..hardware import Exact, quantize

    class Recorder(Exact):
        def __init__(self):
            object.__setattr__(self, "seen", [])

        def layer(self, x, fl, bits, w, w_fl, b, call):
            self.seen.append((quantize(x.detach(), fl, bits), w.detach() * 2.0**w_fl, call))
            return super().layer(x, fl, bits, w, w_fl, b, call)

    return Recorder()
