"""Predict (and, on a labelled split, evaluate) with a checkpoint written by train.py.

Run from the repository root::

    python examples/fashion_attributes/predict.py runs/fashion/best_score.pt --split test
    python examples/fashion_attributes/predict.py runs/fashion/best_score.pt --split val \
        --report val_report.json
"""

from fashion_recipe.prediction_cli import get_args_parser

if __name__ == "__main__":
    # parse first: --help and usage errors answer before torch is imported
    args = get_args_parser().parse_args()
    from fashion_recipe.prediction import main

    main(args)
