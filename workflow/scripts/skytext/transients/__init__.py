"""Logic only the transients study needs (real/bogus triplets, after Stoppa et al. 2025): the dataset and
split (:mod:`.data`), PNG rendering (:mod:`.render`), transparent image statistics and the offline
``features`` classifier and rule-based judge (:mod:`.features`), prompts, few-shot examples and answer
schemas (:mod:`.prompt`), the classify / judge / refine / repeat stages (:mod:`.stages`, which ask the model
through :mod:`skytext.llm.runner` with their own answer specs), the CNN and
kNN baselines (:mod:`.cnn`), the study's evaluation glue (:mod:`.evaluate`) and report figures
(:mod:`.report`). May import core, sources, llm and eval."""
