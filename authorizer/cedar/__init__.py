"""Cedar: the schema (read and modelled), values coerced to it, the policies (read, compiled,
indexed by what they read) and the engine that decides with cedarpy."""
