"""Authentication backend that loads a user's roles in the same query as the user.

It replaces ModelBackend's user load by hand; kept for its measured figure. 2026-12-06, bench/profile_list.py
(1M profiles, gunicorn 3 workers, 8 connections, 15 s), 12 runs alternating with Django's own
django.contrib.auth.backends.ModelBackend (roles then read by core.roles with a second query), on a shared,
busy 2-core machine:
  this backend:  median 152 req/s (115-250), p99 median 214 ms
  ModelBackend:  median 116 req/s (94-146),  p99 median 257 ms; slower in 11 of the 12 pairs (median -23 %)
In one process, best of 15: user and roles in 0.9 ms here, 1.9 ms with ModelBackend and the roles query.
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models.expressions import Col

from batchhub.accounts.models import User
from batchhub.core.roles import ALL_ROLES, roles_remember


@cache
def _user_with_roles_sql() -> str:
    """SELECT of one user plus an is_role_<name> flag per role.

    Written once as SQL: this runs on every authenticated request, and building the same three EXISTS
    subqueries through the ORM cost more than the query itself.
    """
    user_table = User._meta.db_table
    membership = User.groups.through._meta.db_table
    group_table = Group._meta.db_table
    columns = ", ".join(f"u.{field.column}" for field in User._meta.concrete_fields)
    flags = ", ".join(
        f"EXISTS (SELECT 1 FROM {membership} m JOIN {group_table} g ON g.id = m.group_id "
        f"WHERE m.user_id = u.id AND g.name = '{name}') AS is_role_{name}"
        for name in ALL_ROLES
    )
    return f"SELECT {columns}, {flags} FROM {user_table} u WHERE u.id = %s"


class RoleAwareModelBackend(ModelBackend):
    """Django's model backend; the per-request user load also answers "which roles?" (one query, not two)."""

    def get_user(self, user_id):
        try:
            user_pk = User._meta.pk.to_python(user_id)
        except ValidationError:  # a malformed id in a session is an anonymous visitor, not an error
            return None
        with connection.cursor() as cursor:
            cursor.execute(_user_with_roles_sql(), [user_pk])
            row = cursor.fetchone()
            columns = [col[0] for col in cursor.description]
        if row is None:
            return None
        values = dict(zip(columns, row, strict=True))
        fields = [f.attname for f in User._meta.concrete_fields]
        user = User.from_db(
            connection.alias, fields, [_from_db(f, values[f.column]) for f in User._meta.concrete_fields]
        )
        if not self.user_can_authenticate(user):
            return None
        roles_remember(user, [name for name in ALL_ROLES if values[f"is_role_{name}"]])
        return user


def _from_db(field, value):
    """The database value as the ORM would load it: the backend's converters (SQLite's booleans and aware
    datetimes) and the field's own."""
    expression = Col(User._meta.db_table, field)
    for converter in connection.ops.get_db_converters(expression) + field.get_db_converters(connection):
        value = converter(value, expression, connection)
    return value
