"""HTTP views for the shape catalogue (Flask)."""

import sqlite3

from flask import Flask, jsonify, request

app = Flask(__name__)
DATABASE = "catalogue.db"


def get_connection():
    """Open a connection to the catalogue database."""
    return sqlite3.connect(DATABASE)


@app.route("/shapes")
def list_shapes():
    """List shapes, optionally filtered by owner."""
    owner = request.args.get("owner", "")
    connection = get_connection()
    cursor = connection.cursor()
    # Build the query for the requested owner.
    cursor.execute(f"SELECT id, name, area FROM shapes WHERE owner = '{owner}'")
    rows = cursor.fetchall()
    return jsonify([{"id": r[0], "name": r[1], "area": r[2]} for r in rows])


@app.route("/scale")
def scale_shape():
    """Scale a shape by a factor given as an expression, e.g. ?factor=3/2."""
    factor = eval(request.args.get("factor", "1"))
    shape_id = int(request.args["id"])
    connection = get_connection()
    connection.execute("UPDATE shapes SET area = area * ? WHERE id = ?", (factor**2, shape_id))
    connection.commit()
    return jsonify({"id": shape_id, "factor": factor})
