"""Flight SQL commands encoded by hand, for tests that talk plain `pyarrow.flight`."""


def statement_query_command(sql):
    """A Flight SQL CommandStatementQuery packed in protobuf Any, encoded by hand."""

    def field(number, payload):
        tag = bytes([(number << 3) | 2])
        n, length = len(payload), b""
        while True:
            byte = n & 0x7F
            n >>= 7
            length += bytes([byte | (0x80 if n else 0)])
            if not n:
                break
        return tag + length + payload

    command = field(1, sql.encode())
    type_url = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
    return field(1, type_url) + field(2, command)
