//! The RabbitMQ side of domain events: one connection and one confirming channel, opened on
//! first use and again after any failure. A publish succeeds only when the broker confirms it.

use super::Envelope;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use std::time::Duration;
use tokio::sync::Mutex;

/// The durable topic exchange every event is published to.
pub const EXCHANGE: &str = "ferrobase.events";

/// How long connecting, or waiting for one confirm, may take before the attempt counts as failed.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A publisher with confirms to [`EXCHANGE`].
pub struct Broker {
    url: String,
    open: Mutex<Option<(Connection, Channel)>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker at `url` (`amqp://…` or `amqps://…`); nothing is connected yet.
    pub fn new(url: &str) -> Self {
        Self { url: url.to_string(), open: Mutex::new(None) }
    }

    /// Publishes `event` persistently and waits for the broker's confirm.
    pub async fn publish(&self, event: &Envelope) -> Result<(), String> {
        let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
        let mut open = self.open.lock().await;
        let result = async {
            let channel = match open.as_ref() {
                Some((conn, channel)) if conn.status().connected() && channel.status().connected() => channel.clone(),
                _ => {
                    *open = None;
                    let (conn, channel) = tokio::time::timeout(TIMEOUT, self.connect())
                        .await
                        .map_err(|_| "connecting to the broker timed out".to_string())??;
                    *open = Some((conn, channel.clone()));
                    channel
                }
            };
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_message_id(event.id.to_string().into())
                .with_type(event.kind.clone().into())
                .with_timestamp(u64::try_from(event.occurred_at.get().timestamp()).unwrap_or_default());
            let confirm = tokio::time::timeout(TIMEOUT, async {
                channel
                    .basic_publish(
                        EXCHANGE.into(),
                        event.kind.clone().into(),
                        BasicPublishOptions::default(),
                        &body,
                        properties,
                    )
                    .await?
                    .await
            })
            .await
            .map_err(|_| "the broker did not confirm in time".to_string())?
            .map_err(|e| e.to_string())?;
            if confirm.is_ack() { Ok(()) } else { Err("the broker refused the event (nack)".to_string()) }
        }
        .await;
        if result.is_err() {
            // Start from a fresh connection next time.
            if let Some((conn, _)) = open.take() {
                let _ = tokio::time::timeout(Duration::from_millis(200), conn.close(0, "reconnecting".into())).await;
            }
        }
        result
    }

    async fn connect(&self) -> Result<(Connection, Channel), String> {
        let conn = Connection::connect(&self.url, ConnectionProperties::default()).await.map_err(|e| e.to_string())?;
        let channel = conn.create_channel().await.map_err(|e| e.to_string())?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(|e| e.to_string())?;
        let durable = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
        channel
            .exchange_declare(EXCHANGE.into(), ExchangeKind::Topic, durable, FieldTable::default())
            .await
            .map_err(|e| e.to_string())?;
        Ok((conn, channel))
    }
}
