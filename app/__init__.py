"""The command line and web application (built on ``index`` and ``model``)."""
