"""Round trip with real PyTorch, driven by the CLI's tests.

  roundtrip.py make DIR    writes DIR/weights.safetensors (the notebook's ResNet-18, PyTorch's default init), the
                           same state dict by torch.save as DIR/weights.pth and DIR/weights-legacy.pth (pre-1.6 format),
                           torchvision's resnet18 (its default init) as DIR/torchvision.pth with its logits of the same
                           input in DIR/torchvision-logits.safetensors, a 300x400 picture DIR/photo.png and that net's
                           ImageNet probabilities for it through torchvision's ImageNet preset (resize 256, crop 224) in
                           DIR/photo.json ({probabilities, top5: class names}),
                           DIR/input.safetensors (`input`, NCHW) and DIR/torch-logits.safetensors (`logits`, eval mode)
  roundtrip.py check DIR   loads DIR/exported.safetensors into a fresh ResNet-18 with load_state_dict (strict) and
                           prints the largest difference of its logits from DIR/torch-logits.safetensors
Safetensors are read and written here with struct/json only (no extra packages).
"""
import json, os, struct, sys
import torch
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_seed_nets import res_net  # noqa: E402

DTYPES = {'F32': torch.float32, 'I64': torch.int64}

def save(tensors, path):
    header, blobs, offset = {}, [], 0
    for k, t in tensors.items():
        b = t.contiguous().numpy().tobytes()
        dtype = {torch.float32: 'F32', torch.int64: 'I64'}[t.dtype]
        header[k] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b); offset += len(b)
    h = json.dumps(header).encode()
    open(path, 'wb').write(struct.pack('<Q', len(h)) + h + b''.join(blobs))

def load(path):
    b = open(path, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n]); d = b[8 + n:]
    return {k: torch.frombuffer(bytearray(d[v['data_offsets'][0]:v['data_offsets'][1]]), dtype=DTYPES[v['dtype']]).reshape(v['shape'])
            for k, v in h.items() if k != '__metadata__'}

mode, folder = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
if mode == 'make':
    net = res_net().eval()
    x = torch.randn(2, 3, 32, 32)
    save(net.state_dict(), os.path.join(folder, 'weights.safetensors'))
    torch.save(net.state_dict(), os.path.join(folder, 'weights.pth'))
    torch.save(net.state_dict(), os.path.join(folder, 'weights-legacy.pth'), _use_new_zipfile_serialization=False)
    save({'input': x}, os.path.join(folder, 'input.safetensors'))
    with torch.no_grad():
        save({'logits': net(x)}, os.path.join(folder, 'torch-logits.safetensors'))
    import torchvision
    tv = torchvision.models.resnet18(weights=None).eval()
    torch.save(tv.state_dict(), os.path.join(folder, 'torchvision.pth'))
    with torch.no_grad():
        save({'logits': tv(x)}, os.path.join(folder, 'torchvision-logits.safetensors'))
    import numpy as np
    from PIL import Image
    from torchvision.models._meta import _IMAGENET_CATEGORIES
    from torchvision.transforms._presets import ImageClassification
    y, x_, c = np.meshgrid(np.arange(300), np.arange(400), np.arange(3), indexing='ij')
    pixels = 128 + 90 * np.sin(0.05 * x_ + c) * np.cos(0.03 * y) + ((x_ // 40 + y // 30) % 2) * 35
    photo = Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))
    photo.save(os.path.join(folder, 'photo.png'))
    with torch.no_grad():
        p = torch.softmax(tv(ImageClassification(crop_size=224, resize_size=256)(photo).unsqueeze(0)), 1)[0]
    top5 = [_IMAGENET_CATEGORIES[i] for i in p.argsort(descending=True)[:5].tolist()]
    json.dump({'probabilities': p.tolist(), 'top5': top5}, open(os.path.join(folder, 'photo.json'), 'w'))
else:
    net = res_net().eval()
    net.load_state_dict(load(os.path.join(folder, 'exported.safetensors')), strict=True)
    with torch.no_grad():
        logits = net(load(os.path.join(folder, 'input.safetensors'))['input'])
        diff = (logits - load(os.path.join(folder, 'torch-logits.safetensors'))['logits']).abs().max()
    print(diff.item())
