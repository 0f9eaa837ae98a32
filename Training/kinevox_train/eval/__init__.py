"""Evaluation: contrastive motion/text evaluator, T2M-style metrics, robustness (action accuracy), result tables."""
