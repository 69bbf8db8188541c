"""The ablation on real data, one command: every method of ``configs/`` in the frozen protocol.

    python examples/fashion_attributes/ablate.py --data-root ../shared/data/FashionDataset --seeds 0 1 2

See ``fashion_recipe/ablation.py`` for what it runs and writes (``RESULTS.md`` beside this file).
"""

from fashion_recipe.ablation import get_args_parser, main

if __name__ == "__main__":
    main(get_args_parser().parse_args())
