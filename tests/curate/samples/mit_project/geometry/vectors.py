"""Two- and three-dimensional vectors with the usual arithmetic.

Vectors are immutable value objects: every operation returns a new vector, so they can be
used as dictionary keys and shared between threads without copying.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Vector2:
    """A vector in the plane."""

    x: float
    y: float

    def __add__(self, other: Vector2) -> Vector2:
        return Vector2(self.x + other.x, self.y + other.y)

    def __sub__(self, other: Vector2) -> Vector2:
        return Vector2(self.x - other.x, self.y - other.y)

    def scaled(self, factor: float) -> Vector2:
        """This vector multiplied by a scalar."""
        return Vector2(self.x * factor, self.y * factor)

    def dot(self, other: Vector2) -> float:
        """The dot product; zero when the vectors are perpendicular."""
        return self.x * other.x + self.y * other.y

    def length(self) -> float:
        # hypot avoids the overflow that squaring large components would cause.
        return math.hypot(self.x, self.y)

    def normalized(self) -> Vector2:
        """A unit vector in the same direction.

        Raises:
            ValueError: for the zero vector, which has no direction.
        """
        norm = self.length()
        if norm == 0:
            raise ValueError("cannot normalize the zero vector")
        return self.scaled(1 / norm)

    def angle_to(self, other: Vector2) -> float:
        """The angle between two vectors in radians, in [0, pi]."""
        cosine = self.dot(other) / (self.length() * other.length())
        # Rounding can push the cosine just outside [-1, 1]; clamp before acos.
        return math.acos(max(-1.0, min(1.0, cosine)))


@dataclass(frozen=True)
class Vector3:
    """A vector in space."""

    x: float
    y: float
    z: float

    def __add__(self, other: Vector3) -> Vector3:
        return Vector3(self.x + other.x, self.y + other.y, self.z + other.z)

    def dot(self, other: Vector3) -> float:
        return self.x * other.x + self.y * other.y + self.z * other.z

    def cross(self, other: Vector3) -> Vector3:
        """The cross product: perpendicular to both inputs (right-hand rule)."""
        return Vector3(
            self.y * other.z - self.z * other.y,
            self.z * other.x - self.x * other.z,
            self.x * other.y - self.y * other.x,
        )

    def length(self) -> float:
        return math.sqrt(self.dot(self))
