"""Real Flight SQL clients against a real Dusk cluster.

Run by `tests/python.rs`, which starts `dusk local`, registers TPC-H SF 0.01 and sets
DUSK_URL. By hand: `DUSK_URL=grpc://127.0.0.1:8786 .venv/bin/python -m pytest tests/python`.
"""

import os
import pathlib
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
import pyarrow.flight as flight
import pytest
from flight_commands import statement_query_command

URL = os.environ.get("DUSK_URL", "grpc://127.0.0.1:8786")
HOST, PORT = URL.removeprefix("grpc://").rsplit(":", 1)


@pytest.fixture
def conn():
    with flight_sql.connect(URL) as conn:
        yield conn


def scalar(cursor, sql, parameters=None):
    cursor.execute(sql, parameters)
    return cursor.fetchone()[0]


def test_query_returns_rows_and_schema(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT n_nationkey, n_name FROM nation ORDER BY n_nationkey")
        table = cur.fetch_arrow_table()
    assert table.num_rows == 25
    assert table.column_names == ["n_nationkey", "n_name"]
    assert table.column("n_nationkey").to_pylist() == list(range(25))


def test_prepared_statement_with_parameters(conn):
    with conn.cursor() as cur:
        assert scalar(cur, "SELECT n_name FROM nation WHERE n_nationkey = ?", (3,)) == "CANADA"
        assert scalar(cur, "SELECT count(*) FROM nation WHERE n_regionkey = $1", (1,)) == 5
        assert scalar(cur, "SELECT $1 + 1", (41,)) == 42


def test_executemany_inserts_every_row(conn):
    with conn.cursor() as cur:
        cur.execute("CREATE OR REPLACE TABLE py_many (id BIGINT, name VARCHAR)")
        cur.executemany("INSERT INTO py_many VALUES (?, ?)", [(i, f"n{i}") for i in range(20)])
        cur.execute("SELECT id, name FROM py_many ORDER BY id")
        table = cur.fetch_arrow_table()
    assert table.column("id").to_pylist() == list(range(20))
    assert table.column("name").to_pylist() == [f"n{i}" for i in range(20)]


def test_get_objects_lists_tables_with_their_columns(conn):
    objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
    tables = {}
    for catalog in objects:
        for schema in catalog["catalog_db_schemas"] or []:
            for table in schema["db_schema_tables"] or []:
                tables[table["table_name"]] = [c["column_name"] for c in table["table_columns"] or []]
    assert "lineitem" in tables
    assert "l_comment" in tables["lineitem"]
    assert tables["nation"] == ["n_nationkey", "n_name", "n_regionkey", "n_comment"]


def test_ingest_then_read_back_equal(conn):
    n = 100_000
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "score": pa.array([i * 0.5 for i in range(n)], pa.float64()),
            "label": pa.array([f"row-{i % 977}" for i in range(n)], pa.string()),
        }
    )
    with conn.cursor() as cur:
        assert cur.adbc_ingest("py_ingest", table, mode="replace") == n
        cur.execute("SELECT id, score, label FROM py_ingest ORDER BY id")
        back = cur.fetch_arrow_table()
        assert back.num_rows == n
        assert back.column("id").equals(table.column("id"))
        assert back.column("score").equals(table.column("score"))
        assert back.column("label").cast(pa.string()).equals(table.column("label"))
        # Append adds rows; create refuses an existing table.
        assert cur.adbc_ingest("py_ingest", table.slice(0, 10), mode="append") == 10
        assert scalar(cur, "SELECT count(*) FROM py_ingest") == n + 10
        with pytest.raises(flight_sql.Error) as err:
            cur.adbc_ingest("py_ingest", table.slice(0, 1), mode="create")
        assert "already exists" in str(err.value)


def test_get_info_names_the_server(conn):
    info = conn.adbc_get_info()
    assert info["vendor_name"] == "Dusk"
    assert info["vendor_arrow_version"]


def test_a_million_row_result_is_read_whole(conn):
    with conn.cursor() as cur:
        lineitems = scalar(cur, "SELECT count(*) FROM lineitem")
        cur.execute(
            "SELECT l_orderkey, l_linenumber, n_nationkey FROM lineitem "
            "CROSS JOIN (SELECT n_nationkey FROM nation WHERE n_nationkey < 17) n"
        )
        table = cur.fetch_arrow_table()
    assert table.num_rows == lineitems * 17
    assert table.num_rows > 1_000_000
    assert pa.compute.sum(table.column("n_nationkey")).as_py() == lineitems * sum(range(17))


def test_bad_sql_carries_the_message(conn):
    with conn.cursor() as cur:
        with pytest.raises(flight_sql.ProgrammingError) as err:
            cur.execute("SELEC 1")
        assert "SELEC" in str(err.value)
        with pytest.raises(flight_sql.Error) as err:
            cur.execute("SELECT no_such_column FROM nation")
        assert "no_such_column" in str(err.value)
        # The connection keeps working.
        assert scalar(cur, "SELECT 7") == 7


def test_cancel_stops_a_long_query(conn):
    cur = conn.cursor()
    outcome = {}

    def run():
        started = time.monotonic()
        try:
            cur.execute(
                "SELECT count(*) FROM lineitem a JOIN lineitem b ON a.l_quantity < b.l_quantity "
                "JOIN lineitem c ON b.l_quantity < c.l_quantity"
            )
            outcome["result"] = cur.fetchall()
        except Exception as e:  # the cancelled query's error
            outcome["error"] = e
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(1.5)
    cur.adbc_cancel()
    thread.join(30)
    assert not thread.is_alive(), "the cancelled query did not return"
    assert "error" in outcome, outcome
    assert "cancel" in str(outcome["error"]).lower()
    with conn.cursor() as again:
        assert scalar(again, "SELECT count(*) FROM nation") == 25


def test_substrait_plan_from_datafusion_runs(conn):
    from datafusion import SessionContext
    from datafusion.substrait import Serde

    table = pa.table({"k": pa.array(range(100), pa.int64()), "v": pa.array([i * 2.0 for i in range(100)])})
    with conn.cursor() as cur:
        cur.adbc_ingest("py_substrait", table, mode="replace")
    # DataFusion's own producer plans against a table of the same name and schema.
    ctx = SessionContext()
    ctx.register_record_batches("py_substrait", [table.to_batches()])
    plan = Serde.serialize_bytes("SELECT k, v FROM py_substrait WHERE k >= 90 ORDER BY k", ctx)
    with conn.cursor() as cur:
        cur.execute(plan)  # bytes: ADBC sends them as a Substrait plan
        got = cur.fetch_arrow_table()
    assert got.column("k").to_pylist() == list(range(90, 100))
    assert got.column("v").to_pylist() == [k * 2.0 for k in range(90, 100)]


def test_a_corrupt_substrait_plan_is_refused_with_a_message(conn):
    with conn.cursor() as cur, pytest.raises(Exception, match="(?i)substrait"):
        cur.execute(b"\x0a\xff\xff not a plan")


def test_pyarrow_flight_reads_every_endpoint():
    client = flight.FlightClient(f"grpc://{HOST}:{PORT}")
    options = flight.FlightCallOptions(headers=[(b"x-dusk-results", b"workers")])
    sql = "SELECT l_orderkey, l_comment FROM lineitem WHERE l_quantity > 20"
    info = client.get_flight_info(flight.FlightDescriptor.for_command(statement_query_command(sql)), options)
    assert len(info.endpoints) >= 1
    rows = 0
    for endpoint in info.endpoints:
        if endpoint.locations:
            reader = flight.FlightClient(endpoint.locations[0]).do_get(endpoint.ticket)
        else:
            reader = client.do_get(endpoint.ticket)
        table = reader.read_all()
        assert table.schema == info.schema
        rows += table.num_rows
    with flight_sql.connect(URL) as conn, conn.cursor() as cur:
        assert rows == scalar(cur, "SELECT count(*) FROM lineitem WHERE l_quantity > 20")


def test_the_readme_pyarrow_flight_snippet_runs_as_written():
    readme = (pathlib.Path(__file__).parents[2] / "README.md").read_text()
    marker = "<!-- pyarrow.flight snippet"
    assert marker in readme, "the README lost its pyarrow.flight snippet"
    block = readme.split(marker, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace = {}
    exec(block.replace("grpc://127.0.0.1:8786", URL), namespace)
    table = namespace["table"]
    assert table.num_rows == 25
    assert table.column("n_name").to_pylist()[0] == "ALGERIA"


def test_pyarrow_flight_handshake_is_accepted():
    client = flight.FlightClient(f"grpc://{HOST}:{PORT}")
    # With --auth none the handshake succeeds and asks for nothing.
    client.authenticate_basic_token(b"anyone", b"anything")


def test_flightsql_dbapi_select():
    from flightsql import FlightSQLClient, connect

    client = FlightSQLClient(host=HOST, port=int(PORT), insecure=True)
    conn = connect(client)
    cur = conn.cursor()
    cur.execute("SELECT r_name FROM region ORDER BY r_regionkey")
    assert [row[0] for row in cur.fetchall()] == ["AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST"]
