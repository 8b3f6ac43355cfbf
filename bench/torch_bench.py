#!/usr/bin/python3
"""Time Poda's fixture architectures in PyTorch (Debian's python3-torch) for
the ratios bench/compare.sh prints.

The models are the same classes testdata/fixtures/gen_fixtures.py exports, so
both sides run the same architecture; weights do not change the timing. Each
model is frozen with torch.jit and optimize_for_inference (which folds
BatchNorm into the convolutions, as the ONNX exports do) and run with
torch.set_num_threads(THREADS) under torch.inference_mode.

Usage: bench/torch_bench.py [--threads 2] NAME:BATCH ...
Prints one JSON object per line: {"model", "batch", "median_ms", "p90_ms", "runs"}.
With --train-epoch, times one epoch of LeNet-5 training on MNIST at batch 128
(SGD, mean cross-entropy) instead and prints {"model": "lenet5", "epoch_s"}.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "fixtures"))
import gen_fixtures as fx  # noqa: E402


def build(name):
    if name == "lenet300":
        return fx.LeNet300(), (1, 28, 28)
    if name == "lenet5":
        return fx.LeNet5(), (1, 28, 28)
    if name in ("resnet_bnfold", "resnet_bn"):
        return fx.SmallResNet(), (1, 28, 28)
    if name == "concat_block":
        return fx.ConcatBlock(), (3, 16, 16)
    if name == "mbv2_block":
        return fx.MBV2Block(), (3, 32, 32)
    if name == "transformer":
        return fx.TinyTransformer(), (8, 32)
    if name == "resnet18":
        from torchvision.models.resnet import BasicBlock, ResNet
        return ResNet(BasicBlock, [2, 2, 2, 2], num_classes=10), (3, 64, 64)
    if name == "mobilenet_v2":
        import torchvision
        return torchvision.models.mobilenet_v2(weights=None, num_classes=10), (3, 64, 64)
    raise SystemExit("unknown model %s" % name)


def time_model(name, batch, min_seconds=2.0):
    model, shape = build(name)
    model.eval()
    x = torch.randn(batch, *shape)
    with torch.inference_mode():
        try:
            run = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
        except Exception:
            try:
                run = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, x)))
            except Exception:
                run = model
        for _ in range(5):
            run(x)
        times = []
        start = time.perf_counter()
        while len(times) < 10 or time.perf_counter() - start < min_seconds:
            t0 = time.perf_counter()
            run(x)
            times.append(time.perf_counter() - t0)
    times.sort()
    return {"model": name, "batch": batch, "median_ms": 1e3 * times[len(times) // 2],
            "p90_ms": 1e3 * times[min(len(times) - 1, len(times) * 9 // 10)], "runs": len(times)}


def train_epoch(batch=128):
    data = fx.load_mnist(fx.find_mnist_dir(None))
    tr_x, tr_y = data[0], data[1]
    model = fx.LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    start = time.perf_counter()
    for i in range(0, len(tr_x), batch):
        opt.zero_grad()
        loss = loss_fn(model(tr_x[i:i + batch]), tr_y[i:i + batch])
        loss.backward()
        opt.step()
    return {"model": "lenet5", "batch": batch, "epoch_s": time.perf_counter() - start, "samples": len(tr_x)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-epoch", action="store_true")
    ap.add_argument("runs", nargs="*")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    if a.train_epoch:
        print(json.dumps(train_epoch()))
        return
    for r in a.runs:
        name, batch = r.split(":")
        print(json.dumps(time_model(name, int(batch))), flush=True)


if __name__ == "__main__":
    main()
