"""``skytext serve``: a local, read-only web app over a results folder (search, object pages, maps, tables)."""
