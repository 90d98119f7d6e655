"""The zoo: the paper's networks and others, as any user network is given to axtrain:
plain nn.Modules built from the dataset's `input_shape` and `n_classes`
(conf/topology/<name>.yaml names them: `kind` for the paper's, `_target_` for the rest),
run by their own forward on the hardware models (`axtrain_cli.networks`).

MLP            the paper's Table 1 MLPs: Linear layers with ReLU between them (the
               sigmoid of the outputs is the loss's, outside the network).
LeNet5         the paper's LeNet-5 for 1 x 28 x 28 inputs: conv 6@5x5 (padding 2), 2x2
               max pooling, conv 16@5x5, pooling, 120, 84, n_classes, ReLU between.

ResNet20       He et al., CVPR 2016, section 4.2: a 3x3 conv of 16, three stages of three
               basic blocks (16, 32, 64 channels; stride 2 at the first block of stages 2
               and 3), shortcuts by subsampling and zero-padding the channels (option A),
               global average pooling, a linear classifier: 0.27 M parameters.
VGG            VGG-style: stages of two 3x3 conv-BatchNorm-ReLU and a 2x2 max pooling,
               then a linear classifier.
MobileNet      depthwise-separable (MobileNet v1 style): a 3x3 conv, then blocks of a 3x3
               depthwise conv (groups = channels) and a 1x1 pointwise conv, each with
               BatchNorm and ReLU; global average pooling, a linear classifier.
ViT            a small vision transformer (Dosovitskiy et al., ICLR 2021): a patch
               convolution, a class token and learnt position embeddings, encoder blocks
               of pre-norm nn.MultiheadAttention and an MLP, a linear head on the class
               token. Attention's QK^T and AV run on the hardware too.
KWS            a 1-D CNN for sequences, keyword-spotting style (inputs C x L, e.g. MFCC
               frames): Conv1d-BatchNorm-ReLU blocks with strides, global average pooling,
               a linear classifier.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MLP(nn.Sequential):
    """Linear layers of the widths `hidden`, ReLU between them; `label` the widths, e.g.
    30-64-64-2 (as Table 1 names the networks)."""

    def __init__(self, input_shape: list[int], n_classes: int, hidden: list[int] = ()):
        sizes = [math.prod(input_shape), *hidden, n_classes]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
        super().__init__(*layers)
        self.label = "-".join(map(str, sizes))


class LeNet5(nn.Sequential):
    """LeNet-5 as the paper's Table 1 runs it on MNIST (1 x 28 x 28)."""

    label = "LeNet-5"

    def __init__(self, input_shape: list[int], n_classes: int):
        if list(input_shape)[-2:] != [28, 28]:
            raise ValueError(f"topology lenet5 needs 1x28x28 inputs, got {list(input_shape)}")
        super().__init__(nn.Conv2d(input_shape[0], 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, n_classes))


def _conv_bn(c_in: int, c_out: int, stride: int = 1, groups: int = 1, k: int = 3):
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(c_out)]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BatchNorm layers and the identity shortcut (option A where the shape
    changes: subsample by 2 and pad the new channels with zeros)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(c_in, c_out, stride)
        self.conv2, self.bn2 = _conv_bn(c_out, c_out)
        self.stride, self.pad = stride, c_out - c_in

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x
        if self.stride != 1 or self.pad:
            short = x[:, :, ::self.stride, ::self.stride]
            short = F.pad(short, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return F.relu(out + short)


class ResNet20(nn.Module):
    def __init__(self, input_shape: list[int], n_classes: int, width: int = 16,
                 blocks: int = 3):
        super().__init__()
        c = input_shape[0]
        self.conv, self.bn = _conv_bn(c, width)
        layers, c_in = [], width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks):
                layers.append(BasicBlock(c_in, c_out, 2 if stage and not b else 1))
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, n_classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class VGG(nn.Module):
    def __init__(self, input_shape: list[int], n_classes: int,
                 widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        layers, c = [], input_shape[0]
        for w in widths:
            layers += [*_conv_bn(c, w), nn.ReLU(), *_conv_bn(w, w), nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        side = input_shape[1] // 2 ** len(widths)
        self.fc = nn.Linear(c * side * side, n_classes)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))


class MobileNet(nn.Module):
    def __init__(self, input_shape: list[int], n_classes: int,
                 widths: tuple[int, ...] = (32, 64, 128, 128, 256),
                 strides: tuple[int, ...] = (1, 2, 1, 2, 1)):
        super().__init__()
        c = widths[0]
        layers = [*_conv_bn(input_shape[0], c), nn.ReLU()]
        for w, s in zip(widths[1:], strides[1:]):
            layers += [*_conv_bn(c, c, s, groups=c), nn.ReLU(), *_conv_bn(c, w, k=1), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class Block(nn.Module):
    """A pre-norm transformer encoder block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, dim: int, heads: int, mlp: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(mlp, dim), nn.Dropout(dropout))

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, input_shape: list[int], n_classes: int, patch: int = 4, dim: int = 32,
                 depth: int = 2, heads: int = 4, mlp: int = 64, dropout: float = 0.0):
        super().__init__()
        c, h, w = input_shape
        self.patch = nn.Conv2d(c, dim, patch, patch)
        tokens = (h // patch) * (w // patch) + 1
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.02)
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp, dropout) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)  # (N, patches, dim)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1) + self.pos
        return self.head(self.norm(self.blocks(x))[:, 0])


class KWS(nn.Module):
    def __init__(self, input_shape: list[int], n_classes: int,
                 widths: tuple[int, ...] = (32, 32, 64), strides: tuple[int, ...] = (2, 2, 1),
                 kernel: int = 5):
        super().__init__()
        layers, c = [], input_shape[0]
        for w, s in zip(widths, strides):
            layers += [nn.Conv1d(c, w, kernel, s, kernel // 2, bias=False), nn.BatchNorm1d(w),
                       nn.ReLU(inplace=True)]
            c = w
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(-1))
