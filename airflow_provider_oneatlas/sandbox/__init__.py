"""A local OneAtlas-compatible server for tests, demos and offline DAG development.

Production code never imports this package.
"""
