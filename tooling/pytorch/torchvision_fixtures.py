"""torchvision 0.14's nets (Debian's python3-torchvision) with the formula's weights (formula.py), for
@convnets/architectures' `torchvision/*` nets: each one's state-dict names and shapes (what ImageNet weights load
by) and its eval-mode logits for the formula's input (224 px, VGG's 64 px), ImageNet's 1000 classes.
Run: /usr/bin/python3 tooling/pytorch/torchvision_fixtures.py
"""
import json, os
import torch
import torchvision
from formula import ROOT, formula_input, formula_net

OUT = os.path.join(ROOT, 'packages', 'architectures', 'src', '__fixtures__', 'torchvision.json')
# ImageNet's 224 px, but VGG at 64: its convolutions cost 15 GFLOP an image at 224, and at 64 (2x2 features) the
# adaptive pool's overlapping windows are exercised too.
SIZES = {'alexnet': 224, 'vgg11': 64, 'vgg11_bn': 64, 'vgg16': 64, 'googlenet': 224, 'resnet18': 224,
         'resnet34': 224, 'resnet50': 224, 'densenet121': 224}
# As torchvision builds each net for its ImageNet weights: GoogLeNet transforms its input and has no auxiliary
# classifiers then (googlenet(weights=...) sets transform_input and drops aux1/aux2 after loading).
KWARGS = {'googlenet': {'transform_input': True, 'aux_logits': False, 'init_weights': False}}
# VGG-11's logits are not checked: its layers are VGG-16's (no BatchNorm) in a shorter configuration, which its names
# and shapes pin down; each VGG's 130M-weight check costs CI ~20 s.
NAMES_ONLY = {'vgg11'}
out = {}
for name, size in SIZES.items():
    net = formula_net(lambda: getattr(torchvision.models, name)(weights=None, **KWARGS.get(name, {})), size, 3)
    with torch.no_grad():
        logits = net(formula_input(2, 3, size))
    out[name] = {
        'inputSize': size,
        'state': [[k, list(v.shape)] for k, v in net.state_dict().items()],
    }
    if name not in NAMES_ONLY:
        out[name]['logits'] = [[round(v, 6) for v in row] for row in logits.tolist()]
    print(name, logits.abs().max().item())
with open(OUT, 'w') as f:
    json.dump({'torchvision': torchvision.__version__, 'nets': out}, f)
print('wrote', OUT)
