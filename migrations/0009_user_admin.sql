-- 0009: admin users (issue 17). An admin may open the live auth trace
-- (/trace) and inject faults. The user "admin" that the server creates on
-- first start is one; others are made with "tenantless user add --admin".
ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
UPDATE users SET admin = 1 WHERE username = 'admin';
