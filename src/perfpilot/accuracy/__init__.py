"""Accuracy scripts per task, writing the official ``accuracy.txt`` formats."""

from perfpilot.accuracy.classification import AccuracyResult, read_accuracy_log, score_top1

__all__ = ["AccuracyResult", "read_accuracy_log", "score_top1"]
