"""The command starts at once: ``import pyro_lvm`` and the parser load neither torch nor the
libraries behind it; the names the parser offers are those the registries build."""

import subprocess
import sys

import pyro_lvm
from pyro_lvm import vocabulary
from pyro_lvm.guides.registry import GUIDES, check_guide_name
from pyro_lvm.likelihoods import LIKELIHOODS
from pyro_lvm.runs import RECIPES

HEAVY = ("torch", "pyro", "numpy", "pandas", "matplotlib", "arviz", "sklearn")


def _loaded_after(code):
    """The heavy libraries a fresh interpreter holds after running ``code``."""
    probe = (f"{code}\nimport sys\n"
             f"print('loaded:', ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True).stdout
    return shown.splitlines()[-1] if shown.strip() else ""


def test_importing_the_package_and_parsing_a_command_load_no_heavy_library():
    assert _loaded_after("import pyro_lvm") == "loaded: "
    assert _loaded_after("from pyro_lvm.cli import build_parser\n"
                         "build_parser().parse_args(['train', 'vae', '--epochs', '3'])") == "loaded: "


def test_help_and_a_bad_argument_answer_before_torch_loads():
    for argv in (["--help"], ["train", "--help"], ["train", "--epochs", "three"]):
        assert _loaded_after("from pyro_lvm.cli import main\n"
                             f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass") == "loaded: "


def test_every_public_name_resolves_on_first_use():
    for name in pyro_lvm.__all__:
        assert getattr(pyro_lvm, name) is not None, name
    assert set(pyro_lvm.__all__) <= set(dir(pyro_lvm))
    assert pyro_lvm.VAE.__module__ == "pyro_lvm.models.vae"


def test_the_parser_offers_exactly_what_the_registries_build():
    assert vocabulary.MODEL_KINDS == tuple(sorted(RECIPES))
    assert vocabulary.LIKELIHOOD_NAMES == tuple(sorted(LIKELIHOODS))
    for name in GUIDES:
        assert f"'{name}'" in vocabulary.GUIDE_NAMES
        assert check_guide_name(name) == name
    assert check_guide_name("flow:iaf*2") == "flow:iaf*2"
