"""Bad input through every subcommand: exit status 2, one line on stderr, no traceback, and
not one file written, changed or removed.

The cases run in this process (``main(argv)``), against one small trained run and crafted
copies of it, with the working directory inside the snapshot (a default run directory would
show up there).
"""

import hashlib
import os
import shutil

import numpy as np
import pytest
import torch

from pyro_lvm.checkpoint import load_checkpoint, save_checkpoint
from pyro_lvm.cli import main

FAST = ["--epochs", "2", "--hidden", "16", "--latent-dim", "2", "--eval-samples", "5",
        "--quiet", "--device", "cpu"]


def _craft(root, name, edit):
    """A copy of ``root/run`` whose checkpoint ``edit(state)`` changed (or replaced)."""
    crafted = root / name
    shutil.copytree(root / "run", crafted)
    state = load_checkpoint(crafted / "checkpoint.pt")
    del state["format_version"]
    edited = edit(state)
    if isinstance(edited, bytes):
        (crafted / "checkpoint.pt").write_bytes(edited)
    else:
        save_checkpoint(state, crafted / "checkpoint.pt")


def _tables(root):
    rng = np.random.default_rng(1)
    rows = [f"p{i},{40 + rng.normal() * 9:.1f},{'mf'[i % 2]},{rng.poisson(2)}"
            for i in range(80)]
    header = ",age,sex,visits\n"
    (root / "table.csv").write_text(header + "\n".join(rows[:-1] + ["p79,,f,1"]) + "\n")
    (root / "complete.csv").write_text(header + "\n".join(rows) + "\n")
    (root / "unseen.csv").write_text(header + "q1,40.0,x,1\n")
    (root / "negcount.csv").write_text(header + "\n".join(rows + ["p80,40.0,f,-2"]) + "\n")
    (root / "nocol.csv").write_text(header + "\n".join(
        row.rsplit(",", 1)[0] + "," for row in rows) + "\n")
    (root / "norow.csv").write_text(header + "\n".join(rows + ["p80,,,"]) + "\n")


class _Exec:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    assert main(["train", "--out", str(root / "run"), *FAST]) == 0
    rng = np.random.default_rng(0)
    np.savetxt(root / "rows.csv", (rng.random((6, 64)) < 0.5).astype(float), delimiter=",")
    np.savetxt(root / "wide.csv", rng.random((6, 10)), delimiter=",")
    np.savetxt(root / "neg.csv", rng.normal(size=(40, 64)), delimiter=",")
    np.savetxt(root / "small.csv", rng.normal(size=(60, 4)), delimiter=",")
    (root / "nan.csv").write_text("1,2\n3,nan\n" * 20)
    (root / "text.csv").write_text("a,b\nx,y\n1,z\n")
    (root / "empty.csv").write_text("")
    (root / "ragged.csv").write_text("1,2\n3\n")
    (root / "fake.npy").write_text("not numpy")
    (root / "f").write_text("x")
    _tables(root)
    assert main(["train", "--data", str(root / "table.csv"), "--missing", "--out",
                 str(root / "tabrun"), *FAST]) == 0
    _craft(root, "no-spec", lambda state: state.pop("spec"))
    _craft(root, "bad-spec", lambda state: state.update(spec={"model": "vae", "bogus": 1}))
    _craft(root, "bad-moments", lambda state: state["optimizer"].update(state={0: {
        "step": torch.tensor(1.0), "exp_avg": torch.zeros(2), "exp_avg_sq": torch.zeros(2)}}))
    _craft(root, "bad-weights", lambda state: state["model"].update(
        {name: torch.zeros(3) for name in list(state["model"])[:1]}))
    _craft(root, "truncated", lambda state: (root / "run" / "checkpoint.pt").read_bytes()[:99])
    _craft(root, "pickle", lambda state: __import__("pickle").dumps({"a": _Exec()}))
    return root


CASES = [
    # train: values out of range or of the wrong kind
    "train --epochs 0", "train --epochs -3", "train --epochs 1.5", "train --lr -1",
    "train --lr inf", "train --lr nan", "train --latent-dim 0", "train --latent-dim 1000000000",
    "train --latent-dim 90000 --hidden 90000", "train --hidden 0", "train --hidden a,b",
    "train --hidden 1000000", "train --batch-size 0", "train --batch-size 100000",
    "train --particles 0", "train --clip-norm 0", "train --clip-norm inf",
    "train --eval-samples 0", "train --eval-samples -1", "train --eval-samples 10000000",
    "train --likelihood gaussian --scale inf", "train --likelihood gaussian --scale 0",
    "train --scale -1", "train --likelihood laplace", "train --elbo foo", "train --guide bogus",
    "train --elbo renyi:1", "train --elbo renyi:x", "train --elbo iwae --particles 5 --beta 2",
    "train --beta 0", "train --beta -1", "train --beta nan", "train --kl-warmup -1",
    "train --free-bits -1", "train --free-bits 0.5 --elbo iwae --particles 3",
    "train --free-bits 0.5 --guide fullrank", "train --lr-schedule linear",
    "train --lr-schedule step:0:0.5", "train --early-stop -2", "train --prior vamp:0",
    "train --prior bogus", "train --prior vamp:3 --guide flow:iaf", "train ppca --prior vamp:3",
    "train --guide flow:glow", "train --guide flow:iaf*99999999999", "train --seed -1",
    "train --threads 0", "train --dist-timeout -1", "train --dist-timeout inf",
    "train --device tpu", "train bogusmodel", "train --bogus-option",
    # options the model does not read
    "train ppca --guide fullrank", "train gmm --guide meanfield", "train flow --guide meanfield",
    "train flow --latent-dim 3", "train ppca --likelihood gaussian", "train vae --components 4",
    "train gmm --elbo trace",
    # model sizes and layers
    "train gmm --components 0", "train gmm --components 10000000",
    "train flow --data moons --flow lu*99999999999", "train flow --data moons --flow maf,glow",
    "train flow --data moons --flow ''",
    "train flow --data moons --flow maf*100 --hidden 100000,100000",
    "train --guide flow:iaf*50 --hidden 100000,100000",
    # data
    "train --data {root}/no-such.csv", "train --data {root}/nan.csv --likelihood gaussian",
    "train --data {root}/text.csv", "train --data {root}/empty.csv",
    "train --data {root}/ragged.csv", "train --data {root}/fake.npy", "train --data moons",
    "train --data {root}/neg.csv", "train --memmap", "train --data unknown-name",
    "train ppca --data {root}/small.csv --latent-dim 9 --batch-size 16",
    # the run directory
    "train --out ''", "train --out {root}/f", "train --out {root}/f/sub", "train --out {root}/run",
    "train --resume", "train --resume --out {root}/nothing", "train --resume --out {root}/f",
    "train --resume --out {root}/run --epochs 1", "train gmm --resume --out {root}/run",
    "train --resume --out {root}/run --lr 0.5", "train --resume --out {root}/run --latent-dim 7",
    "train --resume --out {root}/run --data digits-binary",
    "train --resume --out {root}/no-spec", "train --resume --out {root}/bad-spec",
    "train --resume --out {root}/bad-moments --epochs 3",
    "train --resume --out {root}/bad-weights --epochs 3",
    "train --resume --out {root}/truncated", "train --resume --out {root}/pickle",
    # evaluate
    "evaluate", "evaluate {root}/nothing", "evaluate {root}/f", "evaluate {root}/run -k 0",
    "evaluate {root}/run -k 10000000", "evaluate {root}/run --gaps --gap-steps 0",
    "evaluate {root}/no-spec", "evaluate {root}/bad-weights", "evaluate {root}/pickle",
    "evaluate {root}/truncated",
    # sample
    "sample {root}/run -n 0", "sample {root}/run -n 100000000000",
    "sample {root}/run --out {root}/s.npy", "sample {root}/truncated", "sample {root}/run -n x",
    # encode
    "encode {root}/run --data {root}/wide.csv --out {root}/l.csv",
    "encode {root}/run --data {root}/nan.csv --out {root}/l.csv",
    "encode {root}/run --data {root}/neg.csv --out {root}/l.csv",
    "encode {root}/run --data {root}/rows.csv --out {root}/l.txt",
    "encode {root}/run --data {root}/no-such.csv --out {root}/l.csv",
    "encode {root}/run --data {root}/rows.csv --out {root}/l.csv --num-samples 0",
    "encode {root}/run --data {root}/rows.csv --out {root}/l.csv --batch-size 0",
    "encode {root}/run --data {root}/rows.csv",
    # tables, missing values and impute
    "train --data {root}/complete.csv --columns age:laplace",
    "train --data {root}/complete.csv --columns height:gaussian",
    "train --data {root}/complete.csv --columns sex:gaussian",
    "train --data {root}/complete.csv --columns {root}/nothing.txt",
    "train --data {root}/negcount.csv --columns visits:negbinom",
    "train --data {root}/table.csv",
    "train --data {root}/nocol.csv --missing", "train --data {root}/norow.csv --missing",
    "train --data {root}/table.csv --missing --memmap", "train ppca --data {root}/table.csv "
    "--missing", "train gmm --data {root}/complete.csv --columns age:gaussian",
    "train --data {root}/complete.csv --likelihood table --data digits",
    "encode {root}/tabrun --data {root}/unseen.csv --out {root}/l.csv",
    "encode {root}/tabrun --data {root}/rows.csv --out {root}/l.csv",
    "impute {root}/run --data {root}/rows.csv --out {root}/i.csv",
    "impute {root}/tabrun --data {root}/table.csv --out {root}/i.txt",
    "impute {root}/tabrun --data {root}/table.csv --out {root}/i.csv --draws -1",
    "impute {root}/tabrun --data {root}/table.csv --out {root}/i.csv -k 0",
    "impute {root}/tabrun --data {root}/unseen.csv --out {root}/i.csv",
    "impute {root}/tabrun --out {root}/i.csv",
    "sample {root}/tabrun --out {root}/s.png",
    # diagnose
    "diagnose {root}/nothing", "diagnose {root}/run --num-samples 0",
    "diagnose {root}/run --num-samples 10000000", "diagnose {root}/pickle",
    # the command itself
    "", "bogus-command",
]


def _tree(root):
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def _argv(case, root):
    import shlex
    return shlex.split(case.format(root=root))


def test_the_table_is_large_and_reaches_every_subcommand():
    assert len(CASES) >= 60 and len(set(CASES)) == len(CASES)
    assert {case.split()[0] for case in CASES if case} >= {"train", "evaluate", "sample",
                                                           "encode", "impute", "diagnose"}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, root, capsys, monkeypatch):
    monkeypatch.chdir(root)
    before = _tree(root)
    with pytest.raises(SystemExit) as exit_:
        main(_argv(case, root))
    err = capsys.readouterr().err
    assert exit_.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("pyro-lvm"), err
    assert "Traceback" not in err and "weights_only" not in err, err
    assert _tree(root) == before
