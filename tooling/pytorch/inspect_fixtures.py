"""Intermediate outputs (forward hooks) and Grad-CAM maps of ResNet-18 and GoogLeNet, with the formula's weights and
input (formula.py), for @convnets/nn's forwardWithOutputs and gradCam. Of each output (NCHW order) and map, every
`stride`-th value is kept (an odd stride giving at most ~200 values), so the fixture stays small and still pins
every layer down.

Grad-CAM: the layer's channels weighted by the mean gradient of the class's logit over each channel, summed,
ReLU'd, upsampled bilinearly to the input (F.interpolate, align_corners=False), scaled to [0, 1] by min and max.
"""
import json, os
import torch
import torch.nn.functional as F
from formula import ROOT, formula_input, formula_net, seed

OUT = os.path.join(ROOT, 'packages', 'architectures', 'src', '__fixtures__', 'inspect.json')


def sampled(t, most=200):
    values = t.detach().flatten().tolist()
    stride = max(7, -(-len(values) // most)) | 1
    return {'shape': list(t.shape), 'stride': stride, 'values': [round(v, 6) for v in values[::stride]]}


def module_at(net, path):
    m = net
    for part in path.split('.'):
        m = m[int(part)] if part.isdigit() else getattr(m, part)
    return m


def outputs(net, x, paths):
    seen = {}
    hooks = [module_at(net, p).register_forward_hook(lambda m, i, o, p=p: seen.__setitem__(p, o.detach()))
             for p in paths]
    with torch.no_grad():
        logits = net(x)
    for h in hooks:
        h.remove()
    return logits, seen


def grad_cam(net, x, path, cls=None):
    seen = {}

    def keep(module, inputs, output):  # returns None: the output goes on unchanged
        output.retain_grad()
        seen['a'] = output

    hook = module_at(net, path).register_forward_hook(keep)
    logits = net(x)
    hook.remove()
    probabilities = logits.softmax(1)[0]
    predicted = int(probabilities.argmax())
    cls = predicted if cls is None else cls
    logits[0, cls].backward()
    a = seen['a']
    weights = a.grad.mean((2, 3), keepdim=True)
    cam = F.relu((weights * a).sum(1, keepdim=True))
    up = F.interpolate(cam, size=x.shape[2:], mode='bilinear', align_corners=False)[0, 0]
    low, high = up.min(), up.max()
    up = (up - low) / (high - low) if high > low else torch.zeros_like(up)
    return {'class': cls, 'probability': float(probabilities[cls]), 'predicted': predicted,
            'map': sampled(up)}


cases = {
    'resnet18': (seed.res_net, 64, 3, ['0', '1', '1.0.conv1', '2', '3', '4', '5'], ['4', '3']),
    'googlenet': (seed.google_net, 96, 3, ['0', '1', '2', '2.0', '3', '4', '5'], ['3']),
}
out = {}
for name, (build, size, channels, paths, cam_layers) in cases.items():
    net = formula_net(build, size, channels)
    x = formula_input(1, channels, size)
    logits, seen = outputs(net, x, paths)
    out[name] = {
        'inputSize': size, 'inChannels': channels,
        'logits': [round(v, 6) for v in logits[0].tolist()],
        'outputs': {p: sampled(seen[p]) for p in paths},
        # the first layer is the default one (the last top-level feature map)
        'gradcam': [{'layer': layer, **grad_cam(net, x, layer)} for layer in cam_layers]
        + [{'layer': cam_layers[0], 'asked': 3, **grad_cam(net, x, cam_layers[0], 3)}],
    }
    print(name, {p: list(v.shape) for p, v in seen.items()})
with open(OUT, 'w') as f:
    json.dump({'torch': torch.__version__, 'nets': out}, f)
print('wrote', OUT, os.path.getsize(OUT), 'bytes')
