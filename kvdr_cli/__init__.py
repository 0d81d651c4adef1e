"""The `kvdr` command line, `make demo` and the local runtime that hosts function_app on
the local engine: above the app, never imported by it."""
