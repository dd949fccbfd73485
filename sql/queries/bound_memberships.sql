SELECT membership FROM fhir.role_binding WHERE role = $1 ORDER BY membership LIMIT 2
