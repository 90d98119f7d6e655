"""A network from a topology config: the paper's (`kind: mlp | lenet5`, zoo members) or any
importable nn.Module class or factory function named by `_target_`, built the way
hydra.utils.instantiate builds it (nested `_target_`s included), with the dataset's
`input_shape` and `n_classes` where the callable takes them."""

from __future__ import annotations

import inspect

from torch import nn

from . import zoo
from .network import Network
from .runtime import NetworkError

KINDS = {"mlp": lambda shape, n, a: zoo.MLP(shape, n, a.get("hidden", [])),
         "lenet5": lambda shape, n, a: zoo.LeNet5(shape, n)}


def build_network(spec, input_shape: list[int], n_classes: int, *,
                  unsupported: str = "refuse", sample=None) -> Network:
    """The Network of a topology config (a DictConfig or a mapping)."""
    from omegaconf import OmegaConf

    args = OmegaConf.to_container(spec, resolve=True) if OmegaConf.is_config(spec) \
        else dict(spec)
    label = args.pop("name", None)
    activation = args.pop("output_activation", "sigmoid")
    if "_target_" not in args:  # the paper's, named by the widths it builds
        kind = args.get("kind", "mlp")
        if kind not in KINDS:
            raise NetworkError(f"topology.kind={kind!r}: allowed {', '.join(KINDS)}")
        model, label = KINDS[kind](list(input_shape), n_classes, args), None
    else:
        model = instantiate_model(args, input_shape, n_classes)
    return Network(model, input_shape, n_classes, activation, label, sample, unsupported)


def model_target(target: str):
    """The class or function `module.name` names (the module on the Python path)."""
    import importlib

    module, _, name = str(target).rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), name) if module else None
    except ImportError as e:
        raise NetworkError(f"topology._target_={target}: cannot import {module} ({e}); put "
                           "its file on the Python path (e.g. PYTHONPATH=.)") from None
    except AttributeError:
        raise NetworkError(f"topology._target_={target}: {module} has no {name!r}") from None
    if not callable(obj) or (isinstance(obj, type) and not issubclass(obj, nn.Module)):
        raise NetworkError(f"topology._target_={target} is not a torch.nn.Module class or a "
                           "function that returns one")
    return obj


def instantiate_model(args: dict, input_shape: list[int], n_classes: int) -> nn.Module:
    """hydra.utils.instantiate of the config, plus input_shape and n_classes for a callable
    that takes them; one-line NetworkError for what is not a network."""
    from hydra.utils import instantiate

    target = args["_target_"]
    obj = model_target(target)
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for key in args:
        if key != "_target_" and key not in params and not takes_any and params:
            allowed = ", ".join(k for k in params if k != "self")
            raise NetworkError(f"topology.{key}: {target} takes no argument {key!r} (allowed "
                               f"{allowed})")
    extra = {k: v for k, v in (("input_shape", list(input_shape)), ("n_classes", n_classes))
             if k in params or takes_any}
    try:
        model = instantiate({**args, **extra}, _convert_="all")
    except Exception as e:
        cause = e.__cause__ or e
        raise NetworkError(f"topology._target_={target}: building it failed "
                           f"({type(cause).__name__}: {' '.join(str(cause).split())[:200]})") \
            from None
    if not isinstance(model, nn.Module):
        raise NetworkError(f"topology._target_={target} returned {type(model).__name__}: "
                           "allowed a torch.nn.Module")
    return model
