"""The subcommands of shopctl: run, test and load, one module each."""
