"""Reference decodes of the real CIFAR-10 JPEGs (an archive of train|test/<class>/NNNN.jpg), made with PIL (libjpeg),
an independent decoder from the one the datasets package uses.
Run: /usr/bin/python3 tooling/pytorch/cifar_image_fixtures.py PATH/cifar10-images.tar.gz"""
import json, sys, tarfile, io, pathlib
import numpy as np
from PIL import Image

root = pathlib.Path(__file__).resolve().parents[2]
if len(sys.argv) != 2:
    sys.exit('usage: cifar_image_fixtures.py PATH/cifar10-images.tar.gz')
archive = pathlib.Path(sys.argv[1])
out = root / 'packages' / 'datasets' / 'fixtures' / 'cifar10-images.json'

sums = {}
counts = {}
samples = {}
wanted = {'train/airplane/0000.jpg', 'train/cat/0001.jpg', 'test/truck/0999.jpg', 'test/frog/0000.jpg'}
with tarfile.open(archive) as tar:
    for member in tar:
        if not member.isfile() or not member.name.endswith('.jpg'):
            continue
        split, cls, _ = member.name.split('/')
        pixels = np.asarray(Image.open(io.BytesIO(tar.extractfile(member).read())).convert('RGB'), dtype=np.float64) / 255
        sums.setdefault(split, np.zeros(3))
        sums[split] += pixels.reshape(-1, 3).sum(0)
        counts.setdefault(split, {}).setdefault(cls, 0)
        counts[split][cls] += 1
        if member.name in wanted:
            samples[member.name] = np.asarray(Image.open(io.BytesIO(tar.extractfile(member).read())).convert('RGB')).reshape(-1).tolist()

json.dump({
    'source': 'PIL %s decode of %s' % (Image.__version__, archive.name),
    'counts': counts,
    'mean': {s: (sums[s] / (sum(counts[s].values()) * 32 * 32)).tolist() for s in sums},
    'samples': samples,
}, open(out, 'w'))
print('wrote', out)
