import json
import os
import struct
from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

# safetensors (https://github.com/huggingface/safetensors) read and written with torch alone, so nothing needs pip.
_DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64, 'I32': torch.int32, 'U8': torch.uint8}


def load_safetensors(path):
    """A safetensors file's tensors (name -> tensor) and its metadata (name -> text)."""
    with open(path, 'rb') as f:
        data = f.read()
    (size,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + size])
    metadata = header.pop('__metadata__', {})
    body = memoryview(data)[8 + size:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry['data_offsets']
        raw = torch.frombuffer(bytearray(body[begin:end]), dtype=_DTYPES[entry['dtype']])
        tensors[name] = raw.reshape(entry['shape'])
    return tensors, metadata


def save_safetensors(tensors, path, metadata=None):
    """Writes tensors (float32 as F32, int64 as I64) and text metadata as a safetensors file, atomically."""
    names = {torch.float32: 'F32', torch.int64: 'I64', torch.int32: 'I32', torch.uint8: 'U8', torch.float64: 'F64'}
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {'dtype': names[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header['__metadata__'] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    tmp = f'{path}.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(chunks))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
