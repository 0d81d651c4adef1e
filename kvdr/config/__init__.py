"""Configuration: the settings list, the schema and its two loaders (kvdr.toml, app settings)."""
