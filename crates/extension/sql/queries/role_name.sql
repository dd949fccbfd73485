SELECT rolname::text FROM pg_catalog.pg_roles WHERE oid = $1
