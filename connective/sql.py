"""Statements the ORM does not write as cheaply as the hot paths need."""

from django.db import connection


def insert_unless_exists(instance, conflict_fields):
    """INSERT the instance unless a row with the same `conflict_fields` (a unique constraint's columns)
    exists: one statement, no savepoint and no error to recover from. True, with the instance's pk set,
    when this call inserted it."""
    meta, quote = instance._meta, connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    sql = (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))}) "
           f"ON CONFLICT ({', '.join(quote(column) for column in conflict_fields)}) DO NOTHING "
           f"RETURNING {quote(meta.pk.column)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding, instance._state.db = False, connection.alias
    return True
