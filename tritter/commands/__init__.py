"""CLI subcommands, one module per command.

Each module defines `register(subparsers)` which adds its parser and sets `handler` (a function
taking the parsed namespace and returning an exit code). `tritter.cli` discovers the modules
here, so adding a command never touches a shared file. Keep module-level imports light (argparse
and config classes only): every `tritter` invocation imports all command modules, and heavy
libraries (torch, pyarrow, kfp) belong inside the handlers.
"""
