"""A network from its topology: the paper's (`kind: mlp | lenet5`, zoo members), a network
of your own (a ModelSpec, whose factory builds it, or the nn.Module itself)."""

from __future__ import annotations

import dataclasses
import inspect

from torch import nn

from ..errors import NetworkError
from ..settings import ModelSpec, to_dict
from . import zoo
from .network import Network

KINDS = {"mlp": lambda shape, n, a: zoo.MLP(shape, n, a.get("hidden", [])),
         "lenet5": lambda shape, n, a: zoo.LeNet5(shape, n)}


def build_network(spec, input_shape: list[int], n_classes: int, *,
                  unsupported: str = "refuse", sample=None) -> Network:
    """The Network of `spec`: a paper topology (TopologyConf, or a mapping with `kind`), a
    ModelSpec (built by its factory), or an nn.Module of yours."""
    label, activation = None, "sigmoid"
    if isinstance(spec, nn.Module):
        model = spec
    elif isinstance(spec, ModelSpec):
        if spec.factory is None:
            raise NetworkError(f"topology._target_={spec.target}: nothing builds it here: "
                               "allowed a ModelSpec with its factory (the command line makes "
                               "one), or the nn.Module itself")
        model = spec.factory(list(input_shape), n_classes)
        label, activation = spec.name, spec.output_activation
    else:  # the paper's, named by the widths it builds
        args = to_dict(spec) if dataclasses.is_dataclass(spec) else dict(spec)
        activation = args.get("output_activation", "sigmoid")
        kind = args.get("kind", "mlp")
        if kind not in KINDS:
            raise NetworkError(f"topology.kind={kind!r}: allowed {', '.join(KINDS)}")
        model = KINDS[kind](list(input_shape), n_classes, args)
    return Network(model, input_shape, n_classes, activation, label, sample, unsupported)


def with_shape(obj, target: str, args: dict, input_shape: list[int], n_classes: int,
               build) -> nn.Module:
    """`build(kwargs)` of the class or function `obj` (`target` names it): `args`, plus
    input_shape and n_classes where it takes them; one-line NetworkError for an argument
    it does not take, a failing build or what is not a network."""
    if not callable(obj) or (isinstance(obj, type) and not issubclass(obj, nn.Module)):
        raise NetworkError(f"topology._target_={target} is not a torch.nn.Module class or a "
                           "function that returns one")
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key in args:
        if key not in params and not takes_any and params:
            allowed = ", ".join(k for k in params if k != "self")
            raise NetworkError(f"topology.{key}: {target} takes no argument {key!r} (allowed "
                               f"{allowed})")
    extra = {k: v for k, v in (("input_shape", list(input_shape)), ("n_classes", n_classes))
             if k in params or takes_any}
    try:
        model = build({**args, **extra})
    except Exception as e:
        cause = e.__cause__ or e
        raise NetworkError(f"topology._target_={target}: building it failed "
                           f"({type(cause).__name__}: {' '.join(str(cause).split())[:200]})") \
            from None
    if not isinstance(model, nn.Module):
        raise NetworkError(f"topology._target_={target} returned {type(model).__name__}: "
                           "allowed a torch.nn.Module")
    return model


def zoo_factory(config: dict):
    """The factory of a `_target_` topology that names a member of axtrain's zoo
    (axtrain_cli.networks.zoo.NAME), built with its arguments as they are; None for any
    other target."""
    module, _, name = str(config["_target_"]).rpartition(".")
    if module != zoo.__name__ or not isinstance(getattr(zoo, name, None), type):
        return None
    args = {k: v for k, v in config.items() if k not in ("_target_", "name", "output_activation")}
    return lambda shape, n: with_shape(getattr(zoo, name), config["_target_"], args, shape, n,
                                       lambda kwargs: getattr(zoo, name)(**kwargs))


def network_of(cfg) -> Network:
    """The network cfg.topology names, for cfg.dataset's inputs and classes."""
    return build_network(cfg.topology, list(cfg.dataset.input_shape), cfg.dataset.n_classes,
                         unsupported=cfg.hardware.unsupported)


def upgrade_state_dict(net: Network, state: dict) -> dict:
    """A checkpoint's state dict for `net`: the paper's networks of earlier versions kept
    their layers as `compute.<i>.weight` / `.bias`; they are the network's units in order."""
    if not any(k.startswith("compute.") for k in state) or any(
            k.startswith("compute.") for k in net.state_dict()):
        return state
    names = {f"compute.{i}": f"model.{u.name}" for i, u in enumerate(net.units)}
    return {names.get(k.rpartition(".")[0], k.rpartition(".")[0]) + "." + k.rpartition(".")[2]: v
            for k, v in state.items()}
