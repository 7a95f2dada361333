"""Model adapters: the Protocol in ``base``, one module per family, presets in ``registry``."""
