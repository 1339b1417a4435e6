//! The 22 TPC-H queries.

/// The 22 queries, as `(name, sql)`: `("q1", "select ...")`.
pub const QUERIES: [(&str, &str); 22] = [
    ("q1", include_str!("queries/q1.sql")),
    ("q2", include_str!("queries/q2.sql")),
    ("q3", include_str!("queries/q3.sql")),
    ("q4", include_str!("queries/q4.sql")),
    ("q5", include_str!("queries/q5.sql")),
    ("q6", include_str!("queries/q6.sql")),
    ("q7", include_str!("queries/q7.sql")),
    ("q8", include_str!("queries/q8.sql")),
    ("q9", include_str!("queries/q9.sql")),
    ("q10", include_str!("queries/q10.sql")),
    ("q11", include_str!("queries/q11.sql")),
    ("q12", include_str!("queries/q12.sql")),
    ("q13", include_str!("queries/q13.sql")),
    ("q14", include_str!("queries/q14.sql")),
    ("q15", include_str!("queries/q15.sql")),
    ("q16", include_str!("queries/q16.sql")),
    ("q17", include_str!("queries/q17.sql")),
    ("q18", include_str!("queries/q18.sql")),
    ("q19", include_str!("queries/q19.sql")),
    ("q20", include_str!("queries/q20.sql")),
    ("q21", include_str!("queries/q21.sql")),
    ("q22", include_str!("queries/q22.sql")),
];
