"""Few-shot adaptation: new heads on the frozen features of a base model, a reference library of
labelled images, and "similar labelled images" as evidence. Sits above ``analysis``, below
``batch``/``report``/``commands``/``gui``; never imports Qt."""
