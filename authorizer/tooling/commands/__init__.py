"""One module per `cedar-authz` subcommand (the Cedar CLI's model): each has ``add_parser``
and ``run(args) -> exit code``."""
