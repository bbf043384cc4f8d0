"""Logic only the transients study needs (real/bogus triplets, after Stoppa et al. 2025): one function per
rule, called by the entry scripts with plain values (:mod:`.jobs`); the dataset and split (:mod:`.data`);
PNG rendering with ZScale or min-max (:mod:`.render`); transparent image statistics, the offline
``features`` classifier and the offline judges (:mod:`.features`); prompts, few-shot examples and answer
schemas (:mod:`.prompt`); the classify / judge / refine / repeat stages (:mod:`.stages`, which ask the model
through :mod:`skytext.llm.runner` with their own answer specs); the CNN and kNN baselines (:mod:`.cnn`); the
evaluation -- scores on each method's answers and on the common subset, refinement, judge, repeatability
(:mod:`.evaluate`); report figures (:mod:`.report`). May import core, sources, llm and eval."""
