"""What `make bench` starts and runs besides the stages (see shopctl/commands/bench.py)."""
