"""Scheduled checks: recycling ratios, emission concentrations and amounts, carbon, data health."""
