"""Measuring a model: benchmark cases and timing (speed), the bench report, and eval/compare
(accuracy)."""
