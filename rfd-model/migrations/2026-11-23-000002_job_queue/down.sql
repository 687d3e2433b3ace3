DROP TABLE job;
DROP TYPE job_kind;
DROP TYPE job_state;
DROP TABLE webhook_delivery;
