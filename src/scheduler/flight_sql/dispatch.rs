//! The Flight service the scheduler serves: arrow-flight's Flight SQL dispatch, with one
//! call answered here.
//!
//! arrow-flight 59 runs `CreatePreparedSubstraitPlan` but answers with an empty stream,
//! dropping the new statement's handle, so ADBC's `cursor.execute(plan_bytes)` fails with
//! "EOF". [`SchedulerFlight`] answers that action itself and hands every other call to
//! the generic dispatch over [`FlightSqlService`].

use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{ActionCreatePreparedSubstraitPlanRequest, Any, ProstMessageExt};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest,
    HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::super::service::SchedulerService;
use crate::net::FlightStream;

/// The action type arrow-flight mishandles.
const CREATE_PREPARED_SUBSTRAIT_PLAN: &str = "CreatePreparedSubstraitPlan";

/// The scheduler's service as served on its port.
pub(crate) struct SchedulerFlight(pub(crate) SchedulerService);

#[tonic::async_trait]
impl FlightService for SchedulerFlight {
    type HandshakeStream = FlightStream<HandshakeResponse>;
    type ListFlightsStream = FlightStream<FlightInfo>;
    type DoGetStream = FlightStream<FlightData>;
    type DoPutStream = FlightStream<PutResult>;
    type DoActionStream = FlightStream<arrow_flight::Result>;
    type ListActionsStream = FlightStream<ActionType>;
    type DoExchangeStream = FlightStream<FlightData>;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        FlightService::handshake(&self.0, request).await
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        FlightService::list_flights(&self.0, request).await
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        FlightService::get_flight_info(&self.0, request).await
    }

    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        FlightService::poll_flight_info(&self.0, request).await
    }

    async fn get_schema(&self, request: Request<FlightDescriptor>) -> Result<Response<SchemaResult>, Status> {
        FlightService::get_schema(&self.0, request).await
    }

    async fn do_get(&self, request: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        // Say what a foreign ticket is, rather than how its bytes failed to decode.
        if Any::decode(&*request.get_ref().ticket).is_err() {
            return Err(Status::invalid_argument(
                "the ticket is not a Flight SQL ticket of this scheduler: a ticket of an endpoint \
                 with a location (a worker's result) is read from that location",
            ));
        }
        FlightService::do_get(&self.0, request).await
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        FlightService::do_put(&self.0, request).await
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        FlightService::do_exchange(&self.0, request).await
    }

    async fn do_action(&self, request: Request<Action>) -> Result<Response<Self::DoActionStream>, Status> {
        if request.get_ref().r#type != CREATE_PREPARED_SUBSTRAIT_PLAN {
            return FlightService::do_action(&self.0, request).await;
        }
        let any = Any::decode(&*request.get_ref().body)
            .map_err(|e| Status::invalid_argument(format!("CreatePreparedSubstraitPlan: {e}")))?;
        let command: ActionCreatePreparedSubstraitPlanRequest = any
            .unpack()
            .map_err(|e| Status::invalid_argument(format!("CreatePreparedSubstraitPlan: {e}")))?
            .ok_or_else(|| {
                Status::invalid_argument("the action is not a CreatePreparedSubstraitPlan request")
            })?;
        let prepared = self.0.do_action_create_prepared_substrait_plan(command, request).await?;
        let body = prepared.as_any().encode_to_vec().into();
        let answer = futures::stream::once(async move { Ok(arrow_flight::Result { body }) });
        Ok(Response::new(Box::pin(answer)))
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        FlightService::list_actions(&self.0, request).await
    }
}
