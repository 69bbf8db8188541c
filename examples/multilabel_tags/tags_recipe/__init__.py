"""The plain multi-label tag recipe: MULAN ARFF data, an MLP, imbalance methods, tuned thresholds."""
