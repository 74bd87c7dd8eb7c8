"""The Python API over the tasks: `Model` (a detector called on paths, URLs, arrays and PIL images),
its `Result`s, and the reports of `Model.evaluate` and `compare`. `import detect_cli` offers them."""
