"""Entity data: the stores that give Cedar the resources and group hierarchy (a JSON file or
DynamoDB), with their caches."""
