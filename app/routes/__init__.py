"""HTTP routes: thin, over ``app.services``."""
