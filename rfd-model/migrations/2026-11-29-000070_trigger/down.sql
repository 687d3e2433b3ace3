DROP TABLE trigger_secret;
