"""Fine-tune a timm backbone on grouped clothing attributes: the fashion-attribute recipe.

With no argument it generates a small synthetic stand-in dataset (once) and trains a CPU-sized
run; ``--config configs/report.yaml`` is the report's full recipe. See README.md beside this file.

    python examples/fashion_attributes/train.py
    python examples/fashion_attributes/train.py --config examples/fashion_attributes/configs/report.yaml \
        --data-root /path/to/FashionDataset --pretrained van-tiny_8xb128_in1k_20220501-385941af.pth
    torchrun --nproc_per_node=2 examples/fashion_attributes/train.py --epochs 2
"""

from fashion_recipe.config import get_args_parser, parse_cli

if __name__ == "__main__":
    # parse and check every value first: --help and usage errors answer before torch is imported
    args = parse_cli(get_args_parser())
    from fashion_recipe.training import main

    main(args)
