"""Customer lookup for the people who take calls: manual search (number, name in
simplified or traditional characters, ticket id/number), the audited record page,
and the "new customer" form of a pop for an unknown caller."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, request
from flask_login import current_user

from callcenter.services.people import records, registration
from callcenter.services.people import search as customer_search
from callcenter.web.context import panel, unit_of_work
from callcenter.web.roles import CALL_HANDLERS, roles_required

bp = Blueprint("customers", __name__)


@bp.route("/api/search")
@roles_required(*CALL_HANDLERS)
def search():
    with unit_of_work() as s:
        return jsonify(customer_search.search(s, panel().settings, request.args.get("q", ""), role=current_user.role))


@bp.route("/customers/<int:customer_id>")
@roles_required(*CALL_HANDLERS)
def record(customer_id: int):
    with unit_of_work() as s:
        data = records.customer_record(s, panel().settings, customer_id, role=current_user.role,
                                         user_id=current_user.id)
    if data is None:
        abort(404)
    return render_template("customers/record.html", record=data)


@bp.route("/api/customers", methods=["POST"])
@roles_required(*CALL_HANDLERS)
def create():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        data = request.form.to_dict()
    fields = {k: str(data.get(k, "") or "") for k in
              ("name", "number", "tier", "area", "building", "unit", "room", "address", "linkedid")}
    try:
        with unit_of_work() as s:
            customer = registration.register_caller(s, panel().settings, user_id=current_user.id, **fields)
            result = {"id": customer.id, "name": customer.name, "unit_address": customer.unit_address}
    except registration.RegistrationError as exc:
        return jsonify(error=str(exc)), 400
    return jsonify(result), 201
