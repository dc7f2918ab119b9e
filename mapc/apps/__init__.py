"""The commands beyond compile: compare, bench, explore, policy. Each builds on `mapc.api` and owns its
arguments (`add_arguments`) and its command (`cli_main`)."""
