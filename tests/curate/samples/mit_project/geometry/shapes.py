"""Planar shapes built on `Vector2`: polygons, circles and their measurements."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from geometry.vectors import Vector2


@dataclass(frozen=True)
class Circle:
    """A circle given by its centre and radius."""

    centre: Vector2
    radius: float

    def area(self) -> float:
        return math.pi * self.radius**2

    def contains(self, point: Vector2) -> bool:
        """True when the point lies inside or on the circle."""
        return (point - self.centre).length() <= self.radius


class Polygon:
    """A simple polygon whose vertices are listed in order (either orientation)."""

    def __init__(self, vertices: Sequence[Vector2]) -> None:
        if len(vertices) < 3:
            raise ValueError(f"a polygon needs at least 3 vertices, got {len(vertices)}")
        self.vertices = tuple(vertices)

    def signed_area(self) -> float:
        """Shoelace formula: positive for counter-clockwise vertex order."""
        total = 0.0
        count = len(self.vertices)
        for index in range(count):
            current = self.vertices[index]
            following = self.vertices[(index + 1) % count]
            total += current.x * following.y - following.x * current.y
        return total / 2

    def area(self) -> float:
        return abs(self.signed_area())

    def perimeter(self) -> float:
        count = len(self.vertices)
        return sum(
            (self.vertices[(i + 1) % count] - self.vertices[i]).length() for i in range(count)
        )

    def centroid(self) -> Vector2:
        """The centre of mass of the polygon's area."""
        area = self.signed_area()
        if area == 0:
            raise ValueError("degenerate polygon has no centroid")
        cx = cy = 0.0
        count = len(self.vertices)
        for index in range(count):
            a = self.vertices[index]
            b = self.vertices[(index + 1) % count]
            cross = a.x * b.y - b.x * a.y
            cx += (a.x + b.x) * cross
            cy += (a.y + b.y) * cross
        return Vector2(cx / (6 * area), cy / (6 * area))


def bounding_box(points: Sequence[Vector2]) -> tuple[Vector2, Vector2]:
    """The smallest axis-aligned box containing every point: (lower-left, upper-right)."""
    if not points:
        raise ValueError("no points")
    xs = [p.x for p in points]
    ys = [p.y for p in points]
    return Vector2(min(xs), min(ys)), Vector2(max(xs), max(ys))
