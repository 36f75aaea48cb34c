"""MLflow: a sweep's runs recorded as it goes (`track`), read back for the results
(`recorded`), the UI's link and description (`ui`), the store's address (`uri`). Kept
light: no MLflow import here."""
