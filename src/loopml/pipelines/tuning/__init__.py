"""Tuning a pipeline's parameters with optuna, split by job: the space language
(``_space``), the study (``_study``), the records (``_records``), the trial loop
(``_tune``) and persistence (``_repository``). The public names are exported by
:mod:`loopml.pipelines`."""
