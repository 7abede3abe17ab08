"""Command-line interfaces. Each module registers its subcommands on the ``cmc-agent`` parser."""
