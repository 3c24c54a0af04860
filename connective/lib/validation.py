"""Readable JSON Schema errors: each names the failing path, so an administrator knows what to change."""

from jsonschema.exceptions import best_match


def schema_errors(validator, document):
    errors = []
    for error in validator.iter_errors(document):
        error = best_match([error]) if error.context else error
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        errors.append(f"{where}: {error.message}")
    return sorted(errors)
