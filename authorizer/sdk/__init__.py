"""The library for backends (not in the Lambda package): the decision API, field redaction and
the aiohttp middleware, deciding with the same policies as the gateway."""
