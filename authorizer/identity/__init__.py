"""Who calls: the bearer token verified against the issuer's keys, its claims turned into Cedar
entities, and the revocation list."""
