"""Real Flight SQL clients against a Dusk cluster with `--auth basic` and TLS.

Run by `tests/python.rs`, which starts `dusk local --auth basic --users FILE --tls-cert
CERT --tls-key KEY` and sets DUSK_URL (grpc+tls://...), DUSK_TLS_CA (the self-signed
certificate), DUSK_USER and DUSK_PASSWORD.
"""

import os

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow.flight as flight
import pytest
from adbc_driver_flightsql import DatabaseOptions
from flight_commands import statement_query_command

URL = os.environ["DUSK_URL"]
with open(os.environ["DUSK_TLS_CA"], "rb") as f:
    CA = f.read()
USER = os.environ["DUSK_USER"]
PASSWORD = os.environ["DUSK_PASSWORD"]


def client():
    return flight.FlightClient(URL, tls_root_certs=CA)


def query(sql):
    return flight.FlightDescriptor.for_command(statement_query_command(sql))


def test_a_call_without_a_token_is_unauthenticated():
    with pytest.raises(flight.FlightUnauthenticatedError, match="authentication required"):
        client().get_flight_info(query("SELECT 1"))


def test_a_wrong_password_is_unauthenticated():
    with pytest.raises(flight.FlightUnauthenticatedError, match="invalid user name or password"):
        client().authenticate_basic_token(USER, "not-the-password")


def test_pyarrow_flight_logs_in_and_reads_every_endpoint_over_tls():
    c = client()
    name, value = c.authenticate_basic_token(USER, PASSWORD)
    assert name.lower() == b"authorization" and value.startswith(b"Bearer ")
    options = flight.FlightCallOptions(headers=[(name, value), (b"x-dusk-results", b"workers")])
    info = c.get_flight_info(query("SELECT n_nationkey FROM nation"), options)
    rows = 0
    for endpoint in info.endpoints:
        assert endpoint.locations, "results are read from the workers"
        location = endpoint.locations[0]
        assert location.uri.startswith(b"grpc+tls://")
        # The signed ticket is the proof a worker needs: no token.
        reader = flight.FlightClient(location, tls_root_certs=CA).do_get(endpoint.ticket)
        rows += reader.read_all().num_rows
    assert rows == 25


def test_adbc_connects_with_user_and_password_over_tls():
    db_kwargs = {
        "username": USER,
        "password": PASSWORD,
        DatabaseOptions.TLS_ROOT_CERTS.value: CA.decode(),
    }
    with flight_sql.connect(URL, db_kwargs=db_kwargs) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM lineitem WHERE l_quantity > ?", (20,))
        assert cur.fetchone()[0] > 0
        cur.execute("SELECT r_name FROM region ORDER BY r_regionkey")
        assert [r[0] for r in cur.fetchall()][0] == "AFRICA"


def test_adbc_with_a_wrong_password_fails_with_a_message():
    db_kwargs = {"username": USER, "password": "nope", DatabaseOptions.TLS_ROOT_CERTS.value: CA.decode()}
    with pytest.raises(Exception, match="(?i)unauthenticated|invalid user name or password"):
        with flight_sql.connect(URL, db_kwargs=db_kwargs) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
