"""`.pth` files made by torch.save (PyTorch 1.13), for @convnets/nn's restricted .pth reader:
- state.pth: a small state dict as torchvision's files hold one (an OrderedDict with _metadata), in the zip format:
  float32 conv and linear weights, BatchNorm buffers with an int64 num_batches_tracked, a transposed (non-contiguous)
  weight, a float16 and a bfloat16 tensor, two tensors sharing one storage at different offsets;
- state-legacy.pth: the same state dict in the format before PyTorch 1.6 (_use_new_zipfile_serialization=False),
  which torchvision's older weight files use;
- evil.pth: a zip whose pickle calls os.system (the reader must refuse it by name, running nothing);
- state.json: every tensor's dtype, shape and values, flattened in row-major order, as the reader must give them.
Run: /usr/bin/python3 tooling/pytorch/pth_fixtures.py
"""
import io
import json
import os
import pickle
import zipfile
from collections import OrderedDict

import torch
from torch import nn

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
OUT = os.path.join(ROOT, 'packages', 'nn', 'src', '__fixtures__')
torch.manual_seed(0)

net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(8, 5))
with torch.no_grad():
    net[1].running_mean.uniform_(-1, 1)
    net[1].running_var.uniform_(0.5, 2)
state = net.state_dict()
state['1.num_batches_tracked'] = torch.tensor(7)
shared = torch.arange(12, dtype=torch.float32) / 7
state['extra.transposed'] = torch.randn(3, 5).t()  # a view with strides (1, 5)
state['extra.half'] = torch.randn(2, 3).half()
state['extra.bfloat16'] = torch.randn(4).bfloat16()
state['extra.first'] = shared[:6].view(2, 3)  # two views of one storage
state['extra.second'] = shared[6:]
state['extra.scalar'] = torch.tensor(2.5)
assert not state['extra.transposed'].is_contiguous()

torch.save(state, os.path.join(OUT, 'state.pth'))
torch.save(state, os.path.join(OUT, 'state-legacy.pth'), _use_new_zipfile_serialization=False)


class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/convnets-pth-pwned',))


evil = io.BytesIO()
with zipfile.ZipFile(evil, 'w', zipfile.ZIP_STORED) as z:
    z.writestr('evil/data.pkl', pickle.dumps(OrderedDict(weight=Evil()), protocol=2))
    z.writestr('evil/version', '3\n')
with open(os.path.join(OUT, 'evil.pth'), 'wb') as f:
    f.write(evil.getvalue())

expected = {name: {'dtype': str(t.dtype).replace('torch.', ''), 'shape': list(t.shape),
                   'values': t.float().flatten().tolist()} for name, t in state.items()}
with open(os.path.join(OUT, 'state.json'), 'w') as f:
    json.dump(expected, f)
print('wrote', ', '.join(sorted(os.listdir(OUT))))
