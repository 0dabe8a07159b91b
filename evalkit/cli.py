"""The ``evalkit`` command line: run, list, plugins, new-plugin (and score / train / convert from the runtime).

User errors print one sentence and exit 2 (``--debug`` shows the traceback); a run with a failed task
exits 1. Importing this module does not import jax.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from evalkit.errors import UserError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="evalkit", description="Evaluate how language models generalize.")
    p.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="run the tasks of a config",
        description=(
            "Run CONFIG (a Python file with get_config(), optionally path.py:ARG). Override any key with "
            "--config.KEY.SUBKEY=VALUE."
        ),
    )
    run.add_argument("config", help="path/to/config.py[:arg]")
    run.add_argument("--print-config", action="store_true", help="print the resolved config and exit")

    train = sub.add_parser(
        "train",
        help="train the probe models of a config's tasks without evaluating",
        description=(
            "Train (or reuse) every probe model the config's tasks ask for; `evalkit run` with the same "
            "config then reuses them. Override any key with --config.KEY.SUBKEY=VALUE."
        ),
    )
    train.add_argument("config", help="path/to/config.py[:arg]")
    train.add_argument("--print-config", action="store_true", help="print the resolved config and exit")

    lst = sub.add_parser("list", help="list registered tasks, suites, models, metrics or reporters")
    lst.add_argument("kind", choices=["tasks", "suites", "models", "metrics", "reporters"])
    lst.add_argument("--json", action="store_true", help="machine-readable output")

    plugins = sub.add_parser("plugins", help="list installed plugins and what each registered")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")

    for module in _EXTRA_COMMANDS:
        __import__(module, fromlist=["add_parser"]).add_parser(sub)
    _no_abbreviations(p)
    return p


def _no_abbreviations(parser: argparse.ArgumentParser) -> None:
    """Options are spelled out (`--batch-tok` is an error): an abbreviation that works today would silently
    mean another option once a longer one is added, and scripts and docs must not depend on that."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _no_abbreviations(child)


# Subcommands that live next to the code they drive (loaded lazily so --help stays jax-free).
_EXTRA_COMMANDS = (
    "evalkit.runtime.score_cli",
    "evalkit.runtime.convert_cli",
    "evalkit.results.compare",
    "evalkit.plugin_template",
    "evalkit.leaderboard.cli",
)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        from evalkit.config import split_overrides

        overrides, rest = split_overrides(argv)
        args = _parser().parse_args(rest)
        if overrides and args.command not in ("run", "train", "score", "leaderboard"):
            raise UserError(
                f"--config.* overrides only apply to `evalkit run`, `train`, `score` and `leaderboard run`, "
                f"not `{args.command}`"
            )
        return _dispatch(args, overrides)
    except UserError as exc:
        if debug:
            raise
        sys.unraisablehook = _quiet_closed_loop(sys.unraisablehook)
        print(f"evalkit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evalkit: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `evalkit list tasks | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python docs' recipe: no flush error
        return 141


def _quiet_closed_loop(hook):
    """After an error: orbax's background I/O may still call into its closed asyncio loop while the
    process exits; that 'Event loop is closed' noise would print a traceback under the one sentence."""

    def hook_without_closed_loop(unraisable) -> None:
        value = unraisable.exc_value
        if not (isinstance(value, RuntimeError) and str(value) == "Event loop is closed"):
            hook(unraisable)

    return hook_without_closed_loop


def _dispatch(args: argparse.Namespace, overrides: dict[str, str]) -> int:
    from evalkit.plugins import get_host
    from evalkit.runtime.host_memory import keep_freed_host_memory

    keep_freed_host_memory()  # XLA's per-call CPU buffers reused, not re-faulted (docs/runtime.md)

    host = get_host()
    if args.command == "list":
        return cmd_list(host, args.kind, args.json)
    if args.command == "plugins":
        return cmd_plugins(host, args.json)
    if args.command == "run":
        return cmd_run(host, args.config, overrides, args.print_config)
    if args.command == "train":
        return cmd_train(host, args.config, overrides, args.print_config)
    return args.func(args, overrides)


def cmd_list(host, kind: str, as_json: bool) -> int:
    from evalkit.resolve import default_config_of

    reg = host.registry(kind)
    items = []
    for name in reg.names():
        obj = reg.get(name)
        item = {"name": name, "plugin": reg.plugin_of(name), "description": getattr(obj, "description", "")}
        if kind == "tasks":
            item["version"] = obj.version
            item["config"] = default_config_of(obj, "task").to_dict()
        elif kind == "models":
            item["config"] = default_config_of(obj, "model").to_dict()
        elif kind == "suites":
            item["tasks"] = list(obj.tasks)
            item["groups"] = {"key": obj.group_key, "labels": dict(obj.groups)}
        items.append(item)
    if as_json:
        print(json.dumps(items, indent=2, default=str))
    else:
        for it in items:
            print(f"{it['name']:<28} {it['plugin']:<32} {it['description']}".rstrip())
    return 0


def cmd_plugins(host, as_json: bool) -> int:
    info = host.plugins_info()
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        for p in info:
            regs = "; ".join(f"{k}: {', '.join(v)}" for k, v in p["registered"].items())
            print(f"{p['name']} ({p['distribution']} {p['version']})  {regs or 'registers nothing'}")
            print(f"    hooks: {', '.join(p['hooks']) or 'none'}")
    return 0


def cmd_run(host, spec: str, overrides: dict[str, str], print_only: bool = False) -> int:
    from evalkit.config import load_config_file
    from evalkit.resolve import resolve_run

    resolved = resolve_run(load_config_file(spec), overrides, host)
    _print_resolved(resolved)
    if print_only:
        return 0
    return run_resolved(host, resolved)


def _print_resolved(resolved) -> None:
    """The resolved config and its run hash, as JSON (what `--print-config` shows)."""
    print(
        json.dumps(
            {"run_hash": resolved.run_hash, "config": resolved.config.to_dict()}, indent=2, default=str
        )
    )


def cmd_train(host, spec: str, overrides: dict[str, str], print_only: bool = False) -> int:
    """Train or reuse the probes of every probe task; print one JSON line per (task, seed)."""
    from evalkit import probes
    from evalkit.config import load_config_file
    from evalkit.resolve import resolve_run
    from evalkit.results import writable_dir

    resolved = resolve_run(load_config_file(spec), overrides, host)
    entries = [e for e in resolved.tasks if e.task.trains_probes]
    if not entries:
        raise UserError("none of the config's tasks trains probe models; use `evalkit run` to evaluate them")
    if print_only:
        _print_resolved(resolved)
        return 0
    _start_distributed(resolved.config)
    writable_dir(resolved.config.output_dir, "--config.output_dir")
    for entry in entries:
        for seed in probes.iter_probe_seeds(entry):
            result = probes.train_task_probe(entry, seed, resolved.config)
            print(json.dumps({"task": entry.label, "seed": seed, **probes.training_summary(result)}))
    return 0


def _start_distributed(cfg) -> None:
    """Join the multi-process runtime first, when configured: any jax call before it would start a
    single-process runtime instead (and every process would act as process 0)."""
    if cfg.runtime.distributed.enabled:
        from evalkit.runtime.handle import start_distributed

        start_distributed(cfg.runtime)


def _load_model(spec, config, runtime, section: str):
    """A model handle (the run's model or its judge), or one sentence naming the section to fix."""
    try:
        return spec.load(config, runtime)
    except UserError as exc:
        if section == "judge":  # say that it is the judge that failed
            raise UserError(f"judge {config.name!r}: {exc}") from exc
        raise
    except Exception as exc:  # noqa: BLE001 - a model plugin failing to build is a config problem
        raise UserError(
            f"{section} {config.name!r} failed to load ({type(exc).__name__}: {exc}); check config.{section}"
        ) from exc


def run_resolved(host, resolved) -> int:
    """Prepare data, load the model, evaluate, report. Returns the exit status."""
    from evalkit.results import writable_dir
    from evalkit.runner import execute, prepare_data

    cfg = resolved.config
    _start_distributed(cfg)
    run_dir = writable_dir(cfg.output_dir, "--config.output_dir")
    reporters = [host.registry("reporters").get(name) for name in cfg.reporters]
    examples = prepare_data(resolved)
    handle = _load_model(resolved.model, cfg.model, cfg.runtime, "model")
    judge = _load_model(resolved.judge.spec, cfg.judge, cfg.runtime, "judge") if resolved.judge else None
    results = execute(resolved, host, examples, handle, judge)
    from evalkit.runner import process_index

    failed = [label for label, t in results["tasks"].items() if t["status"] != "ok"]
    if process_index() == 0:
        for reporter in reporters:
            try:
                reporter.report(results, run_dir)
            except Exception as exc:  # noqa: BLE001 - one broken reporter must not cost the others
                failed.append(reporter.name)
                print(
                    f"evalkit: reporter {reporter.name!r} failed ({type(exc).__name__}: {exc}); "
                    "results.json and the other reports were written",
                    file=sys.stderr,
                )
        print(f"\nresults: {run_dir / 'results.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
