"""Importing any module of the package reads no TOUCHLINE_* variable and builds no Faust
app: settings come from `Settings.from_env` at an entry point, apps from `create_app`."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.hub import REPO

PROBE = textwrap.dedent(
    """
    import importlib, os, pkgutil, sys

    class Guarded(dict):
        def _check(self, key):
            if str(key).startswith("TOUCHLINE_"):
                raise AssertionError(f"{key} read at import")
        def __getitem__(self, key):
            self._check(key)
            return super().__getitem__(key)
        def get(self, key, default=None):
            self._check(key)
            return super().get(key, default)
        def __contains__(self, key):
            self._check(key)
            return super().__contains__(key)

    os.environ = Guarded(os.environ)
    import faust

    def no_app(*args, **kwargs):
        raise AssertionError("a Faust app built at import")

    faust.App.__init__ = no_app
    import streams

    names = [m.name for m in pkgutil.walk_packages(streams.__path__, "streams.")]
    for name in names:
        if name != "streams.__main__":
            importlib.import_module(name)
    print(len(names))
    """
)


def test_importing_every_module_reads_no_setting_and_builds_no_app() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 80  # every module was imported, not none
