from __future__ import annotations

from admittance.storage.dialect import POSTGRESQL, SQLITE


def test_named_placeholders_become_pyformat_for_postgresql() -> None:
    sql = "SELECT a::text FROM t WHERE x = :x AND y LIKE 'a%' AND z = :z_1"
    assert POSTGRESQL.sql(sql) == "SELECT a::text FROM t WHERE x = %(x)s AND y LIKE 'a%%' AND z = %(z_1)s"
    assert SQLITE.sql(sql) == sql
