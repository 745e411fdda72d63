"""Database: SQLAlchemy 2 table models, engine and transactions, Alembic migrations."""
