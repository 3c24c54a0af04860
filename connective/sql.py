"""Statements the ORM does not write as cheaply as the hot paths need."""

import hashlib

from django.db import connection


def insert_unless_exists(instance, conflict_fields):
    """INSERT the instance unless a row with the same `conflict_fields` (a unique constraint's columns)
    exists: one statement, no savepoint and no error to recover from. True, with the instance's pk set,
    when this call inserted it."""
    return bool(insert_many_unless_exist([instance], conflict_fields))


def insert_many_unless_exist(instances, conflict_fields):
    """INSERT the instances (of one model) in one statement, skipping those whose `conflict_fields` match a
    row that exists; the instances inserted, with their pk set."""
    if not instances:
        return []
    meta, quote = instances[0]._meta, connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    row = f"({', '.join(['%s'] * len(fields))})"
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection)
              for instance in instances for field in fields]
    conflict_columns = [meta.get_field(name).column for name in conflict_fields]
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
           f"VALUES {', '.join([row] * len(instances))} "
           f"ON CONFLICT ({', '.join(quote(column) for column in conflict_columns)}) DO NOTHING "
           f"RETURNING {quote(meta.pk.column)}, {', '.join(quote(column) for column in conflict_columns)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        returned = {tuple(row[1:]): row[0] for row in cursor.fetchall()}
    inserted = []
    for instance in instances:
        key = tuple(meta.get_field(name).get_db_prep_value(getattr(instance, meta.get_field(name).attname), connection)
                    for name in conflict_fields)
        if key in returned:
            instance.pk = returned[key]
            instance._state.adding, instance._state.db = False, connection.alias
            inserted.append(instance)
    return inserted


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
    values = [field.get_db_prep_save(getattr(instance, field.attname), connection)
              for instance in instances for field in fields]
    columns = [quote(field.column) for field in fields]
    sql = (f"UPDATE {quote(meta.db_table)} AS t SET {', '.join(f'{column} = v.{column}' for column in columns[1:])} "
           f"FROM (VALUES {', '.join([row] * len(instances))}) AS v({', '.join(columns)}) "
           f"WHERE t.{columns[0]} = v.{columns[0]}")
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def lock_in_order(names):
    """Take a transaction-long lock on each name, always in the same global order, so that transactions
    locking several names never deadlock one another. PostgreSQL only: SQLite has one writer at a time."""
    if connection.vendor != "postgresql" or not names:
        return
    keys = sorted({int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
                   for name in names})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) WITH ORDINALITY AS t(k, n) ORDER BY n",
                       [keys])
