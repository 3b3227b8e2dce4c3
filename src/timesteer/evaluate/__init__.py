"""Evaluation: open-loop metrics in time order with state carried, comparisons, plots, video, report page."""

from timesteer.evaluate.compare import CompareConfig, compare, markdown_table
from timesteer.evaluate.metrics import steering_metrics
from timesteer.evaluate.report import ReportConfig, report, write_report
from timesteer.evaluate.runner import EvalConfig, Evaluation, evaluate, evaluate_loaded, format_evaluation

__all__ = ["CompareConfig", "EvalConfig", "Evaluation", "ReportConfig", "compare", "evaluate", "evaluate_loaded",
           "format_evaluation", "markdown_table", "report", "steering_metrics", "write_report"]
