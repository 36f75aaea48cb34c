"""MLflow: a sweep's runs recorded as it goes (`track`), read back for the results
(`recorded`), and the UI's link and description (`ui`). Kept light: no MLflow import here."""
