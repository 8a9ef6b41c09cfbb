"""ImageNet's 1000 class names in torchvision's order (torchvision 0.14's models._meta._IMAGENET_CATEGORIES, the
names its weights' metadata carries), written as @convnets/datasets' src/imagenet-classes.ts.
Run: /usr/bin/python3 tooling/pytorch/imagenet_classes.py
"""
import json, os
import torchvision
from torchvision.models._meta import _IMAGENET_CATEGORIES

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
OUT = os.path.join(ROOT, 'packages', 'datasets', 'src', 'imagenet-classes.ts')
assert len(_IMAGENET_CATEGORIES) == 1000
with open(OUT, 'w') as f:
    f.write('// ImageNet\'s 1000 class names, in the order of its labels and of every ImageNet net\'s logits: a fact taken\n')
    f.write(f'// from torchvision {torchvision.__version__} (models._meta._IMAGENET_CATEGORIES), written by\n')
    f.write('// tooling/pytorch/imagenet_classes.py. Do not edit by hand.\n')
    f.write('export const IMAGENET_CLASSES: readonly string[] = [\n')
    for name in _IMAGENET_CATEGORIES:
        f.write(f'  {json.dumps(name)},\n')
    f.write('];\n')
print('wrote', OUT)
