"""One ADBC connection across a scheduler restart.

Run by tests/membership.rs: queries, prints READY and waits for a line on stdin (the
test kills and restarts the scheduler meanwhile), then queries again on the same
connection and prints what it read.
"""

import os
import sys
import time

import adbc_driver_flightsql.dbapi as flight_sql

connection = flight_sql.connect(os.environ["DUSK_URL"])
cursor = connection.cursor()
cursor.execute("SELECT sum(id) AS total FROM kept")
print("BEFORE", cursor.fetchone()[0], flush=True)
print("READY", flush=True)
sys.stdin.readline()
# The first call after the restart may meet the broken connection; the next one works.
for attempt in range(20):
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT sum(id) AS total FROM kept")
        print("AFTER", cursor.fetchone()[0], "attempts", attempt + 1, flush=True)
        break
    except Exception as error:  # noqa: BLE001 - reported, then tried again
        print("RETRY", type(error).__name__, str(error).splitlines()[0], flush=True)
        time.sleep(0.25)
else:
    sys.exit("the connection never worked again")
