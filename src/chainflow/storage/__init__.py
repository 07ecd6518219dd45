"""database-service: engines, pools, migrations, store interfaces and their backends."""
