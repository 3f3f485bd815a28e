"""Business rules. Services take a SQLAlchemy Session and import no Flask and no AGI."""
