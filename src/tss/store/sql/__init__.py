"""What the SQL stores (SQLite and PostgreSQL) share: the schema and its migrations, named
rows, named statements and the plans that turn core rules into rows."""
