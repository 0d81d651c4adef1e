"""Configuration: the settings list, the schema, its loaders (kvdr.toml, app settings) and the
vault URLs and cloud DNS suffixes kvdr accepts."""
