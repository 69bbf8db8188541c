"""The fashion-attribute recipe: the code behind ``train.py``, ``predict.py``, ``ablate.py``, ``synthetic.py``.

A package beside the entry scripts, so that its modules never shadow installed ones: a script
run as ``python examples/fashion_attributes/train.py`` has its own folder on ``sys.path`` and
imports ``fashion_recipe.<module>`` from there.
"""
