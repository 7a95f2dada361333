"""The decoding engine every model family generates and ranks with.

- ``decoding``: greedy and beam search with no host-device sync per step (fseval's loop).
- ``kv_cache``: the in-place decoding cache, gathered prompt caches, and ranking passes
  (``score_in_passes``: each prompt's cache continued by its candidates, in passes sized to memory).
- ``memory``: what an out-of-memory error means and how work shrinks to fit (one policy).
- ``media_cache``: encoded images kept across the run, by bytes.
- ``tokenization``: tokenizers set up and decoded as on the release-era stack.

Families build their inputs and call these; the engine never imports a family.
"""
