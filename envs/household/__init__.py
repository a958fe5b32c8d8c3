"""Household decision-making: a native engine for ALFWorld's games, procedural households, the official engine."""
