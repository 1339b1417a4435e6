//! What the scheduler tells Flight SQL clients about itself (`GetSqlInfo`).
//!
//! JDBC asks once with an empty id list and expects every id the server supports;
//! older clients (flightsql-dbapi) need at least the server name, Arrow version,
//! read-only flag and identifier quote. Answers follow DataFusion's SQL dialect:
//! unquoted identifiers fold to lower case, `"` quotes them, nulls sort high, and there
//! are no transactions.

use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::{SqlInfo, SqlNullOrdering, SqlSupportedTransaction, SupportedSqlGrammar};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;

/// `SqlCaseSensitivity::SqlCaseSensitivityLowercase`.
const CASE_LOWERCASE: i32 = 3;
/// `SqlCaseSensitivity::SqlCaseSensitivityUnknown`: quoted identifiers keep their case.
const CASE_SENSITIVE: i32 = 0;

/// Builds the answers once; the function lists come from `catalog`'s registry.
pub(crate) fn build(catalog: &SessionContext) -> Result<SqlInfoData, tonic::Status> {
    let state = catalog.state();
    let mut functions: Vec<String> = state
        .scalar_functions()
        .keys()
        .chain(state.aggregate_functions().keys())
        .chain(state.window_functions().keys())
        .cloned()
        .collect();
    functions.sort();
    functions.dedup();
    let pick = |names: &[&str]| -> Vec<String> {
        names.iter().filter(|n| functions.iter().any(|f| f == *n)).map(|n| n.to_string()).collect()
    };
    let numeric = pick(&[
        "abs", "acos", "asin", "atan", "atan2", "ceil", "cos", "cot", "degrees", "exp", "floor", "ln", "log",
        "log10", "log2", "pi", "power", "radians", "random", "round", "signum", "sin", "sqrt", "tan",
        "trunc",
    ]);
    let string = pick(&[
        "ascii",
        "btrim",
        "char_length",
        "chr",
        "concat",
        "concat_ws",
        "initcap",
        "left",
        "length",
        "lower",
        "lpad",
        "ltrim",
        "octet_length",
        "regexp_replace",
        "repeat",
        "replace",
        "reverse",
        "right",
        "rpad",
        "rtrim",
        "split_part",
        "starts_with",
        "strpos",
        "substr",
        "substring",
        "to_hex",
        "translate",
        "trim",
        "upper",
    ]);
    let datetime = pick(&[
        "current_date",
        "current_time",
        "date_bin",
        "date_part",
        "date_trunc",
        "datepart",
        "datetrunc",
        "from_unixtime",
        "make_date",
        "now",
        "to_char",
        "to_date",
        "to_timestamp",
        "today",
    ]);
    let system = pick(&["arrow_typeof", "coalesce", "nullif", "nvl", "version"]);
    let keywords: Vec<String> = ALL_KEYWORDS.iter().map(|k| k.to_string()).collect();

    let mut info = SqlInfoDataBuilder::new();
    info.append(SqlInfo::FlightSqlServerName, "Dusk");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, arrow::ARROW_VERSION);
    info.append(SqlInfo::FlightSqlServerReadOnly, false);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, cfg!(feature = "substrait"));
    #[cfg(feature = "substrait")]
    {
        info.append(SqlInfo::FlightSqlServerSubstraitMinVersion, "0.20.0");
        let version = datafusion_substrait::substrait::version::version();
        info.append(
            SqlInfo::FlightSqlServerSubstraitMaxVersion,
            format!("{}.{}.{}", version.major_number, version.minor_number, version.patch_number).as_str(),
        );
    }
    info.append(SqlInfo::FlightSqlServerTransaction, SqlSupportedTransaction::None as i32);
    info.append(SqlInfo::FlightSqlServerCancel, true);
    info.append(SqlInfo::FlightSqlServerBulkIngestion, true);
    info.append(SqlInfo::FlightSqlServerIngestTransactionsSupported, false);
    info.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    info.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    info.append(SqlInfo::SqlDdlCatalog, false);
    info.append(SqlInfo::SqlDdlSchema, true);
    info.append(SqlInfo::SqlDdlTable, true);
    info.append(SqlInfo::SqlIdentifierCase, CASE_LOWERCASE);
    info.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    info.append(SqlInfo::SqlQuotedIdentifierCase, CASE_SENSITIVE);
    info.append(SqlInfo::SqlAllTablesAreSelectable, true);
    info.append(SqlInfo::SqlNullOrdering, SqlNullOrdering::SqlNullsSortedHigh as i32);
    info.append(SqlInfo::SqlKeywords, keywords);
    info.append(SqlInfo::SqlNumericFunctions, numeric);
    info.append(SqlInfo::SqlStringFunctions, string);
    info.append(SqlInfo::SqlSystemFunctions, system);
    info.append(SqlInfo::SqlDatetimeFunctions, datetime);
    info.append(SqlInfo::SqlSearchStringEscape, "\\");
    info.append(SqlInfo::SqlExtraNameCharacters, "");
    info.append(SqlInfo::SqlSupportsColumnAliasing, true);
    info.append(SqlInfo::SqlNullPlusNullIsNull, true);
    info.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    info.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    info.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    info.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    info.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    info.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    info.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    // A bitmask of `SupportedSqlGrammar` levels: minimum and core.
    let grammar = (1 << SupportedSqlGrammar::SqlMinimumGrammar as i32)
        | (1 << SupportedSqlGrammar::SqlCoreGrammar as i32);
    info.append(SqlInfo::SqlSupportedGrammar, grammar);
    info.append(SqlInfo::SqlSchemaTerm, "schema");
    info.append(SqlInfo::SqlProcedureTerm, "procedure");
    info.append(SqlInfo::SqlCatalogTerm, "catalog");
    info.append(SqlInfo::SqlCatalogAtStart, true);
    info.append(SqlInfo::SqlSelectForUpdateSupported, false);
    info.append(SqlInfo::SqlStoredProceduresSupported, false);
    info.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    info.append(SqlInfo::SqlMaxColumnsInGroupBy, 0i64);
    info.append(SqlInfo::SqlMaxColumnsInOrderBy, 0i64);
    info.append(SqlInfo::SqlMaxColumnsInSelect, 0i64);
    info.append(SqlInfo::SqlMaxColumnsInTable, 0i64);
    info.append(SqlInfo::SqlTransactionsSupported, false);
    info.append(SqlInfo::SqlDefaultTransactionIsolation, 0i32);
    info.append(SqlInfo::SqlDataDefinitionCausesTransactionCommit, false);
    info.append(SqlInfo::SqlDataDefinitionsInTransactionsIgnored, true);
    info.append(SqlInfo::SqlBatchUpdatesSupported, false);
    info.append(SqlInfo::SqlSavepointsSupported, false);
    info.append(SqlInfo::SqlNamedParametersSupported, false);
    info.append(SqlInfo::SqlLocatorsUpdateCopy, false);
    info.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    info.build().map_err(tonic::Status::from)
}
