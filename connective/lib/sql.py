"""Statements the ORM does not write as cheaply as the hot paths need."""

import hashlib

import psycopg
from django.db import connection


def insert_many(instances):
    """INSERT the instances (of one model) in one statement; their pks are set."""
    if not instances:
        return
    if connection.vendor != "postgresql":
        type(instances[0]).objects.bulk_create(instances)
        return
    sql, values = insert_statement(instances, f"RETURNING {connection.ops.quote_name(instances[0]._meta.pk.column)}")
    for instance, (pk,) in zip(
        instances, execute_bound(sql, values), strict=True
    ):  # rows come back in the VALUES' order
        saved_as(instance, pk)


def insert_many_unless_exist(instances, conflict_fields):
    """INSERT the instances (of one model) in one statement, skipping those whose `conflict_fields` match a
    row that exists; the instances inserted, with their pk set."""
    if not instances:
        return []
    meta, quote = instances[0]._meta, connection.ops.quote_name
    conflict_columns = [quote(meta.get_field(name).column) for name in conflict_fields]
    sql, values = insert_statement(
        instances,
        f"ON CONFLICT ({', '.join(conflict_columns)}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}, {', '.join(conflict_columns)}",
    )
    returned = {tuple(row[1:]): row[0] for row in execute_bound(sql, values)}
    inserted = []
    for instance in instances:
        key = tuple(
            meta.get_field(name).get_db_prep_value(getattr(instance, meta.get_field(name).attname), connection)
            for name in conflict_fields
        )
        if key in returned:
            saved_as(instance, returned[key])
            inserted.append(instance)
    return inserted


def saved_as(instance, pk):
    """Mark an instance inserted by hand as Django's save() would."""
    instance.pk = pk
    instance._state.adding, instance._state.db = False, connection.alias


def insert_statement(instances, suffix):
    meta, quote = instances[0]._meta, connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    row = f"({', '.join(['%s'] * len(fields))})"
    values = [
        field.get_db_prep_save(field.pre_save(instance, True), connection) for instance in instances for field in fields
    ]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES {', '.join([row] * len(instances))} {suffix}"
    )
    return sql, values


def update_many(instances, field_names):
    """UPDATE the rows of `instances` (of one model) to their `field_names` values in one statement."""
    if not instances:
        return
    model = type(instances[0])
    if connection.vendor != "postgresql":  # SQLite's UPDATE … FROM cannot name a VALUES list's columns
        model.objects.bulk_update(instances, field_names)
        return
    meta, quote = model._meta, connection.ops.quote_name
    fields = [meta.pk] + [meta.get_field(name) for name in field_names]
    row = "(" + ", ".join(f"%s::{field.cast_db_type(connection)}" for field in fields) + ")"
    values = [
        field.get_db_prep_save(getattr(instance, field.attname), connection)
        for instance in instances
        for field in fields
    ]
    columns = [quote(field.column) for field in fields]
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {', '.join(f'{column} = v.{column}' for column in columns[1:])} "
        f"FROM (VALUES {', '.join([row] * len(instances))}) AS v({', '.join(columns)}) "
        f"WHERE t.{columns[0]} = v.{columns[0]}"
    )
    execute_bound(sql, values)


def execute_bound(sql, params):
    """Run a statement of many parameters; its rows. On PostgreSQL the parameters are bound by the server:
    Django's client-side binding quotes each value into the statement's text in Python, the larger part
    of a batch statement's cost."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    connection.ensure_connection()
    with connection.make_cursor(psycopg.Cursor(connection.connection)) as cursor:  # Django's wrappers still see it
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def lock_in_order(names):
    """Take a transaction-long lock on each name, always in the same global order, so that transactions
    locking several names never deadlock one another. PostgreSQL only: SQLite has one writer at a time."""
    if connection.vendor != "postgresql" or not names:
        return
    keys = sorted(
        {int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True) for name in names}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(k, n) ORDER BY n", [keys]
        )
