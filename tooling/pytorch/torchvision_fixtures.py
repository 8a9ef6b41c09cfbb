"""torchvision 0.14's nets (Debian's python3-torchvision) with the formula's weights (formula.py), for
@convnets/architectures' `torchvision/*` nets: each one's state-dict names and shapes (what ImageNet weights load
by) and its eval-mode logits for the formula's input at 224 px, ImageNet's 1000 classes.
Run: /usr/bin/python3 tooling/pytorch/torchvision_fixtures.py
"""
import json, os
import torch
import torchvision
from formula import ROOT, formula_input, formula_net

OUT = os.path.join(ROOT, 'packages', 'architectures', 'src', '__fixtures__', 'torchvision.json')
SIZE = 224
out = {}
for name in ['resnet18', 'resnet34', 'resnet50']:
    net = formula_net(lambda: getattr(torchvision.models, name)(weights=None), SIZE, 3)
    with torch.no_grad():
        logits = net(formula_input(2, 3, SIZE))
    out[name] = {
        'inputSize': SIZE,
        'state': [[k, list(v.shape)] for k, v in net.state_dict().items()],
        'logits': [[round(v, 6) for v in row] for row in logits.tolist()],
    }
    print(name, logits.abs().max().item())
with open(OUT, 'w') as f:
    json.dump({'torchvision': torchvision.__version__, 'nets': out}, f)
print('wrote', OUT)
