from __future__ import annotations

from admittance.storage.dialect import positional


def test_named_placeholders_become_numbered_for_postgresql() -> None:
    sql = "SELECT a::text FROM t WHERE x = :x AND y LIKE 'a%' AND z = :z_1 AND w = :x"
    text, names = positional(sql)
    assert text == "SELECT a::text FROM t WHERE x = $1 AND y LIKE 'a%' AND z = $2 AND w = $1"
    assert names == ("x", "z_1")
