//! What the Flight SQL front end keeps between calls: prepared statements, results
//! held for reading, the server's SQL info, and who may log in.

use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use tonic::{Request, Status};

use super::results::{Delivery, HeldResults};
use super::{RESULTS_HEADER, login, metadata, prepared, sql_info};
use crate::scheduler::query::QueryEngine;
use crate::security::Security;

/// What the Flight SQL front end keeps between calls.
pub(crate) struct FlightSqlState {
    pub(super) prepared: prepared::PreparedStatements,
    pub(super) results: HeldResults,
    pub(super) sql_info: SqlInfoData,
    pub(super) xdbc: XdbcTypeInfoData,
    /// Every result through the scheduler (`--proxy-results`).
    pub(super) proxy_results: bool,
    pub(super) login: login::Login,
}

impl FlightSqlState {
    pub(crate) fn new(
        engine: &QueryEngine,
        signer: dusk_flight::ticket::TicketSigner,
        proxy_results: bool,
        result_ttl: std::time::Duration,
        security: &Security,
    ) -> Result<Self, Status> {
        Ok(FlightSqlState {
            prepared: Default::default(),
            results: HeldResults::new(signer, result_ttl, security.credentials("scheduler")),
            sql_info: sql_info::build(engine.catalog())?,
            xdbc: metadata::xdbc_types()?,
            proxy_results,
            login: login::Login::new(security),
        })
    }

    /// The signer of result tickets, whose key workers get when they join.
    pub(crate) fn signer(&self) -> &dusk_flight::ticket::TicketSigner {
        self.results.signer()
    }
}

/// How the client asked for this statement's results to be delivered.
pub(super) fn delivery<T>(state: &FlightSqlState, request: &Request<T>) -> Delivery {
    let asked = request.metadata().get(RESULTS_HEADER).and_then(|v| v.to_str().ok());
    match asked.map(str::to_ascii_lowercase).as_deref() {
        _ if state.proxy_results => Delivery::Proxy,
        Some("proxy") => Delivery::Proxy,
        Some("workers") => Delivery::Workers,
        _ => Delivery::Auto,
    }
}
