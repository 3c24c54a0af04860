"""Every hand-written statement of the project, each with the reason it is not the ORM's. The figures are
bench/README.md's (bin/bench ingest, bin/bench worker); on SQLite, where none of them was measured to
matter, each falls back to the ORM or to the plain form of the statement.

- insert_row: the webhook's one INSERT, prepared on the server on a kept cursor (the ORM's save() spent
  more CPU building and adapting the statement than PostgreSQL spent running it).
- insert_many, insert_many_unless_exist, update_many, execute_bound: the worker's batch statements, one
  per batch instead of one per call, bound by the server (248 → ~1,000 events/s for one worker; binding on
  the server alone was 860 → ~1,000). Django's own forms do not fit: bulk_create(ignore_conflicts=True)
  does not tell which rows it inserted (insert_many_unless_exist must know: those are the new dialogs),
  bulk_update writes a CASE per column and row, and the option server_side_binding would bind every
  statement of the process on the server, the webhook's included, where a pooler in transaction mode
  cannot follow (bench/README.md).
- lock_in_order: advisory locks in one global order, so batches never deadlock each other.
- fair_turns: each channel's head of queue through its index (the ORM cannot write a LATERAL join).
- relax_durability: the worker's commits do not wait for the disk; everything it writes is derived again
  from stored events if a crash loses a commit.
"""

import hashlib
from functools import cache

import psycopg
from django.db import connection


def insert_row(model, field_names, values, casts=None):
    """INSERT one row of `model` (values in the order of `field_names`, already adapted) and return its id.
    On PostgreSQL the statement is prepared on the server and run on a cursor kept for the connection's life
    (parsed and planned once; the cursor keeps its adapters); `casts` {field: SQL type} cast text there."""
    statement = single_insert(model, tuple(field_names), tuple(sorted((casts or {}).items())), connection.vendor)
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(statement, values)
            return cursor.fetchone()[0]
    with connection.wrap_database_errors:  # a lost connection is Django's DatabaseError (503), and closed
        cursor = kept_cursor()
        cursor.execute(statement, values, prepare=True)
        return cursor.fetchone()[0]


@cache
def single_insert(model, field_names, casts, vendor):
    fields = [model._meta.get_field(name) for name in field_names]
    casts = dict(casts) if vendor == "postgresql" else {}
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join("%s" + (f"::{casts[field.name]}" if field.name in casts else "") for field in fields)
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}) RETURNING {quote('id')}"


def kept_cursor():
    """A psycopg cursor of this thread's connection, kept for its life: the cursor caches its adapters."""
    connection.ensure_connection()
    cursor = getattr(connection, "kept_cursor", None)
    if cursor is None or cursor.connection is not connection.connection or cursor.closed or cursor.connection.closed:
        cursor = connection.kept_cursor = psycopg.Cursor(connection.connection)
    return cursor


def fair_turns(queue_table, channel_table, now, limit):
    """The ids of up to `limit` rows of the queue available at `now`, taking turns between channels (each
    channel's oldest first, then each one's second…)."""
    if connection.vendor == "postgresql":  # each channel's head of queue through its index
        candidates = (
            f"{channel_table} c CROSS JOIN LATERAL (SELECT id, channel_id, available_at FROM {queue_table} r "
            "WHERE r.channel_id = c.id AND r.available_at <= %s ORDER BY available_at, id LIMIT %s) q"
        )
        params = [now, limit, limit]
    else:
        candidates = f"(SELECT id, channel_id, available_at FROM {queue_table} WHERE available_at <= %s) q"
        params = [now, limit]
    statement = (
        "SELECT id FROM (SELECT q.id, q.available_at, row_number() OVER "
        f"(PARTITION BY q.channel_id ORDER BY q.available_at, q.id) AS turn FROM {candidates}) turns "
        "ORDER BY turn, available_at, id LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return [row[0] for row in cursor.fetchall()]


def relax_durability():
    """On PostgreSQL, this session's commits stop waiting for the disk (once per session)."""
    if connection.vendor != "postgresql":
        return
    connection.ensure_connection()
    if getattr(connection, "relaxed_session", None) is not connection.connection:
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
        connection.relaxed_session = connection.connection


def insert_many(instances):
    """INSERT the instances (of one model) in one statement; their pks are set."""
    if not instances:
        return
    if connection.vendor != "postgresql":
        type(instances[0]).objects.bulk_create(instances)
        return
    sql, values = insert_statement(instances, f"RETURNING {connection.ops.quote_name(instances[0]._meta.pk.column)}")
    rows = execute_bound(sql, values)  # in the VALUES' order
    for instance, (pk,) in zip(instances, rows, strict=True):
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
