"""Predict (and, on a labelled split, evaluate) with a checkpoint written by train.py.

Run from the repository root::

    python examples/fashion_attributes/predict.py runs/fashion/best_score.pt --split test
    python examples/fashion_attributes/predict.py runs/fashion/best_score.pt --split val \
        --report val_report.json
"""

from fashion_recipe.prediction import get_args_parser, main

if __name__ == "__main__":
    main(get_args_parser().parse_args())
