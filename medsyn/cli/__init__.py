"""The `medsyn` command: thin wiring from arguments and YAML configs to the library."""
