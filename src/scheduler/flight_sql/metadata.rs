//! Catalog calls of Flight SQL: catalogs, schemas, tables (with their Arrow schemas),
//! table types, keys and type info, answered from the scheduler's catalog.
//!
//! Every answer has exactly the schema the Flight SQL specification gives, also when it
//! is empty: JDBC's `getColumns`, `getPrimaryKeys` and friends read these columns by
//! name. Dusk has no keys, so the key calls answer with no rows.

use std::sync::{Arc, LazyLock};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow_flight::sql::metadata::{
    GetCatalogsBuilder, GetDbSchemasBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetDbSchemas, CommandGetTables, Nullable, Searchable, XdbcDataType,
};
use datafusion::datasource::TableType;
use datafusion::prelude::SessionContext;
use tonic::Status;

/// The table types Dusk's catalog holds, as Flight SQL names them.
const TABLE_TYPES: [&str; 3] = ["TABLE", "VIEW", "LOCAL TEMPORARY"];

fn type_name(table_type: TableType) -> &'static str {
    match table_type {
        TableType::Base => TABLE_TYPES[0],
        TableType::View => TABLE_TYPES[1],
        TableType::Temporary => TABLE_TYPES[2],
    }
}

/// `GetCatalogs`: every catalog, sorted.
pub(crate) fn catalogs(ctx: &SessionContext, cmd: CommandGetCatalogs) -> Result<RecordBatch, Status> {
    let mut builder = cmd.into_builder();
    for name in ctx.catalog_names() {
        builder.append(name);
    }
    builder.build().map_err(Status::from)
}

/// The schema of a `GetCatalogs` answer.
pub(crate) fn catalogs_schema() -> SchemaRef {
    GetCatalogsBuilder::new().schema()
}

/// `GetDbSchemas`: the schemas of the named catalog, or of all of them when none is
/// named (ADBC's `get_objects` names none), filtered by the pattern.
pub(crate) fn schemas(ctx: &SessionContext, cmd: CommandGetDbSchemas) -> Result<RecordBatch, Status> {
    let mut builder = cmd.into_builder();
    for catalog_name in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&catalog_name) else { continue };
        for schema in catalog.schema_names() {
            builder.append(&catalog_name, schema);
        }
    }
    builder.build().map_err(Status::from)
}

/// The schema of a `GetDbSchemas` answer.
pub(crate) fn schemas_schema() -> SchemaRef {
    GetDbSchemasBuilder::new(None::<String>, None::<String>).schema()
}

/// `GetTables`: tables matching the filters, with each table's Arrow schema when asked.
pub(crate) async fn tables(ctx: &SessionContext, cmd: CommandGetTables) -> Result<RecordBatch, Status> {
    let mut builder = cmd.into_builder();
    for catalog_name in ctx.catalog_names() {
        let Some(catalog) = ctx.catalog(&catalog_name) else { continue };
        for schema_name in catalog.schema_names() {
            let Some(schema) = catalog.schema(&schema_name) else { continue };
            let mut names = schema.table_names();
            names.sort();
            for table in names {
                // A table dropped meanwhile, or one whose provider fails to open, is skipped.
                let Ok(Some(provider)) = schema.table(&table).await else { continue };
                builder
                    .append(
                        &catalog_name,
                        &schema_name,
                        &table,
                        type_name(provider.table_type()),
                        provider.schema().as_ref(),
                    )
                    .map_err(Status::from)?;
            }
        }
    }
    builder.build().map_err(Status::from)
}

/// The schema of a `GetTables` answer.
pub(crate) fn tables_schema(cmd: &CommandGetTables) -> SchemaRef {
    cmd.clone().into_builder().schema()
}

/// `GetTableTypes`.
pub(crate) fn table_types() -> Result<RecordBatch, Status> {
    let types = arrow::array::StringArray::from(TABLE_TYPES.to_vec());
    RecordBatch::try_new(table_types_schema(), vec![Arc::new(types)])
        .map_err(|e| Status::internal(format!("table types: {e}")))
}

/// The schema of a `GetTableTypes` answer.
pub(crate) fn table_types_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> =
        LazyLock::new(|| Arc::new(Schema::new(vec![Field::new("table_type", DataType::Utf8, false)])));
    SCHEMA.clone()
}

/// The schema of a `GetPrimaryKeys` answer.
pub(crate) fn primary_keys_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("catalog_name", DataType::Utf8, true),
            Field::new("db_schema_name", DataType::Utf8, true),
            Field::new("table_name", DataType::Utf8, false),
            Field::new("column_name", DataType::Utf8, false),
            Field::new("key_name", DataType::Utf8, true),
            Field::new("key_sequence", DataType::Int32, false),
        ]))
    });
    SCHEMA.clone()
}

/// The schema of `GetExportedKeys`, `GetImportedKeys` and `GetCrossReference` answers.
pub(crate) fn foreign_keys_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("pk_catalog_name", DataType::Utf8, true),
            Field::new("pk_db_schema_name", DataType::Utf8, true),
            Field::new("pk_table_name", DataType::Utf8, false),
            Field::new("pk_column_name", DataType::Utf8, false),
            Field::new("fk_catalog_name", DataType::Utf8, true),
            Field::new("fk_db_schema_name", DataType::Utf8, true),
            Field::new("fk_table_name", DataType::Utf8, false),
            Field::new("fk_column_name", DataType::Utf8, false),
            Field::new("key_sequence", DataType::Int32, false),
            Field::new("fk_key_name", DataType::Utf8, true),
            Field::new("pk_key_name", DataType::Utf8, true),
            Field::new("update_rule", DataType::UInt8, false),
            Field::new("delete_rule", DataType::UInt8, false),
        ]))
    });
    SCHEMA.clone()
}

/// The SQL types Dusk speaks, for `GetXdbcTypeInfo`.
pub(crate) fn xdbc_types() -> Result<XdbcTypeInfoData, Status> {
    let mut builder = XdbcTypeInfoDataBuilder::new();
    let types: [(&str, XdbcDataType, Option<i32>, Option<&str>); 14] = [
        ("BOOLEAN", XdbcDataType::XdbcBit, Some(1), None),
        ("TINYINT", XdbcDataType::XdbcTinyint, Some(3), None),
        ("SMALLINT", XdbcDataType::XdbcSmallint, Some(5), None),
        ("INTEGER", XdbcDataType::XdbcInteger, Some(10), None),
        ("BIGINT", XdbcDataType::XdbcBigint, Some(19), None),
        ("REAL", XdbcDataType::XdbcReal, Some(7), None),
        ("DOUBLE", XdbcDataType::XdbcDouble, Some(15), None),
        ("DECIMAL", XdbcDataType::XdbcDecimal, Some(38), None),
        ("VARCHAR", XdbcDataType::XdbcVarchar, None, Some("'")),
        ("CHAR", XdbcDataType::XdbcChar, None, Some("'")),
        ("BYTEA", XdbcDataType::XdbcVarbinary, None, None),
        ("DATE", XdbcDataType::XdbcDate, Some(10), Some("'")),
        ("TIME", XdbcDataType::XdbcTime, Some(15), Some("'")),
        ("TIMESTAMP", XdbcDataType::XdbcTimestamp, Some(29), Some("'")),
    ];
    for (name, data_type, column_size, quote) in types {
        let numeric = matches!(
            data_type,
            XdbcDataType::XdbcTinyint
                | XdbcDataType::XdbcSmallint
                | XdbcDataType::XdbcInteger
                | XdbcDataType::XdbcBigint
                | XdbcDataType::XdbcReal
                | XdbcDataType::XdbcDouble
                | XdbcDataType::XdbcDecimal
        );
        builder.append(XdbcTypeInfo {
            type_name: name.to_string(),
            data_type,
            column_size,
            literal_prefix: quote.map(str::to_string),
            literal_suffix: quote.map(str::to_string),
            create_params: (name == "DECIMAL").then(|| vec!["precision".to_string(), "scale".to_string()]),
            nullable: Nullable::NullabilityNullable,
            case_sensitive: quote.is_some(),
            searchable: Searchable::Full,
            unsigned_attribute: numeric.then_some(false),
            fixed_prec_scale: name == "DECIMAL",
            auto_increment: numeric.then_some(false),
            local_type_name: Some(name.to_string()),
            minimum_scale: (name == "DECIMAL").then_some(0),
            maximum_scale: (name == "DECIMAL").then_some(38),
            sql_data_type: data_type,
            datetime_subcode: None,
            num_prec_radix: numeric.then_some(10),
            interval_precision: None,
        });
    }
    builder.build().map_err(Status::from)
}
