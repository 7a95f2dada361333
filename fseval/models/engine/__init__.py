"""The decoding engine every model family (openflamingo, idefics, hf_vlm) generates and ranks with.

- ``decoding``: greedy and beam search with no host-device sync per step (fseval's loop), picking the
  tokens ``generate`` picks; a family runs its prompt pass and hands the loop a ``TokenSteps``.
- ``kv_cache``: the in-place decoding cache, gathered prompt caches, and the ranking loop
  (``score_in_passes``: each prompt's cache continued by its candidates' rows, in passes sized to
  memory; ``split_continuation`` and ``rows_after_cache`` turn candidates into rows).
- ``memory``: what an out-of-memory error means and how work shrinks to fit (``Halving``: one
  policy for ranking passes and the runner's batches).
- ``media_cache``: encoded images kept across the run, by bytes.
- ``tokenization``: tokenizers set up and decoded as on the release-era stack.

Families build their inputs (masks, positions, images) and call these; the engine never imports a family.
"""
