# SPDX-License-Identifier: Apache-2.0
"""Affine transformations of the plane as 3x3 matrices in homogeneous coordinates."""

import math

IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


def compose(first, second):
    """The transform that applies `first`, then `second`."""
    return tuple(
        tuple(sum(second[row][k] * first[k][col] for k in range(3)) for col in range(3))
        for row in range(3)
    )


def rotation(angle):
    """Counter-clockwise rotation about the origin by `angle` radians."""
    cosine, sine = math.cos(angle), math.sin(angle)
    return ((cosine, -sine, 0.0), (sine, cosine, 0.0), (0.0, 0.0, 1.0))


def translation(dx, dy):
    """Shift every point by (dx, dy)."""
    return ((1.0, 0.0, dx), (0.0, 1.0, dy), (0.0, 0.0, 1.0))


def apply(transform, point):
    """Transform a point given as (x, y)."""
    x, y = point
    return (
        transform[0][0] * x + transform[0][1] * y + transform[0][2],
        transform[1][0] * x + transform[1][1] * y + transform[1][2],
    )
