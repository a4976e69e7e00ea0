"""One Spark session for the whole test run: ``local[2]``, small shuffles, no UI.

Starting a JVM costs seconds, so every Spark test shares this session; the engine's
own :func:`fedgov.data.spark_session` finds it active and reuses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fedgov.data import SparkInput, spark_session

#: Settings of the test session (the engine adds its own: UI off, Arrow batch size).
TEST_CONF = (
    ("spark.sql.shuffle.partitions", "2"),
    ("spark.default.parallelism", "2"),
    ("spark.driver.memory", "512m"),
    ("spark.sql.session.timeZone", "UTC"),
)


def local_session(warehouse: Path) -> Any:
    """The shared session on ``local[2]``, its catalog's tables under ``warehouse``."""
    conf = (*TEST_CONF, ("spark.sql.warehouse.dir", str(warehouse)))
    session = spark_session(SparkInput(path=str(warehouse), master="local[2]", conf=conf))
    session.sparkContext.setLogLevel("WARN")
    return session
