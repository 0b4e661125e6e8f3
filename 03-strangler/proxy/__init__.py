"""The strangler proxy of stage 03: owns the public port and routes each request to the
monolith or to an extracted service, by method and path prefix, from routes.toml."""
