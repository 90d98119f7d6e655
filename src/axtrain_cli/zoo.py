"""Networks beyond the paper's, as any user network is given to axtrain: plain nn.Modules
built from the dataset's `input_shape` and `n_classes` (conf/topology/<name>.yaml names
them with `_target_`). Their Linear and Conv2d layers run on the hardware models, their
BatchNorms fold into the convolutions before them (see `axtrain_cli.graph`).

ResNet20       He et al., CVPR 2016, section 4.2: a 3x3 conv of 16, three stages of three
               basic blocks (16, 32, 64 channels; stride 2 at the first block of stages 2
               and 3), shortcuts by subsampling and zero-padding the channels (option A),
               global average pooling, a linear classifier: 0.27 M parameters.
VGG            VGG-style: stages of two 3x3 conv-BatchNorm-ReLU and a 2x2 max pooling,
               then a linear classifier.
MobileNet      depthwise-separable (MobileNet v1 style): a 3x3 conv, then blocks of a 3x3
               depthwise conv (groups = channels) and a 1x1 pointwise conv, each with
               BatchNorm and ReLU; global average pooling, a linear classifier.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


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
