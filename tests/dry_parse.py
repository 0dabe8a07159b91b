"""Run Python scripts and modules up to their argparse call and stop there: the dry form of a documented
`python benchmarks/x.py --flag` (imports and arguments checked, nothing measured).

    python tests/dry_parse.py JOBS.json   # [{"target": path or module, "module": bool, "argv": [...]}, ...]

Prints one JSON object: {"results": [{"ok": bool, "args" | "error": ...}, ...]} in the jobs' order.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import runpy
import sys
import traceback


class Parsed(Exception):
    """Raised in place of returning from parse_args: the script stops before doing any work."""


def _parse_then_stop(parse_args):
    def parse(self, args=None, namespace=None):
        self.allow_abbrev = False  # the documented option must be spelled as the script defines it
        raise Parsed(vars(parse_args(self, args, namespace)))

    return parse


def run_job(job: dict) -> dict:
    target, argv = job["target"], job["argv"]
    saved_path, saved_argv = list(sys.path), list(sys.argv)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            sys.argv = [target, *argv]
            if job["module"]:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
            else:
                sys.path.insert(0, os.path.dirname(os.path.abspath(target)))  # as `python script.py` does
                runpy.run_path(target, run_name="__main__")
        return {"ok": False, "error": "it finished without parsing arguments with argparse"}
    except Parsed as parsed:
        return {"ok": True, "args": {k: repr(v) for k, v in parsed.args[0].items()}}
    except SystemExit as exc:  # --help exits 0 after printing the usage: the command parsed
        if exc.code in (0, None):
            return {"ok": True, "args": {"help": "shown"}}
        return {"ok": False, "error": f"exit status {exc.code}: {err.getvalue().strip()[-2000:]}"}
    except BaseException:  # noqa: BLE001 - reported to the test, which fails with it
        return {"ok": False, "error": traceback.format_exc()[-3000:]}
    finally:
        sys.path[:], sys.argv = saved_path, saved_argv


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        jobs = json.load(f)
    argparse.ArgumentParser.parse_args = _parse_then_stop(argparse.ArgumentParser.parse_args)
    print(json.dumps({"results": [run_job(job) for job in jobs]}))


if __name__ == "__main__":
    main()
