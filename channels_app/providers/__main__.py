"""python -m channels_app.providers: the index table of providers/README.md, written from the folders."""

from . import write_index

write_index()
