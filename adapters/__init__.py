"""Police database adapters: the reference police schema, the synthetic city, the SQL adapter."""
