"""Alembic environment: the engine comes from host_tools.ops.db (never from an ini file)."""
from alembic import context

from host_tools.ops.schema import metadata

eng = context.config.attributes["engine"]
with eng.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
