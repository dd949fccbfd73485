SELECT membership FROM fhir.role_binding WHERE role = $1::regrole ORDER BY membership LIMIT 2
