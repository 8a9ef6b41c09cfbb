"""The notebook's PyTorch nets (tooling/pytorch/pytorch_seed_nets.py) for the PyTorch sides of the benchmarks."""
import importlib.util, os
from torch import nn

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tooling', 'pytorch', 'pytorch_seed_nets.py')


def load(path=DEFAULT_PATH):
    """The definitions file as a module."""
    spec = importlib.util.spec_from_file_location('seed_nets', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_in_channels(net, channels):
    """Replaces the first convolution by one taking `channels` inputs (MNIST: 1), as convnets' inChannels."""
    first = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    if first.in_channels == channels:
        return net
    parent = next(p for p in net.modules() if any(c is first for c in p.children()))
    name = next(n for n, c in parent.named_children() if c is first)
    setattr(parent, name, nn.Conv2d(channels, first.out_channels, first.kernel_size, first.stride, first.padding))
    return net
