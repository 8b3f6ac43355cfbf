# Writes small ONNX models and torch 1.13 training references for
# train/torchref_test.go. Run with Debian's python (torch, onnx):
#
#	cd train/testdata/torchref && /usr/bin/python3 gen.py
#
# For each model: <name>.onnx (exported from eval mode with
# TrainingMode.PRESERVE, no constant folding: BatchNormalization stays a
# node), <name>.ref.npz (x, y, losses of three SGD steps in training mode,
# and t<i>: the final value of every initializer, transposed back to the
# ONNX layout where the exporter transposed it) and <name>.ref.json (t<i> ->
# ONNX initializer name; names are matched by value, not trusted).
import torch, numpy as np
import torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)

class BNNet(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1 = nn.Conv2d(3, 8, 3, padding=1, bias=False); s.b1 = nn.BatchNorm2d(8)
        s.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False); s.b2 = nn.BatchNorm2d(8, momentum=0.3)
        s.pw = nn.Conv2d(8, 8, 1); s.c3 = nn.Conv2d(8, 12, 3, padding=(2, 1), dilation=(2, 1), stride=(1, 2), groups=4)
        s.fc = nn.Linear(12 + 8, 5)
    def forward(s, x):
        x = F.relu(s.b1(s.c1(x)))
        y = torch.clamp(s.b2(s.dw(x)), 0, 6)
        y = y + s.pw(y)
        z = F.leaky_relu(s.c3(y), 0.1)
        a = F.avg_pool2d(z, 2, ceil_mode=False)
        g = torch.cat([a.mean(dim=(2, 3)), torch.sigmoid(F.max_pool2d(y, 3, 2, 1)).mean(dim=(2, 3))], dim=1)
        return s.fc(torch.tanh(g))

class Tiny(nn.Module):  # transformer-ish
    def __init__(s):
        super().__init__()
        s.q = nn.Linear(16, 16); s.k = nn.Linear(16, 16); s.v = nn.Linear(16, 16); s.o = nn.Linear(16, 16)
        s.ln = nn.LayerNorm(16); s.ff1 = nn.Linear(16, 32); s.ff2 = nn.Linear(32, 16); s.ln2 = nn.LayerNorm(16)
        s.cls = nn.Linear(16, 5)
    def forward(s, x):
        N, T, D = x.shape
        h = 2
        q = s.q(x).reshape(N, T, h, D // h).transpose(1, 2)
        k = s.k(x).reshape(N, T, h, D // h).transpose(1, 2)
        v = s.v(x).reshape(N, T, h, D // h).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) / (D // h) ** 0.5, dim=-1) @ v
        a = a.transpose(1, 2).reshape(N, T, D)
        x = s.ln(x + s.o(a))
        x = s.ln2(x + s.ff2(F.gelu(s.ff1(x))))
        return F.log_softmax(s.cls(x.mean(dim=1)), dim=-1) * 1.0

def run(name, m, shape, opset, steps=3, lr=0.05, mom=0.9):
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.BatchNorm2d, nn.LayerNorm)):
                mod.weight.uniform_(0.5, 1.5); mod.bias.normal_(0, 0.2)
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.3); mod.running_var.uniform_(0.5, 2)
    m.eval()
    x = torch.randn(*shape)
    torch.onnx.export(m, x, name + ".onnx", opset_version=opset, do_constant_folding=False,
        training=torch.onnx.TrainingMode.PRESERVE, input_names=["input"], output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    import onnx, onnx.numpy_helper as nh
    om = onnx.load(name + ".onnx")
    init = {t.name: nh.to_array(t) for t in om.graph.initializer}
    sd0 = {k: v.detach().clone().numpy() for k, v in m.state_dict().items() if v.dtype == torch.float32}
    mapping = {}
    for iname, arr in init.items():
        if iname in sd0 and np.array_equal(arr, sd0[iname]):
            mapping[iname] = (iname, False); continue
        for k, v in sd0.items():
            if arr.shape == v.shape and np.array_equal(arr, v) and k not in [m_[0] for m_ in mapping.values()]:
                mapping[iname] = (k, False); break
            if arr.ndim == 2 and arr.shape == v.T.shape and np.array_equal(arr, v.T):
                mapping[iname] = (k, True); break
    y = torch.randint(0, 5, (shape[0],))
    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=mom, weight_decay=1e-3)
    losses = []
    for i in range(steps):
        opt.zero_grad(); loss = F.cross_entropy(m(x), y); loss.backward(); opt.step(); losses.append(loss.item())
    out = {"x": x.numpy(), "y": y.numpy().astype(np.int64), "losses": np.array(losses, np.float32)}
    sd = m.state_dict()
    names = {}
    for i, (iname, (k, tr)) in enumerate(mapping.items()):
        v = sd[k].numpy()
        out["t%d" % i] = v.T.copy() if tr else v
        names["t%d" % i] = iname
    import json
    with open(name + ".ref.json", "w") as f:
        json.dump(names, f, indent=1, sort_keys=True)
    unmapped = [k for k in sd0 if k not in [v[0] for v in mapping.values()]]
    print(name, "unmapped torch tensors:", unmapped, "non-param initializers:", [k for k in init if k not in mapping])
    np.savez(name + ".ref.npz", **out)
    print(name, losses)

run("bnnet", BNNet(), (4, 3, 9, 9), 13)
run("tiny", Tiny(), (3, 6, 16), 17)
