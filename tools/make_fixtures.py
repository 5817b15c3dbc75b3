#!/usr/bin/python3
"""Generates the PyTorch parity fixtures in tests/fixtures/torch/.

Run with Debian's python3-torch and python3-numpy (`/usr/bin/python3
tools/make_fixtures.py`). The tests only read the .npz files this writes; they
never need torch. Everything is float64 and seeded, so the files are
reproducible.

Per recurrent case, <case>.npz holds the layer's state_dict (PyTorch names),
the input x (T, B, I), optional h0/c0 and lengths, the outputs (output, h_n,
c_n), the random projections r_output, r_h, r_c of the scalar loss
L = Σ r_output⊙output + Σ r_h⊙h_n (+ Σ r_c⊙c_n), and the gradients of L:
grad_x, grad_h0, grad_c0 and grad.<parameter name>.

Per optimizer case, optim_<case>.npz holds p0.<i> (initial parameters),
grad.<k>.<i> (the gradient fed at step k) and traj.<k>.<i> (parameters after
step k), for 10 steps. The parameter-group cases, optim_groups_<case>.npz, hold
the same for 20 steps over three parameters in two groups (0 and 1 in group 0,
2 in group 1) with different options; lr.<k>.<g> is group g's lr at step k.

`--only PATTERN` writes only the files whose name matches the glob PATTERN,
e.g. `--only 'optim_groups_*'`, leaving every other fixture's bytes alone.
"""
import argparse
import fnmatch
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "torch")
torch.set_default_dtype(torch.float64)
ONLY = "*"


def save(name, arrays):
    """Writes <name>.npz unless --only excludes it."""
    if fnmatch.fnmatch(name, ONLY):
        np.savez(os.path.join(OUT, name + ".npz"), **arrays)


def recurrent_case(name, kind, T=5, B=3, I=4, H=6, num_layers=1, bidirectional=False, lengths=None,
                   initial=False, nonlinearity="tanh", seed=0):
    torch.manual_seed(seed)
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    kwargs = dict(num_layers=num_layers, bidirectional=bidirectional)
    if kind == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    layer = cls(I, H, **kwargs)
    D = 2 if bidirectional else 1
    x = torch.randn(T, B, I, requires_grad=True)
    h0 = torch.randn(num_layers * D, B, H, requires_grad=True) if initial else None
    c0 = torch.randn(num_layers * D, B, H, requires_grad=True) if initial and kind == "lstm" else None
    state0 = None
    if initial:
        state0 = (h0, c0) if kind == "lstm" else h0

    if lengths is not None:
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        out_packed, state = layer(packed, state0)
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(out_packed, total_length=T)
    else:
        output, state = layer(x, state0)
    h_n, c_n = (state if kind == "lstm" else (state, None))

    r_output = torch.randn_like(output)
    r_h = torch.randn_like(h_n)
    loss = (r_output * output).sum() + (r_h * h_n).sum()
    r_c = None
    if c_n is not None:
        r_c = torch.randn_like(c_n)
        loss = loss + (r_c * c_n).sum()
    loss.backward()

    arrays = {k: v.detach().numpy() for k, v in layer.state_dict().items()}
    arrays.update(x=x.detach().numpy(), output=output.detach().numpy(), h_n=h_n.detach().numpy(),
                  r_output=r_output.numpy(), r_h=r_h.numpy(), grad_x=x.grad.numpy(), loss=np.array(loss.item()))
    if c_n is not None:
        arrays.update(c_n=c_n.detach().numpy(), r_c=r_c.numpy())
    if initial:
        arrays.update(h0=h0.detach().numpy(), grad_h0=h0.grad.numpy())
        if c0 is not None:
            arrays.update(c0=c0.detach().numpy(), grad_c0=c0.grad.numpy())
    if lengths is not None:
        arrays["lengths"] = np.array(lengths, dtype=np.float64)  # float64 like every other array
    for pname, p in layer.named_parameters():
        arrays["grad." + pname] = p.grad.numpy()
    save(name, arrays)


def linear_embedding_case(name="linear_embedding", seed=2):
    """A state_dict with an Embedding and a Linear, as `embedding.*` and `linear.*`."""
    torch.manual_seed(seed)
    emb = torch.nn.Embedding(7, 4)
    lin = torch.nn.Linear(4, 3)
    idx = torch.tensor([[1, 6, 0], [3, 3, 5]])
    out = lin(emb(idx))
    r = torch.randn_like(out)
    (r * out).sum().backward()
    arrays = {"embedding." + k: v.detach().numpy() for k, v in emb.state_dict().items()}
    arrays.update({"linear." + k: v.detach().numpy() for k, v in lin.state_dict().items()})
    arrays.update(indices=idx.numpy().astype(np.float64), output=out.detach().numpy(), r_output=r.numpy(),
                  **{"grad.embedding.weight": emb.weight.grad.numpy(), "grad.linear.weight": lin.weight.grad.numpy(),
                     "grad.linear.bias": lin.bias.grad.numpy()})
    save(name, arrays)


def optimizer_case(name, make, steps=10, seed=1):
    torch.manual_seed(seed)
    params = [torch.randn(3, 4, requires_grad=True), torch.randn(5, requires_grad=True)]
    arrays = {f"p0.{i}": p.detach().numpy().copy() for i, p in enumerate(params)}
    opt = make(params)
    for k in range(steps):
        for i, p in enumerate(params):
            g = torch.randn_like(p)
            p.grad = g
            arrays[f"grad.{k}.{i}"] = g.numpy().copy()
        opt.step()
        for i, p in enumerate(params):
            arrays[f"traj.{k}.{i}"] = p.detach().numpy().copy()
    save("optim_" + name, arrays)


def grouped_optimizer_case(name, make, steps=20, seed=3, schedule=None):
    """`make(group0, group1)` builds the optimizer over two parameter groups;
    `schedule(opt)`, if given, builds an lr scheduler stepped after every step."""
    torch.manual_seed(seed)
    params = [torch.randn(3, 4, requires_grad=True), torch.randn(5, requires_grad=True),
              torch.randn(2, 3, requires_grad=True)]
    arrays = {f"p0.{i}": p.detach().numpy().copy() for i, p in enumerate(params)}
    opt = make(params[:2], params[2:])
    sched = schedule(opt) if schedule else None
    for k in range(steps):
        for i, p in enumerate(params):
            p.grad = torch.randn_like(p)
            arrays[f"grad.{k}.{i}"] = p.grad.numpy().copy()
        for g, group in enumerate(opt.param_groups):
            arrays[f"lr.{k}.{g}"] = np.array(group["lr"])
        opt.step()
        if sched:
            sched.step()
        for i, p in enumerate(params):
            arrays[f"traj.{k}.{i}"] = p.detach().numpy().copy()
    save("optim_groups_" + name, arrays)


def grouped_cases():
    o = torch.optim
    grouped_optimizer_case("sgd", lambda a, b: o.SGD([
        {"params": a, "lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
        {"params": b, "lr": 0.2, "momentum": 0.5, "weight_decay": 0.0, "nesterov": True}], lr=0.1),
        schedule=lambda opt: o.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5))
    grouped_optimizer_case("adam", lambda a, b: o.Adam([
        {"params": a, "lr": 1e-2, "weight_decay": 0.1},
        {"params": b, "lr": 3e-2, "betas": (0.8, 0.9), "weight_decay": 0.0, "amsgrad": True}]))
    grouped_optimizer_case("adamw", lambda a, b: o.AdamW([
        {"params": a, "lr": 1e-2, "weight_decay": 0.1},
        {"params": b, "lr": 5e-3, "weight_decay": 0.0}]))
    grouped_optimizer_case("rmsprop", lambda a, b: o.RMSprop([
        {"params": a, "lr": 1e-2, "alpha": 0.9, "momentum": 0.5, "centered": True},
        {"params": b, "lr": 5e-3, "weight_decay": 0.01}]))
    # PyTorch 1.13 starts every group's "sum" at the constructor's
    # initial_accumulator_value, ignoring a group's own: give it there only.
    grouped_optimizer_case("adagrad", lambda a, b: o.Adagrad([
        {"params": a, "lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01},
        {"params": b, "lr": 0.05}], initial_accumulator_value=0.3))


def main():
    global ONLY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="*", help="glob of the fixture names to write (default: all)")
    ONLY = parser.parse_args().only
    os.makedirs(OUT, exist_ok=True)
    recurrent_case("rnn_tanh", "rnn")
    recurrent_case("rnn_relu_2layer_bidir", "rnn", num_layers=2, bidirectional=True, nonlinearity="relu", initial=True)
    recurrent_case("lstm", "lstm")
    recurrent_case("lstm_2layer_bidir_lengths", "lstm", num_layers=2, bidirectional=True, lengths=[5, 2, 4], initial=True)
    recurrent_case("gru", "gru")
    recurrent_case("gru_2layer_bidir_lengths", "gru", num_layers=2, bidirectional=True, lengths=[3, 5, 1], initial=True)
    recurrent_case("lstm_lengths", "lstm", lengths=[2, 5, 3])
    linear_embedding_case()

    o = torch.optim
    optimizer_case("sgd", lambda p: o.SGD(p, lr=0.1))
    optimizer_case("sgd_momentum", lambda p: o.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01))
    optimizer_case("sgd_nesterov", lambda p: o.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01))
    optimizer_case("adam", lambda p: o.Adam(p, lr=1e-2))
    optimizer_case("adam_amsgrad", lambda p: o.Adam(p, lr=1e-2, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True))
    optimizer_case("adamw", lambda p: o.AdamW(p, lr=1e-2, weight_decay=0.1))
    optimizer_case("rmsprop", lambda p: o.RMSprop(p, lr=1e-2))
    optimizer_case("rmsprop_centered", lambda p: o.RMSprop(p, lr=1e-2, alpha=0.9, momentum=0.5, centered=True,
                                                           weight_decay=0.01))
    optimizer_case("adagrad", lambda p: o.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.01,
                                                  initial_accumulator_value=0.1))
    grouped_cases()


if __name__ == "__main__":
    main()
