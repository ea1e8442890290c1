-- portcullis: entity permissions page in byte order (issue #16).
--
-- Nothing to do on SQLite: its default collation (BINARY) already orders ids byte by byte, so
-- 0007's index on (tenant, service, kind, resource_id) gives `accessible` its order. PostgreSQL's
-- 0008 adds the index in collation "C" it needs; the file keeps both backends' migrations in
-- step.
SELECT 1;
