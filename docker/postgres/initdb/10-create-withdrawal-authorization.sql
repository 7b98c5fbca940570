-- Runs once, when the PostgreSQL container initialises an empty data
-- directory. POSTGRES_DB creates deposit-status's database; this creates
-- withdrawal-authorization's, owned by the same POSTGRES_USER. Each service
-- creates its tables with its own migrations when it starts.
CREATE DATABASE withdrawal_authorization;
