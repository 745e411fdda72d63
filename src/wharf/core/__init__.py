"""The domain: plain async functions over a database connection and a blob store. No HTTP here."""
