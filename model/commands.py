"""What every ``doppelganger`` subcommand shares, whichever package registers it: ``UserError`` and
``module_handler``.

This module imports nothing of the project at the top, so any module (a command's ``main``, a library function
that checks user input) can raise ``UserError`` without importing the command line that registers it.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable


class UserError(Exception):
    """Something the user can fix (a missing dataset, a bad flag); printed as one line, without a traceback."""


def module_handler(module: str) -> Callable[[argparse.Namespace], int]:
    """A handler that runs ``module.main(args)``, importing it only then (so ``--help`` stays instant), and
    reports what the user can fix (a missing dataset, run or weights file, a bad value) as one line."""

    def handler(args: argparse.Namespace) -> int:
        try:
            importlib.import_module(module).main(args)
        except (FileNotFoundError, ValueError, RuntimeError) as error:
            from model.networks.backbones import WeightsUnavailableError

            if isinstance(error, (FileNotFoundError, ValueError, WeightsUnavailableError)):
                raise UserError(str(error)) from error
            raise
        return 0

    return handler
