"""Trains model.py's net with convnets' recipe under PyTorch DistributedDataParallel, one process per CPU or GPU.

The recipes of convnets, the same data and transforms (pixels / 255, resized bilinearly to the card's input size batch
by batch, normalised with the card's mean and std; --limit-train/--limit-valid pick the images convnets picks, and one
process draws convnets' batches in convnets' order), cross-entropy, the notebook's epoch lines:
- main (`convnets train`): SGD with momentum 0.9 and weight decay 5e-4, the one-cycle schedule (linear warm-up over
  30% of the steps from lr/25, then cosine down to lr/25e4), 2 epochs;
- notebook (`convnets notebook`): plain SGD at a constant lr, 10 epochs, from Xavier weights unless --weights is given.
--batch-size is the global batch, split across the processes: DDP averages their gradients, so N processes take the
same steps as one with the whole batch.

One machine:  torchrun --standalone --nproc_per_node=2 train.py --dataset mnist --root DIR
N machines:   torchrun --nnodes=N --nproc_per_node=GPUS --rdzv-backend=c10d --rdzv-endpoint=HOST:29500 train.py ...

It starts from weights.safetensors (or --scratch: Xavier, as the notebook), fine-tunes as `convnets train --from` does
(--freeze features|PATHS, --head-lr), resumes with --resume, and rank 0 writes OUT/<dataset>_<model>.safetensors with
its card and OUT/history.json, which `convnets eval|predict|plot` read.
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Sampler

from model import CARD, CLASSIFIER_START, build_model, load_safetensors, save_safetensors

# The trainer's MAIN_JOB_RECIPE and NOTEBOOK_RECIPE, as they apply here (a test checks that they agree). A flag given
# overrides its recipe's value. The main recipe starts from --weights, the notebook's from Xavier weights.
RECIPES = {
    'main': {'epochs': 2, 'batchSize': 128, 'lr': 0.05, 'momentum': 0.9, 'weightDecay': 5e-4, 'schedule': 'onecycle'},
    'notebook': {'epochs': 10, 'batchSize': 128, 'lr': 0.1, 'momentum': 0, 'weightDecay': 0, 'schedule': 'constant'},
}

IDX_FILES = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--dataset', choices=['mnist', 'fashion-mnist', 'cifar10', 'folder'], default='mnist')
    p.add_argument('--root', required=True,
                   help='MNIST/Fashion-MNIST: the IDX files (plain or .gz); CIFAR-10: the binary release folder '
                        '(data_batch_*.bin) or train|test/<class>/ image folders; folder: train|test/<class>/ images '
                        '(.jpg/.png, one size, classes among the card\'s)')
    p.add_argument('--recipe', choices=list(RECIPES), default='main',
                   help="main: convnets train's (momentum, weight decay, one-cycle); notebook: the notebook's plain "
                        'SGD at a constant lr, 10 epochs, from Xavier weights')
    p.add_argument('--epochs', type=int, help='main: 2, notebook: 10')
    p.add_argument('--batch-size', type=int, help='images per step, over all processes together (128)')
    p.add_argument('--lr', type=float, help='peak learning rate (main: 0.05, notebook: 0.1)')
    p.add_argument('--momentum', type=float, help='main: 0.9, notebook: 0')
    p.add_argument('--weight-decay', type=float, help='main: 5e-4, notebook: 0')
    p.add_argument('--label-smoothing', type=float, default=0.0)
    p.add_argument('--freeze', help="fine-tuning: 'features' (the modules before the classifier) or dotted module "
                                    'paths, comma-separated: no gradients there, and their BatchNorm layers keep '
                                    'their running statistics')
    p.add_argument('--head-lr', type=float, help="fine-tuning: the classifier's peak learning rate (the rest: --lr)")
    p.add_argument('--seed', type=int, default=0, help='seed of the shuffles (and of --scratch weights)')
    p.add_argument('--limit-train', type=int, help='train on n images, a class-balanced subset chosen by --seed')
    p.add_argument('--limit-valid', type=int, help='test on n images, a class-balanced subset chosen by --seed')
    p.add_argument('--weights', help='the weights to start from (main: weights.safetensors)')
    p.add_argument('--scratch', action='store_true', help='start from Xavier-initialised weights instead')
    p.add_argument('--resume', action='store_true', help='continue the run whose state is in --out')
    p.add_argument('--out', default='result', help='output folder')
    p.add_argument('--threads', type=int,
                   help="CPU threads per process (default: this machine's cores shared among torchrun's local processes)")
    args = p.parse_args()
    recipe = RECIPES[args.recipe]
    for key in ('epochs', 'batchSize', 'lr', 'momentum', 'weightDecay'):
        flag = ''.join(f'_{c.lower()}' if c.isupper() else c for c in key)
        if getattr(args, flag) is None:
            setattr(args, flag, recipe[key])
    args.schedule = recipe['schedule']
    if args.scratch and args.weights:
        raise SystemExit('--scratch and --weights both say where the weights come from: give one')
    args.scratch = args.scratch or (args.recipe == 'notebook' and not args.weights)
    args.weights = args.weights or 'weights.safetensors'
    return args


def read_idx(root, name):
    """An IDX file (plain or gzipped) as a numpy array."""
    for path in (os.path.join(root, name), os.path.join(root, f'{name}.gz')):
        if os.path.exists(path):
            with (gzip.open if path.endswith('.gz') else open)(path, 'rb') as f:
                data = f.read()
            dims = data[3]
            shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise SystemExit(f'--root: {root} has no {name} (nor {name}.gz)')


IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png')


def read_folder(root, split, classes, channels):
    """root/split/<class>/<image> as uint8 [N, C, H, W] (grey or RGB) and labels: indices into `classes`."""
    folder = os.path.join(root, split)
    if not os.path.isdir(folder):
        raise SystemExit(f'--root: {root} has no {split}/ folder: expected {split}/<class>/<image> files')
    try:
        from PIL import Image
    except ImportError:
        raise SystemExit('reading image folders needs Pillow: pip install pillow (Debian: apt install python3-pil)')
    index = {name: i for i, name in enumerate(classes)}
    mode = 'L' if channels == 1 else 'RGB'
    images, labels = [], []
    for name in sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)) and d[0] != '.'):
        if name not in index:
            raise SystemExit(f'{os.path.join(folder, name)}: the net has no class {name!r} (its classes: '
                             f'{", ".join(classes)})')
        for file in sorted(f for f in os.listdir(os.path.join(folder, name)) if f.lower().endswith(IMAGE_SUFFIXES)):
            with Image.open(os.path.join(folder, name, file)) as im:
                pixels = np.asarray(im.convert(mode)).reshape(im.height, im.width, -1).transpose(2, 0, 1)
            if images and pixels.shape != images[0].shape:
                first = images[0].shape
                raise SystemExit(f'{os.path.join(folder, name, file)} is {pixels.shape[2]}x{pixels.shape[1]} but the '
                                 f'first image is {first[2]}x{first[1]}: all images must have one size')
            images.append(pixels)
            labels.append(index[name])
    if not images:
        raise SystemExit(f'--root: {folder} has no .jpg/.jpeg/.png images in <class>/ folders')
    return np.stack(images), np.array(labels, dtype=np.int64)


def read_cifar10(root, split, card):
    """CIFAR-10 as uint8 [N, 3, 32, 32] and labels: the binary release, or train|test/<class>/ images."""
    names = [f'data_batch_{i}.bin' for i in range(1, 6)] if split == 'train' else ['test_batch.bin']
    found = [os.path.join(root, n) for n in names if os.path.exists(os.path.join(root, n))]
    if found:
        rows = np.concatenate([np.fromfile(f, dtype=np.uint8).reshape(-1, 3073) for f in found])
        return rows[:, 1:].reshape(-1, 3, 32, 32), rows[:, 0].astype(np.int64)
    if not os.path.isdir(os.path.join(root, split)):
        raise SystemExit(f'--root: {root} holds neither the CIFAR-10 binary release nor {split}/<class>/ folders')
    return read_folder(root, split, card['classes'], 3)


def load_split(args, split, card):
    """uint8 images [N, C, H, W] and int64 labels of one split."""
    if args.dataset == 'cifar10':
        return read_cifar10(args.root, split, card)
    if args.dataset == 'folder':
        return read_folder(args.root, split, card['classes'], card['inChannels'])
    images, labels = (read_idx(args.root, n) for n in IDX_FILES[split])
    return images[:, None], labels.astype(np.int64)


def splitmix32(seed):
    """convnets' data generator (@convnets/datasets random.ts): floats in [0, 1), the same stream for the same seed."""
    state = seed & 0xFFFFFFFF

    def next_float():
        nonlocal state
        state = (state + 0x9E3779B9) & 0xFFFFFFFF
        z = ((state ^ (state >> 16)) * 0x85EBCA6B) & 0xFFFFFFFF
        z = ((z ^ (z >> 13)) * 0xC2B2AE35) & 0xFFFFFFFF
        return (z ^ (z >> 16)) / 4294967296
    return next_float


def permutation(n, seed):
    """convnets' seeded Fisher-Yates permutation of 0..n-1."""
    order, random = list(range(n)), splitmix32(seed)
    for i in range(n - 1, 0, -1):
        j = int(random() * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order


def balanced_subset(labels, n, seed):
    """n indices with the classes as even as they can be, chosen by seed: the images convnets' sample(n, seed) picks."""
    by_class = {}
    for i in permutation(len(labels), seed):
        by_class.setdefault(int(labels[i]), []).append(i)
    members = [by_class[c] for c in sorted(by_class)]
    picked, k = [], 0
    while len(picked) < min(n, len(labels)):
        for m in members:
            if k < len(m) and len(picked) < n:
                picked.append(m[k])
        k += 1
    return np.sort(np.array(picked))


class Images(Dataset):
    """uint8 images at their own size and their labels; `batch` makes a batch of them what the net takes."""

    def __init__(self, images, labels, card):
        self.images, self.labels = torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)
        self.size = card['inputSize']
        self.mean = torch.tensor(card['mean']).view(1, -1, 1, 1)
        self.std = torch.tensor(card['std']).view(1, -1, 1, 1)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return i

    def batch(self, indices):
        """Pixels / 255, resized to the card's input size, normalised with its mean and std: per batch, so that a
        dataset resized to 224 px (30 GB for CIFAR-10) is never held whole."""
        index = torch.tensor(indices)
        x = self.images[index].float() / 255
        if x.shape[2] != self.size or x.shape[3] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode='bilinear', align_corners=False)
        return (x - self.mean) / self.std, self.labels[index]


class ConvnetsBatches(Sampler):
    """This process's share of each of convnets' batches (DataLoader, shuffled by seed and epoch): with one process,
    convnets' batches in convnets' order; with N, the k-th process takes every N-th image of each batch."""

    def __init__(self, n, batch_size, seed, rank, world):
        self.n, self.batch_size, self.seed, self.rank, self.world = n, batch_size, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return -(-self.n // self.batch_size)

    def __iter__(self):
        order = permutation(self.n, self.seed * 1000003 + self.epoch)
        for start in range(0, self.n, self.batch_size):
            batch = order[start:start + self.batch_size]
            # A last batch smaller than the processes: those without an image of their own train on the whole of it.
            yield batch[self.rank::self.world] or batch


def one_cycle(lr, total, warmup=0.3, div_factor=25, final_div_factor=1e4):
    """The learning rate at each step: convnets' oneCycle."""
    peak = max(1, round(warmup * total))
    start = lr / div_factor
    end = start / final_div_factor

    def at(step):
        if step < peak:
            return start + (lr - start) * step / peak
        t = (step - peak) / max(1, total - peak)
        return end + (lr - end) * (1 + math.cos(math.pi * t)) / 2
    return at


def classifier(model, flag):
    """The top-level modules from CLASSIFIER_START on (model.py says where the net's classifier begins)."""
    if CLASSIFIER_START is None:
        raise SystemExit(f"{flag}: model.py does not say where this net's classifier begins (CLASSIFIER_START)")
    return list(model.children())[CLASSIFIER_START:]


def frozen_modules(model, spec):
    """The modules --freeze names: 'features' (all before the classifier) or dotted paths."""
    if spec == 'features':
        head = {id(m) for m in classifier(model, '--freeze features')}
        return [m for m in model.children() if id(m) not in head]
    modules = []
    for path in (p.strip() for p in spec.split(',')):
        try:
            modules.append(model.get_submodule(path))
        except AttributeError:
            raise SystemExit(f"--freeze: no module at '{path}'")
    return modules


def hold_in_eval(modules):
    """Frozen BatchNorm layers normalise with their running statistics and leave them as they are."""
    for module in modules:
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def param_groups(model, args):
    """The optimizer's groups: the trainable parameters, the classifier's apart under --head-lr (with its lr scale)."""
    trainable = [q for q in model.parameters() if q.requires_grad]
    if not trainable:
        raise SystemExit('--freeze leaves nothing to train')
    if args.head_lr is None:
        return [{'params': trainable, 'scale': 1.0}]
    if args.lr == 0:
        raise SystemExit('--head-lr needs a non-zero --lr: the classifier learns at --head-lr / --lr times it')
    head = {id(q) for m in classifier(model, '--head-lr') for q in m.parameters()}
    groups = [{'params': [q for q in trainable if id(q) not in head], 'scale': 1.0},
              {'params': [q for q in trainable if id(q) in head], 'scale': args.head_lr / args.lr}]
    return [g for g in groups if g['params']]


def xavier(model, seed):
    """The notebook's init_weights: Xavier-uniform conv and linear weights."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)


def evaluate(model, data, rank, world, num_classes, batch_size=500):
    """Loss, accuracy and confusion over all of `data`, each process taking its own share, summed over all."""
    # BatchNorm's running statistics are each process's own since the last step (DDP broadcasts rank 0's only before
    # a forward): every share is evaluated with rank 0's, the ones that are saved.
    for buffer in model.buffers():
        dist.broadcast(buffer, 0)
    model.eval()
    loss, confusion = torch.zeros(1, dtype=torch.float64), torch.zeros(num_classes, num_classes, dtype=torch.int64)
    share = torch.utils.data.Subset(data, range(rank, len(data), world))
    with torch.no_grad():
        for x, y in DataLoader(share, batch_size=batch_size, collate_fn=data.batch):
            logits = model(x)
            loss += F.cross_entropy(logits, y, reduction='sum').double()
            confusion += torch.bincount(y * num_classes + logits.argmax(1), minlength=num_classes ** 2).view(
                num_classes, num_classes)
    dist.all_reduce(loss)
    dist.all_reduce(confusion)
    per_class = (confusion.diag().double() / confusion.sum(1).clamp(min=1)).tolist()
    return {'loss': loss.item() / len(data), 'accuracy': confusion.diag().sum().item() / len(data),
            'perClassAccuracy': per_class, 'confusion': confusion.tolist()}


def main():
    args = parse_args()
    dist.init_process_group('nccl' if torch.cuda.is_available() else 'gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    # Some builds (Debian's) start on one thread, and torchrun sets OMP_NUM_THREADS=1 for several processes: on a CPU,
    # share the cores out instead.
    local = int(os.environ.get('LOCAL_WORLD_SIZE', 1))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    torch.set_num_threads(args.threads or max(1, cores // local))
    device = torch.device(f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}' if torch.cuda.is_available() else 'cpu')
    if args.batch_size % world:
        raise SystemExit(f'--batch-size {args.batch_size} must divide among the {world} processes')
    card = CARD
    name = f'{args.dataset}_{card["model"].replace("/", "-")}'  # convnets' runFileBase: torchvision/x -> torchvision-x
    state_file = os.path.join(args.out, f'{name}.train.pt')

    splits = {}
    for split, limit in (('train', args.limit_train), ('test', args.limit_valid)):
        images, labels = load_split(args, split, card)
        if images.shape[1] != card['inChannels']:
            raise SystemExit(f'{args.dataset} has {images.shape[1]}-channel images; the net takes {card["inChannels"]}')
        if limit:
            keep = balanced_subset(labels, limit, args.seed)
            images, labels = images[keep], labels[keep]
        splits[split] = Images(images, labels, card)
    num_classes = len(card['classes'])
    if int(splits['train'].labels.max()) >= num_classes:
        raise SystemExit(f'{args.dataset} has more classes than the net\'s {num_classes} ({", ".join(card["classes"])})')

    model = build_model()
    if args.scratch:
        xavier(model, args.seed)
    else:
        tensors, _ = load_safetensors(args.weights)
        model.load_state_dict(tensors, strict=True)
    frozen = frozen_modules(model, args.freeze) if args.freeze else []
    for module in frozen:
        module.requires_grad_(False)
    model.to(device)
    ddp = DistributedDataParallel(model)
    groups = param_groups(model, args)
    optimizer = torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    sampler = ConvnetsBatches(len(splits['train']), args.batch_size, args.seed, rank, world)
    loader = DataLoader(splits['train'], batch_sampler=sampler, collate_fn=splits['train'].batch)
    total = len(loader) * args.epochs
    schedule = one_cycle(args.lr, total) if args.schedule == 'onecycle' else lambda step: args.lr
    history = {'trainLoss': [], 'trainAcc': [], 'validLoss': [], 'validAcc': [], 'imagesPerSec': []}
    start_epoch = 0
    if args.resume:
        if not os.path.exists(state_file):
            raise SystemExit(f'--resume: {state_file} does not exist (train without --resume first, with the same --out)')
        saved = torch.load(state_file, map_location=device)
        model.load_state_dict(saved['model'])
        try:
            optimizer.load_state_dict(saved['optimizer'])
        except ValueError:
            raise SystemExit(f'--resume: {state_file} was trained with other parameter groups: resume with the same '
                             '--freeze and --head-lr')
        start_epoch, history = saved['epoch'], saved['history']
        if rank == 0:
            print(f'resuming after epoch {start_epoch} of {args.epochs}', flush=True)
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
        if args.freeze or args.head_lr is not None:
            counts = [sum(q.numel() for q in model.parameters() if q.requires_grad == on) for on in (True, False)]
            print(f'trainable parameters: {counts[0]:,}, frozen: {counts[1]:,}', flush=True)
        print(f'training {card["model"]} on {args.dataset} ({len(splits["train"])} train / {len(splits["test"])} test '
              f'images) in {world} processes, {args.epochs} epoch(s), the {args.recipe} recipe', flush=True)

    evaluation = None
    for epoch in range(start_epoch, args.epochs):
        ddp.train()
        hold_in_eval(frozen)
        sampler.set_epoch(epoch)
        sums = torch.zeros(3, dtype=torch.float64)  # loss x images, correct, images
        began = time.time()
        for i, (x, y) in enumerate(loader):
            for group in optimizer.param_groups:
                group['lr'] = schedule(epoch * len(loader) + i) * group['scale']
            x, y = x.to(device), y.to(device)
            logits = ddp(x)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            sums += torch.tensor([loss.item() * len(y), (logits.argmax(1) == y).sum().item(), len(y)])
        dist.all_reduce(sums)
        seconds = time.time() - began
        evaluation = evaluate(model, splits['test'], rank, world, num_classes)
        history['trainLoss'].append(sums[0].item() / sums[2].item())
        history['trainAcc'].append(sums[1].item() / sums[2].item())
        history['validLoss'].append(evaluation['loss'])
        history['validAcc'].append(evaluation['accuracy'])
        history['imagesPerSec'].append(sums[2].item() / seconds)
        if rank == 0:
            e = epoch + 1
            print(f'Epoch -> {e} \t train_loss -> {history["trainLoss"][-1]} \t\t\t train_acc -> '
                  f'{history["trainAcc"][-1]} \n==========\t valid_loss -> {evaluation["loss"]} \t\t\t valid_acc -> '
                  f'{evaluation["accuracy"]}', flush=True)
            # Each file complete on its own, replaced atomically: a crash leaves the last epoch's.
            weights = {k: v.cpu() for k, v in model.state_dict().items()}
            save_safetensors(weights, os.path.join(args.out, f'{name}.safetensors'),
                             {'format': 'pt', 'epoch': e, 'convnets': json.dumps(card)})
            tmp = f'{state_file}.tmp'
            torch.save({'model': model.state_dict(), 'optimizer': optimizer.state_dict(), 'epoch': e,
                        'history': history}, tmp)
            os.replace(tmp, state_file)
        dist.barrier()

    if evaluation is None:
        evaluation = evaluate(model, splits['test'], rank, world, num_classes)
    if rank == 0:
        record = {'model': card['model'], 'dataset': args.dataset, 'backend': f'pytorch-ddp ({world} processes)',
                  **history, 'test': evaluation}
        tmp = os.path.join(args.out, 'history.json.tmp')
        with open(tmp, 'w') as f:
            json.dump(record, f, indent=2)
        os.replace(tmp, os.path.join(args.out, 'history.json'))
        print(f'test accuracy {evaluation["accuracy"] * 100:.2f}% (loss {evaluation["loss"]:.4f})', flush=True)
        print(f'wrote {os.path.join(args.out, name + ".safetensors")}, {os.path.join(args.out, "history.json")}',
              flush=True)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
