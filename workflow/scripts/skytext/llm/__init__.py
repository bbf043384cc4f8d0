"""A reusable LLM layer: chat with retries and image-capable messages (:mod:`.client`), a content-addressed
cache (:mod:`.cache`), the Batch API (:mod:`.batch`), cost estimates (:mod:`.cost`) and, built on them, the
proposal summaries of the ``summarise`` rule (:mod:`.summarise`, :mod:`.runner`, :mod:`.schema`,
:mod:`.keywords`). Config sections arrive complete and checked: the JSON schema is the only home of their
defaults and allowed values, and :func:`skytext.core.config.check` runs the rules that compare keys."""
