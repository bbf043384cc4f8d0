"""Import audit for Snakemake jobs (tests only): switched on by SKYTEXT_IMPORT_AUDIT=<folder> with this folder
on PYTHONPATH, and SKYTEXT_IMPORT_AUDIT_CODE=<workflow/scripts folders>. Every import statement that runs in code
under that folder (an entry script, or the skytext package) is recorded by its top-level name, including names
already loaded by someone else; ``<folder>/<rule>.<pid>.json`` is written when the job's interpreter exits."""

import os

_OUT = os.environ.get("SKYTEXT_IMPORT_AUDIT")

if _OUT:
    import atexit
    import builtins
    import json
    import sys

    # the code folders (os.pathsep-separated): a workflow copy's and the installed (editable) skytext package's
    _ROOTS = tuple(os.path.abspath(p) + os.sep for p in os.environ.get("SKYTEXT_IMPORT_AUDIT_CODE", "").split(os.pathsep) if p)
    _seen: set[str] = set()
    _import = builtins.__import__

    def _audited_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and globals:
            where = globals.get("__file__") or ""
            # Snakemake runs a script from a temporary copy: its __main__ has the snakemake object
            if (_ROOTS and os.path.abspath(where).startswith(_ROOTS)) or "snakemake" in globals and globals.get("__name__") == "__main__":
                _seen.add(name.split(".")[0])
        return _import(name, globals, locals, fromlist, level)

    def _write():
        smk = getattr(sys.modules.get("__main__"), "snakemake", None)
        rule = getattr(smk, "rule", None)
        if not rule:
            return
        os.makedirs(_OUT, exist_ok=True)
        with open(os.path.join(_OUT, f"{rule}.{os.getpid()}.json"), "w") as fh:
            json.dump({"rule": rule, "imports": sorted(_seen)}, fh)

    builtins.__import__ = _audited_import
    atexit.register(_write)
