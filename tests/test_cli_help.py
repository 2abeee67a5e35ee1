"""``--help`` explains every option, in plain words."""

import argparse

from pyro_lvm.cli import build_parser


def _commands(parser):
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def test_every_option_of_every_command_has_help():
    parser = build_parser()
    missing = [f"{name} {'/'.join(action.option_strings)}"
               for name, command in _commands(parser).items() for action in command._actions
               if action.option_strings and not action.help]
    assert not missing


def test_the_description_is_plain_text():
    assert "``" not in build_parser().description
