"""The storage layer: every file the project writes goes through `storage.files`, and the
document columns every layer shares live in `storage.columns`. Neither imports `pipeline` or
`operators`, so both may import them."""
