"""HTTP routes, one module per OpenAPI tag."""
