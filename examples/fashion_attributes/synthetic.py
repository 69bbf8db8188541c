"""Write the synthetic stand-in for the fashion-attribute data, in the course layout.

Run from the repository root::

    python examples/fashion_attributes/synthetic.py --out data/fashion-synthetic
"""

from fashion_recipe.synthetic import cli

if __name__ == "__main__":
    cli()
