"""Adapters to the outside world: the only modules that import the Kubernetes client
and other third-party clients. Foreign errors are translated here into ``drillkit.errors``.
"""
