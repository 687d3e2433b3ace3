DROP TABLE event_delivery;
DROP TABLE event;
DROP TABLE event_subscriber;
DELETE FROM job WHERE kind::text = 'event_delivery';
-- PostgreSQL cannot drop a value from an enum: 'event_delivery' stays in job_kind,
-- unused, which every older binary tolerates (it never sees such a row).
