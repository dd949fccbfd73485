-- Whether a role is a client: whether it is a gateway, and may set a session-long membership.
SELECT gateway, session_scope FROM fhir.client WHERE role = $1::regrole
