"""Server-rendered pages for people on the floor (Django templates + HTMX)."""
