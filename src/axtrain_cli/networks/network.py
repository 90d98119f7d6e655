"""A network as axtrain runs it: the user's nn.Module, called through its own forward, with
what runs on the hardware stated (`coverage`)."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import NetworkError
from .analysis import Recorder
from .runtime import Run


def read_logits(out, model: nn.Module) -> torch.Tensor:
    """A model's output as its logits: a tensor; a tuple or list (its first element); an
    object or dict with `logits` (Hugging Face outputs)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    logits = out.get("logits") if isinstance(out, dict) else getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    raise NetworkError(f"{type(model).__name__} returns {type(out).__name__}: allowed a "
                       "tensor of logits, a tuple (its first element is read) or an object "
                       "with `logits`")


class Network(nn.Module):
    """The user's model (`self.model`, its state_dict the Network's under `model.`) and what
    the accelerator holds of it: `units` (products with a stored weight, in the order the
    forward first runs them, BatchNorms folded), `pairs` (products of two activations),
    `coverage`. `logits(x, plan)` runs the model's own forward on the hardware of `plan`
    (None: float); see runtime.Run.

    sample: an input batch (its dtype and shape: token ids are integers); None: zeros of
    `input_shape`. unsupported: refuse (products axtrain does not model are an error) or
    float (run in float, counted in the coverage)."""

    def __init__(self, model: nn.Module, input_shape: list[int], n_classes: int | None = None,
                 output_activation: str = "sigmoid", label: str | None = None,
                 sample: torch.Tensor | None = None, unsupported: str = "refuse"):
        super().__init__()
        self.model = model
        self.input_shape = list(input_shape)
        self.output_activation = output_activation
        self.label = label or getattr(model, "label", None) or type(model).__name__
        self.training = model.training  # the model's mode is the network's
        self.unsupported = unsupported
        self.units = []
        p = next(model.parameters(), None)
        if sample is None:
            sample = torch.zeros(2, *self.input_shape, device=p.device if p is not None
                                 else "cpu", dtype=p.dtype if p is not None else None)
        self.input_dtype = sample.dtype
        self._analyse(sample[:2], n_classes)

    def _analyse(self, sample: torch.Tensor, n_classes) -> None:
        modes = [(m, m.training) for m in self.modules()]  # each module's own, restored
        self.eval()  # BatchNorm's running statistics stay as they are, dropout off
        rec = Recorder(self.model, sample)
        try:
            with torch.no_grad(), Run(self, recorder=rec, unsupported=self.unsupported,
                                      inputs=sample):
                z = read_logits(self.model(sample), self.model)
        except NetworkError:
            raise
        except Exception as e:
            raise NetworkError(f"{type(self.model).__name__} does not run on inputs of shape "
                               f"{list(sample.shape[1:])}: {type(e).__name__}: "
                               f"{' '.join(str(e).split())[:200]}") from None
        finally:
            for m, mode in modes:
                m.training = mode
        a = rec.finish(self.units)
        self.pairs, self.coverage, self._trace = a.pairs, a.coverage, a.trace
        self.shared_first, self.program, self._widest = a.shared_first, a.program, a.widest
        self.ops = a.ops
        if not self.units:
            raise NetworkError(f"{type(self.model).__name__} has no product with a stored "
                               "weight (nn.Linear, nn.Conv1d, nn.Conv2d, a parameter in "
                               "matmul or einsum): nothing would run on the hardware models")
        if z.dim() != 2:
            raise NetworkError(f"{type(self.model).__name__} returns logits of shape "
                               f"{list(z.shape)} for a batch of {len(sample)}: allowed "
                               "(batch, n_classes)")
        if n_classes is not None and z.shape[1] != n_classes:
            raise NetworkError(f"{type(self.model).__name__} gives {z.shape[1]} outputs per "
                               f"sample, the dataset has {n_classes} classes")

    @property
    def chain(self) -> bool:
        """The forward is a chain of layers the sensitivity's explicit backward knows."""
        return self.program is not None

    def outputs(self, x, plan=None, ste: bool = False):
        """Network outputs O after the output nonlinearity (sigmoid as in the paper)."""
        z = self.logits(x, plan, ste)
        return torch.sigmoid(z) if self.output_activation == "sigmoid" else torch.softmax(z, -1)

    forward = outputs

    def logits(self, x: torch.Tensor, plan=None, ste: bool = False, observe=None,
               tape=None, observe_pair=None, kwargs: dict | None = None) -> torch.Tensor:
        """Pre-activation outputs (N, K), or (T, N, K) for a plan with T trials. The model's
        own forward runs (with the keyword arguments `kwargs`); `observe(i, a, y)` sees unit
        i's input and output (in the autograd graph), `observe_pair(j, a, b)` pair j's
        operands, `tape` (sensitivity.Tape) receives what the sensitivity needs (float
        network only)."""
        kwargs = kwargs or {}
        if plan is None and observe is None and tape is None and observe_pair is None:
            return read_logits(self.model(x, **kwargs), self.model)  # float: nothing to catch
        trials = plan.trials if plan is not None else None
        inputs = x
        if trials and not self.shared_first:
            inputs = x = x.repeat(trials, *([1] * (x.dim() - 1)))
        with Run(self, plan, ste, observe, observe_pair, tape, trials, inputs,
                 unsupported=self.unsupported):
            z = read_logits(self.model(x, **kwargs), self.model)
        return z.view(trials, -1, z.shape[-1]) if trials else z

    # ------------------------------------------------------------------- what it holds
    def trace(self) -> list[dict]:
        """Per unit and per inference: input and output sizes, multiplications."""
        return self._trace

    def mult_counts(self) -> list[int]:
        """Multiplications per inference, per unit."""
        return [t["mults"] for t in self._trace]

    def pair_mults(self) -> float:
        """Multiplications per inference of the pairs (products of two activations)."""
        return sum(p.macs for p in self.coverage.parts if p.note == "two activations")

    def word_counts(self, store_biases: bool = True) -> list[int]:
        """Stored parameter words per unit (a unit without a bias stores none)."""
        return [u.weight.numel() + (u.outputs if store_biases and u.has_bias else 0)
                for u in self.units]

    @property
    def calibration_batch(self) -> int:
        """Samples per pass when measuring activation ranges (16 MB of activations)."""
        return max(1, (1 << 22) // self.floats_per_sample(1))

    def floats_per_sample(self, trials: int) -> int:
        """The widest activation per input sample with `trials` trials (chunking the test
        set so that no tensor outgrows the allocator's reuse): the shared input, then every
        trial's activations."""
        first = self._trace[0]["inputs"] if self._trace else 0
        return max(first, max(1, trials) * self._widest)
