"""Scratch helpers for converting measurement units in the lab notebook."""

INCH_IN_MM = 25.4
POUND_IN_KG = 0.45359237


def inches_to_mm(inches):
    """Convert inches to millimetres."""
    return inches * INCH_IN_MM


def pounds_to_kg(pounds):
    """Convert pounds to kilograms."""
    return pounds * POUND_IN_KG


def fahrenheit_to_celsius(degrees):
    """Convert a Fahrenheit temperature to Celsius."""
    return (degrees - 32) * 5 / 9
