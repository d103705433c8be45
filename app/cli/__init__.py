"""The `mca` command line: commands, the dev runner and the embedded servers."""
