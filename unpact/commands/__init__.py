"""Subcommands of the ``unpact`` CLI, one module each (see ``unpact.cli``)."""
