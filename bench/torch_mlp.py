#!/usr/bin/env python3
"""PyTorch CPU's side of bench/mlp_epoch.sh: trains the MLP 784-256-10 (ReLU, PyTorch's default
initialisation, softmax cross-entropy) on Fashion-MNIST with Adam (lr 1e-3, batch 128, shuffled each epoch),
pixels scaled to [0, 1] as descent does, and prints one JSON line per epoch: test accuracy and the epoch's
training time (evaluation excluded), for the thread count given.
Usage: /usr/bin/python3 bench/torch_mlp.py EPOCHS THREADS [SEED]"""
import gzip
import json
import struct
import sys
import time

import numpy as np
import torch

FOLDER = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(count, rows * cols)
    return np.frombuffer(data, dtype=np.uint8, offset=8)


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x_train = torch.from_numpy(read_idx(f"{FOLDER}/train-images-idx3-ubyte.gz").astype(np.float32) / 255.0)
    y_train = torch.from_numpy(read_idx(f"{FOLDER}/train-labels-idx1-ubyte.gz").astype(np.int64))
    x_test = torch.from_numpy(read_idx(f"{FOLDER}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0)
    y_test = torch.from_numpy(read_idx(f"{FOLDER}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(x_train.shape[0])
        for begin in range(0, x_train.shape[0], 128):
            idx = order[begin:begin + 128]
            opt.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
        print(json.dumps({"epoch": epoch, "threads": threads, "test_accuracy": accuracy, "epoch_seconds": seconds}),
              flush=True)


if __name__ == "__main__":
    main()
