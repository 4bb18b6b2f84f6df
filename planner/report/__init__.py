"""``report.html``: one self-contained page of a plan for network planners (figures in :mod:`~planner.report.plots`)."""
from planner.report.page import FIGURES, METRO_KM, REPORT_NAME, is_report_file, read_outputs, write_report

__all__ = ["FIGURES", "METRO_KM", "REPORT_NAME", "is_report_file", "read_outputs", "write_report"]
