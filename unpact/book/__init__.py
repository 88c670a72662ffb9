"""Machinery behind ``unpact run`` and ``unpact book``.

- :mod:`unpact.book.notebooks`: where the notebooks are, and the parameters their ``parameters`` cell declares.
- :mod:`unpact.book.profiles`: profile YAML files (which notebooks run, with which parameters), validated.
- :mod:`unpact.book.runner`: execute notebooks with papermill, with stamps so unchanged notebooks are skipped.
- :mod:`unpact.book.pages`: book pages generated from results files (status table, parameters, performance, API).
- :mod:`unpact.book.build`: ``jupyter-book build`` with warnings as errors.
"""
