-- portcullis: entity permissions page in byte order (issue #16).
--
-- `accessible` pages one type of one tenant in id order, byte by byte (as the memory store and
-- SQLite order: `ORDER BY resource_id COLLATE "C"`), judging each resource as it goes and
-- stopping after the page. An index in the database's default collation cannot give that
-- order unless the locale happens to be "C", so the query would read and sort every resource
-- of the type first. This one can; it replaces 0007's index on the same columns, which served
-- nothing this one does not (equality on tenant, service and kind).
CREATE INDEX portcullis_resources_paging
    ON portcullis_resources (tenant, service, kind, resource_id COLLATE "C");
DROP INDEX portcullis_resources_tenant;
