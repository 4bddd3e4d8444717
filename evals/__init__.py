"""Evaluation harness: curated question sets, metrics with confidence intervals, reports and gates."""
