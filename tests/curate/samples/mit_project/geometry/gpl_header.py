# Polygon clipping (Sutherland-Hodgman), ported from an older tool.
#
# Copyright (C) 2009 Example Clipping Contributors
#
# This program is free software: you can redistribute it and/or modify
# it under the terms of the GNU General Public License as published by
# the Free Software Foundation, either version 3 of the License, or
# (at your option) any later version.
#
# This program is distributed in the hope that it will be useful,
# but WITHOUT ANY WARRANTY; without even the implied warranty of
# MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
# GNU General Public License for more details.

"""Clip a polygon against a convex clipping window."""


def _inside(point, edge_start, edge_end):
    """True when the point is on the inner side of the directed edge."""
    return (edge_end[0] - edge_start[0]) * (point[1] - edge_start[1]) > (
        edge_end[1] - edge_start[1]
    ) * (point[0] - edge_start[0])


def _intersection(p1, p2, q1, q2):
    """Where segment p1-p2 crosses the line through q1-q2."""
    dx_p, dy_p = p2[0] - p1[0], p2[1] - p1[1]
    dx_q, dy_q = q2[0] - q1[0], q2[1] - q1[1]
    denominator = dx_p * dy_q - dy_p * dx_q
    t = ((q1[0] - p1[0]) * dy_q - (q1[1] - p1[1]) * dx_q) / denominator
    return (p1[0] + t * dx_p, p1[1] + t * dy_p)


def clip(subject, window):
    """Clip the subject polygon by each edge of the convex window in turn."""
    output = list(subject)
    for index in range(len(window)):
        edge_start, edge_end = window[index - 1], window[index]
        candidates, output = output, []
        for position in range(len(candidates)):
            current, previous = candidates[position], candidates[position - 1]
            if _inside(current, edge_start, edge_end):
                if not _inside(previous, edge_start, edge_end):
                    output.append(_intersection(previous, current, edge_start, edge_end))
                output.append(current)
            elif _inside(previous, edge_start, edge_end):
                output.append(_intersection(previous, current, edge_start, edge_end))
    return output
