#!/usr/bin/env bash
# sqlite3: create, insert 20000 rows in a transaction, index, aggregate queries.
set -eu
{
	echo "CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL);"
	echo "BEGIN;"
	awk 'BEGIN { for (i = 1; i <= 20000; i++) printf "INSERT INTO t(grp, name, val) VALUES(%d, '\''name-%d-%s'\'', %d.%02d);\n", i % 97, i, substr("abcdefghij", 1 + i % 10), (i * 7919) % 10007, i % 100 }'
	echo "COMMIT;"
	echo "CREATE INDEX t_grp ON t(grp, val);"
	echo "SELECT count(*), sum(val), min(name), max(name) FROM t;"
	echo "SELECT grp, count(*), printf('%.2f', avg(val)), max(val) FROM t GROUP BY grp ORDER BY sum(val) DESC LIMIT 5;"
	echo "SELECT count(*) FROM t WHERE grp = 42 AND val > 5000;"
	echo "SELECT group_concat(id) FROM (SELECT id FROM t WHERE name LIKE 'name-1234%' ORDER BY id);"
	echo "UPDATE t SET val = val * 2 WHERE grp < 10;"
	echo "DELETE FROM t WHERE id % 3 = 0;"
	echo "SELECT count(*), printf('%.2f', total(val)) FROM t;"
	echo "PRAGMA integrity_check;"
	echo "VACUUM;"
} >load.sql
sqlite3 db.sqlite <load.sql
sqlite3 db.sqlite "SELECT count(*) FROM t; PRAGMA page_count;"
