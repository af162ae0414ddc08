"""Faults as Chaos Toolkit activities (``provider: {type: python, module: drillkit.faults...}``).

They work under ``chaos run`` too. Each disruptive fault reports in its output,
under ``drillkit_injected_at``, the instant the target acknowledged the first
disruptive operation (the first accepted eviction or deletion): that is ``t_inject``.
"""
