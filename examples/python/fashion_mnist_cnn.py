#!/usr/bin/env python3
"""A small CNN on Fashion-MNIST, trained with descent.torch.Lamb or descent.torch.AdamW (drop-ins for a
torch.optim optimizer) and a OneCycleLR schedule from torch.

    PYTHONPATH=build/test/python /usr/bin/python3 examples/python/fashion_mnist_cnn.py [lamb|adamw] [epochs] [train_subset]

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), read with NumPy from its IDX
files (the format src/nn/data.cpp reads for the C++ front end).
"""
import gzip
import os
import sys
import time

import numpy as np
import torch

import descent.torch

FOLDER = "/usr/share/datasets/fashion-mnist"


def read_idx(name):
    with gzip.open(os.path.join(FOLDER, name + ".gz"), "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(split):
    prefix = "train" if split == "train" else "t10k"
    images = torch.from_numpy(read_idx(prefix + "-images-idx3-ubyte").astype(np.float32) / 255.0).unsqueeze(1)
    labels = torch.from_numpy(read_idx(prefix + "-labels-idx1-ubyte").astype(np.int64))
    return (images - 0.2860) / 0.3530, labels  # the training set's mean and deviation


def model():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * 7 * 7, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "lamb"
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    subset = int(sys.argv[3]) if len(sys.argv) > 3 else 60000
    if not os.path.isdir(FOLDER):
        sys.exit("Fashion-MNIST is not in %s (Debian: apt install dataset-fashion-mnist)" % FOLDER)
    torch.manual_seed(0)
    x, y = load("train")
    x, y = x[:subset], y[:subset]
    x_test, y_test = load("test")
    net = model()
    if which == "lamb":
        opt = descent.torch.Lamb(net.parameters(), lr=1e-2, weight_decay=0.01)
    else:
        opt = descent.torch.AdamW(net.parameters(), lr=2e-3, weight_decay=0.01)
    batch = 128
    steps = epochs * ((len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=opt.param_groups[0]["lr"], total_steps=steps)
    for epoch in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x))
        net.train()
        total = 0.0
        for k in range(0, len(x), batch):
            idx = order[k:k + batch]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        net.eval()
        with torch.no_grad():
            accuracy = (net(x_test).argmax(1) == y_test).float().mean().item()
        print("%s epoch %d: train loss %.4f, test accuracy %.4f (%.1f s)"
              % (type(opt).__name__, epoch + 1, total / len(x), accuracy, time.perf_counter() - start))


if __name__ == "__main__":
    main()
