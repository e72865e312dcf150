"""Tests for geometry.vectors."""

import math

import pytest
from geometry.vectors import Vector2, Vector3


def test_addition_and_subtraction_are_inverse():
    a, b = Vector2(1.5, -2.0), Vector2(0.25, 4.0)
    assert (a + b) - b == a


def test_normalized_vector_has_unit_length():
    assert math.isclose(Vector2(3.0, 4.0).normalized().length(), 1.0)


def test_zero_vector_cannot_be_normalized():
    with pytest.raises(ValueError, match="zero vector"):
        Vector2(0.0, 0.0).normalized()


def test_angle_between_perpendicular_vectors_is_right_angle():
    assert math.isclose(Vector2(1, 0).angle_to(Vector2(0, 5)), math.pi / 2)


def test_cross_product_follows_right_hand_rule():
    x, y = Vector3(1, 0, 0), Vector3(0, 1, 0)
    assert x.cross(y) == Vector3(0, 0, 1)
    assert y.cross(x) == Vector3(0, 0, -1)


@pytest.mark.parametrize("components", [(1, 2, 2), (0, 0, 3), (2, 3, 6)])
def test_length_matches_pythagoras(components):
    vector = Vector3(*components)
    assert math.isclose(vector.length(), math.sqrt(sum(c * c for c in components)))
