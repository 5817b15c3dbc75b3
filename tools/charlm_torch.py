#!/usr/bin/python3
"""The PyTorch replica of examples/charlm: the same text, split, vocabulary,
batching, model, initial weights, optimizer, schedule, clipping and
evaluation, so that bits per character and wall time can be compared side by
side (docs/charlm.md). Reference only: the library never depends on torch.

    build/examples/charlm --steps 0 --save-init /tmp/init.npz --out /tmp/ours0   # the initial weights
    /usr/bin/python3 tools/charlm_torch.py --init /tmp/init.npz --steps 3000

Flags mirror charlm's (--cell lstm|gru|rnn, --embed, --hidden, --layers,
--batch, --bptt, --steps, --lr, --schedule, --clip, --eval-every, --data).
Dropout is not replicated (its masks could not match); keep it 0 for a
comparison. Prints one line per evaluation and a JSON line at the end.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch

FORTUNES = "/usr/share/games/fortunes"


def fortune_files(d):
    out = []
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        if os.path.islink(p) or not os.path.isfile(p) or name.endswith((".dat", ".u8")) or name == "ascii-art":
            continue
        out.append(p)
    return sorted(out)  # charlm sorts full paths


def records(content):
    """The records of a fortune file, each line with its newline (as corpus.cpp)."""
    lines = content.split("\n")
    if content.endswith("\n"):
        lines = lines[:-1]
    current = ""
    for line in lines:
        if line == "%":
            if current:
                yield current
            current = ""
        else:
            current += line + "\n"
    if current:
        yield current


def load_fortunes(d):
    train, valid, test = [], [], []
    k = 0
    for f in fortune_files(d):
        with open(f, encoding="utf-8") as fh:
            for rec in records(fh.read()):
                (valid if k % 20 == 18 else test if k % 20 == 19 else train).append(rec + "\n")
                k += 1
    return "".join(train), "".join(valid), "".join(test)


def load_text(path):
    with open(path, "rb") as fh:
        data = fh.read()

    def cut_at(at):
        nl = data.find(b"\n", at)
        if nl >= 0:
            return nl + 1
        while at < len(data) and (data[at] & 0xC0) == 0x80:
            at += 1
        return at

    a = cut_at(len(data) * 9 // 10)
    b = max(a, cut_at(len(data) * 19 // 20))
    return data[:a].decode(), data[a:b].decode(), data[b:].decode()


def batchify(ids, B):
    n = len(ids) // B
    return torch.tensor(ids[: n * B], dtype=torch.long).view(B, n).t().contiguous()  # (N, B)


def chunks(data, bptt):
    N = data.shape[0]
    for start in range(0, N - 1, bptt):
        L = min(bptt, N - 1 - start)
        yield data[start : start + L], data[start + 1 : start + 1 + L]


class CharModel(torch.nn.Module):
    def __init__(self, cell, V, E, H, layers):
        super().__init__()
        self.embed = torch.nn.Embedding(V, E)
        kind = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
        self.rnn = kind(E, H, layers)
        self.head = torch.nn.Linear(H, V)

    def forward(self, x, state):
        out, state = self.rnn(self.embed(x), state)
        return self.head(out.reshape(-1, out.shape[-1])), state


def detached(state):
    if state is None:
        return None
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


@torch.no_grad()
def bits_per_char(model, ids, batch=16, bptt=128):
    data = batchify(ids, min(batch, max(1, len(ids) // 2)))
    state, nats, count = None, 0.0, 0
    for x, y in chunks(data, bptt):
        logits, state = model(x, state)
        nats += torch.nn.functional.cross_entropy(logits, y.reshape(-1)).item() * x.numel()
        count += x.numel()
    return nats / count / math.log(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", required=True, help="initial weights written by charlm --save-init")
    ap.add_argument("--data", default="")
    ap.add_argument("--fortunes-dir", default=FORTUNES)
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--bptt", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    train, valid, test = load_text(a.data) if a.data else load_fortunes(a.fortunes_dir)
    chars = sorted(set(train + valid + test))  # code-point order = UTF-8 byte order, as Vocabulary
    index = {c: i for i, c in enumerate(chars)}
    encode = lambda s: [index[c] for c in s]
    train_ids, valid_ids, test_ids = encode(train), encode(valid), encode(test)

    model = CharModel(a.cell, len(chars), a.embed, a.hidden, a.layers)
    init = np.load(a.init)
    model.load_state_dict({k: torch.from_numpy(init[k]) for k in model.state_dict()}, strict=True)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, a.steps - 1), eta_min=a.lr / 10)
    batches = list(chunks(batchify(train_ids, a.batch), a.bptt))

    start, state, window = time.perf_counter(), None, []
    for step in range(1, a.steps + 1):
        k = (step - 1) % len(batches)
        if k == 0:
            state = None
        x, y = batches[k]
        logits, state = model(x, detached(state))
        loss = torch.nn.functional.cross_entropy(logits, y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        if a.schedule == "cosine":
            sched.step()
        window.append(loss.item() / math.log(2))
        if step % a.eval_every == 0 or step == a.steps:
            elapsed = time.perf_counter() - start  # before the evaluation, as charlm's log.csv
            v = bits_per_char(model, valid_ids)
            print(f"step {step}/{a.steps}  train {np.mean(window):.3f}  valid {v:.3f} bits/char  {elapsed:.1f} s",
                  flush=True)
            window = []
    wall = time.perf_counter() - start  # training and its evaluations, as charlm's wall_seconds
    result = {"library": "pytorch " + torch.__version__, "steps": a.steps, "valid_bits_per_char": v,
              "test_bits_per_char": bits_per_char(model, test_ids), "wall_seconds": wall}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
