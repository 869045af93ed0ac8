"""The app's services: what the routes call. Routes stay thin; the work is here, over ``index`` and ``model``."""
