"""The one thing pyproject.toml cannot say: the top-level ``templates/`` and ``static/`` folders are installed as
``app/templates`` and ``app/static``, so a non-editable install (the Dockerfile's ``pip install .``) serves the
pages too. Everything else is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

WEB = {"app.templates": "templates", "app.static": "static"}

setup(
    packages=find_namespace_packages(include=["app*", "model*", "index*"]) + list(WEB),
    package_dir=WEB,
)
