"""The policy author's side of `cedar-authz` (validate, format, test, explain, diff): the logic
shared by those commands, kept apart from their argument parsing and printing."""
