"""The spec builder: layers, inserted permutations, conditional layers, seeds and errors."""

import pytest
import torch

from pyro_lvm.flows import (
    Permute,
    build_flow,
    parse_spec,
)


def kinds(layers):
    return [type(layer).__name__ for layer in layers]


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("lu,coupling,lu,coupling", ["LULinear", "AffineCoupling", "LULinear", "AffineCoupling"]),
        ("maf*3", ["MAF", "Permute", "MAF", "Permute", "MAF"]),
        ("qr,iaf*2", ["QRLinear", "IAF", "Permute", "IAF"]),
        ("maf,coupling,iaf", ["MAF", "Permute", "AffineCoupling", "Permute", "IAF"]),
        ("maf, shuffle ,MAF", ["MAF", "Permute", "MAF"]),
        ("reverse*2", ["Permute", "Permute"]),
    ],
)
def test_layers_and_inserted_permutations(spec, expected):
    layers = build_flow(spec, 4, hidden=(8,))
    assert kinds(layers) == expected
    inserted = [layer for layer in layers if isinstance(layer, Permute) and "shuffle" not in spec]
    assert all(torch.equal(p.permutation, torch.tensor([3, 2, 1, 0])) for p in inserted)


def test_context_makes_network_layers_conditional():
    layers = build_flow("lu,maf,iaf,coupling", 4, hidden=(8,), context_dim=2)
    assert kinds(layers) == ["LULinear", "ConditionalMAF", "Permute", "ConditionalIAF", "Permute",
                             "ConditionalAffineCoupling"]
    assert all(layer.context_dim == 2 for layer in layers if hasattr(layer, "context_dim"))


def test_seed_fixes_parameters_and_shuffles_without_touching_the_global_rng():
    state = torch.get_rng_state()
    a, b = build_flow("shuffle,maf,lu", 6, hidden=(8,), seed=3), build_flow("shuffle,maf,lu", 6, hidden=(8,), seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    c = build_flow("shuffle,maf,lu", 6, hidden=(8,), seed=4)

    def same(u, v):
        return all(torch.equal(p, q) for p, q in zip(u.state_dict().values(), v.state_dict().values()))

    assert all(same(u, v) for u, v in zip(a, b))
    assert not same(a[0], c[0]) and not same(a[1], c[1])


def test_parse_spec_expands_counts():
    assert parse_spec("qr,iaf*2") == ["qr", "iaf", "iaf"]
    assert parse_spec(" LU * 2 ") == ["lu", "lu"]


VALID = r"among coupling, iaf, lu, maf, nsf, nsf-coupling, nsf-iaf, qr, reverse, shuffle, each optionally followed by \*N with N >= 1"


@pytest.mark.parametrize(
    "spec, match",
    [
        ("lu,glow", VALID + r"; 'glow' is not one"),
        ("", VALID + r"; '' is not one"),
        ("lu,,maf", VALID),
        ("maf*0", VALID + r"; the count in 'maf\*0' is not"),
        ("maf*x", VALID + r"; the count in 'maf\*x' is not"),
        ("maf*", VALID + r"; the count in 'maf\*' is not"),
    ],
)
def test_bad_specs_list_the_valid_names(spec, match):
    with pytest.raises(ValueError, match=r"spec: got .*, expected comma-separated layer names " + match):
        build_flow(spec, 4)


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match=r"spec: got list, expected a string"):
        build_flow(["maf"], 4)
    with pytest.raises(ValueError, match=r"dim: got 0, expected an integer >= 1"):
        build_flow("lu", 0)
    with pytest.raises(ValueError, match=r"context_dim: got -1"):
        build_flow("maf", 3, context_dim=-1)
    with pytest.raises(ValueError, match=r"dim: got 1, expected at least 2 for a coupling layer"):
        build_flow("coupling", 1)
    with pytest.raises(ValueError, match=r"hidden: got \(0,\), expected a non-empty tuple"):
        build_flow("maf", 3, hidden=(0,))


def test_dimension_one_flows_that_are_defined():
    assert kinds(build_flow("lu,qr", 1)) == ["LULinear", "QRLinear"]
    assert kinds(build_flow("maf*2", 1, hidden=(8,), context_dim=2)) == ["ConditionalMAF", "Permute", "ConditionalMAF"]
